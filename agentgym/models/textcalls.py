"""Recover tool calls that a model wrote as text instead of native `tool_calls`.

Recognised shapes, in order of precedence:

1. `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (a missing closing tag at the end
   is tolerated; one tag may hold several JSON values). Anything inside the tag that is not a
   valid call is a format error.
2. A fenced block (```json, ``` or ```tool_call) holding a call or a list of calls.
3. A bare JSON object (the whole content or embedded in prose), or a list of them.

A call is `{"name": str, "arguments": {...}}`; `arguments` may also be called `parameters` or
`args`, may be a JSON string holding an object, and the call may be wrapped as
`{"function": {...}}` (the OpenAI shape). JSON that does not look like a call, e.g. a final
answer `{"count": 3}`, is left alone. Pure functions, no I/O, never raises on any input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

_ARG_KEYS = ("arguments", "parameters", "args")
_SNIPPET = 80
_TAG_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_STRAY_TAG_RE = re.compile(r"</?tool_call>")
_FENCE_RE = re.compile(r"```[ \t]*([\w.+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CALL_FENCES = frozenset({"", "json", "jsonc", "json5", "tool_call", "tool_calls", "tool", "function"})
_STRICT_FENCES = frozenset({"tool_call", "tool_calls", "tool", "function"})
_ATTEMPT_RE = re.compile(r"""\{\s*["'](?:name|function)["']\s*:""")
_START_RE = re.compile(r"\{|\[\s*\{")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class RecoveredCall:
    name: str
    arguments: str  # a JSON object, serialised
    raw: str  # the matched text: the whole block, or the call's own JSON when a block holds several


@dataclass
class TextRecovery:
    calls: list[RecoveredCall] = field(default_factory=list)
    format_errors: list[str] = field(default_factory=list)
    remaining_text: str = ""


class _NotACall(Exception):
    """The value is not shaped like a call at all (and the context is lenient)."""


class _BadCall(Exception):
    """The value clearly tried to be a call and failed; the message says why."""


@dataclass
class _Found:
    start: int
    end: int
    calls: list[RecoveredCall]
    errors: list[str]


def recover_tool_calls(content: str, tool_names: set[str]) -> TextRecovery:
    """Find tool calls written as text in `content`; see the module docstring for the shapes."""
    if not isinstance(content, str) or not content.strip():
        return TextRecovery(remaining_text=content if isinstance(content, str) else "")
    found: list[_Found] = []
    masked = content
    for finder in (_find_tags, _find_fences, _find_bare):
        for item in finder(masked, tool_names):
            found.append(item)
            masked = _mask(masked, item.start, item.end)
    return _collect(content, found)


def _collect(content: str, found: list[_Found]) -> TextRecovery:
    result = TextRecovery()
    removed: list[tuple[int, int]] = []
    for item in sorted(found, key=lambda f: f.start):
        result.calls.extend(item.calls)
        result.format_errors.extend(item.errors)
        if item.calls or item.errors:
            removed.append((item.start, item.end))
        if len(item.calls) == 1:  # one call: its raw text is the whole block (tag, fence, object)
            result.calls[-1] = replace(item.calls[0], raw=content[item.start : item.end])
    result.remaining_text = _remaining(content, removed)
    return result


def _mask(text: str, start: int, end: int) -> str:
    """Blank out a span (keeping offsets) so later finders do not see it again."""
    return text[:start] + " " * (end - start) + text[end:]


def _remaining(content: str, removed: list[tuple[int, int]]) -> str:
    parts: list[str] = []
    pos = 0
    for start, end in removed:
        parts.append(content[pos:start])
        pos = end
    parts.append(content[pos:])
    text = _STRAY_TAG_RE.sub("", "".join(parts)) if removed else "".join(parts)
    return re.sub(r"\n{3,}", "\n\n", text).strip() if removed else content


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[: _SNIPPET - 3] + "..."


# --- finders -----------------------------------------------------------------------------------


def _find_tags(text: str, tools: set[str]) -> list[_Found]:
    out: list[_Found] = []
    for m in _TAG_RE.finditer(text):
        body = _strip_fence(m.group(1))
        calls, errors = _parse_values(body, tools, strict=True, where="<tool_call>")
        if not calls and not errors:
            errors.append(f"empty <tool_call> block: {_snippet(m.group(0))}")
        out.append(_Found(m.start(), m.end(), calls, errors))
    return out


def _strip_fence(body: str) -> str:
    m = re.fullmatch(r"\s*```[\w-]*\s*\n?(.*?)\n?\s*(?:```)?\s*", body, re.DOTALL)
    return m.group(1) if m else body


def _find_fences(text: str, tools: set[str]) -> list[_Found]:
    out: list[_Found] = []
    for m in _FENCE_RE.finditer(text):
        lang = m.group(1).lower()
        if lang not in _CALL_FENCES:
            out.append(_Found(m.start(), m.end(), [], []))  # other code: hide it from the bare scan
            continue
        strict = lang in _STRICT_FENCES
        calls, errors = _parse_values(m.group(2), tools, strict=strict, where=f"```{lang} block")
        out.append(_Found(m.start(), m.end(), calls, errors))
    return out


def _find_bare(text: str, tools: set[str]) -> list[_Found]:
    out: list[_Found] = []
    pos = 0
    while (m := _START_RE.search(text, pos)) is not None:
        start = m.start()
        item, pos = _bare_at(text, start, tools)
        if item is not None:
            out.append(item)
    return out


def _bare_at(text: str, start: int, tools: set[str]) -> tuple[_Found | None, int]:
    """Try a JSON value at `start`; return what was found and where to scan next."""
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        if not _ATTEMPT_RE.match(text, start):
            return None, start + 1
        end = _balanced_end(text, start)
        raw = text[start:end]
        return _Found(start, end, [], [f"tool call is not valid JSON: {_snippet(raw)}"]), end
    raw = text[start:end]
    try:
        calls = _calls_from_value(value, raw, tools, strict=False)
    except _NotACall:
        return None, end
    except _BadCall as exc:
        return _Found(start, end, [], [f"{exc}: {_snippet(raw)}"]), end
    return _Found(start, end, calls, []), end


def _balanced_end(text: str, start: int) -> int:
    """End of the brace-balanced region from `start` (strings respected), or end of text."""
    depth = 0
    in_str = False
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


# --- turning JSON values into calls ------------------------------------------------------------


def _parse_values(body: str, tools: set[str], *, strict: bool, where: str) -> tuple[list[RecoveredCall], list[str]]:
    """Parse every JSON value in `body` (whitespace-separated) as calls."""
    calls: list[RecoveredCall] = []
    errors: list[str] = []
    pos = _skip_ws(body, 0)
    while pos < len(body):
        try:
            value, end = _DECODER.raw_decode(body, pos)
        except (ValueError, RecursionError) as exc:
            if strict or _ATTEMPT_RE.search(body, pos):
                errors.append(f"{where} does not hold valid JSON ({_json_reason(exc)}): {_snippet(body[pos:])}")
            break
        raw = body[pos:end]
        try:
            calls.extend(_calls_from_value(value, raw, tools, strict=strict))
        except _NotACall:
            if strict:
                errors.append(f"{where} is not a tool call: {_snippet(raw)}")
        except _BadCall as exc:
            errors.append(f"{exc}: {_snippet(raw)}")
        pos = _skip_ws(body, end)
    return calls, errors


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
        pos += 1
    return pos


def _json_reason(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__


def _calls_from_value(value: Any, raw: str, tools: set[str], *, strict: bool) -> list[RecoveredCall]:
    if isinstance(value, dict) and _is_schema_echo(value):
        raise _NotACall
    if isinstance(value, list):
        if not value or not all(isinstance(v, dict) and _looks_like_call(v, tools) for v in value):
            raise _NotACall
        return [_call_from_dict(v, json.dumps(v, ensure_ascii=False), tools) for v in value]
    if isinstance(value, dict) and (strict or _looks_like_call(value, tools)):
        return [_call_from_dict(value, raw, tools)]
    raise _NotACall


def _is_schema_echo(obj: dict[str, Any]) -> bool:
    """A tool *definition* repeated back (`{"type": "function", "function": {"name", "description", "parameters":
    {"type": "object", "properties": …}}}`): small models do this; it is neither a call nor a format error."""
    inner = obj.get("function") if isinstance(obj.get("function"), dict) else obj
    params = inner.get("parameters")
    return isinstance(params, dict) and params.get("type") == "object" and "properties" in params


def _looks_like_call(obj: dict[str, Any], tools: set[str]) -> bool:
    """Lenient contexts: only objects that clearly try to be calls count."""
    if _is_schema_echo(obj):
        return False
    if isinstance(obj.get("function"), dict):
        return True
    if "name" not in obj:
        return False
    if any(k in obj for k in _ARG_KEYS):
        return True
    return isinstance(obj.get("name"), str) and obj["name"] in tools and set(obj) <= {"name", "type", "id"}


def _call_from_dict(obj: dict[str, Any], raw: str, tools: set[str]) -> RecoveredCall:
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    if "name" not in obj:
        raise _BadCall('tool call has no "name"')
    name = obj["name"]
    if not isinstance(name, str) or not name.strip():
        raise _BadCall('tool call "name" must be a non-empty string')
    if name not in tools:
        known = ", ".join(sorted(tools)) or "none"
        raise _BadCall(f"unknown tool {name!r} (available: {known})")
    return RecoveredCall(name=name, arguments=_arguments(obj), raw=raw)


def _arguments(obj: dict[str, Any]) -> str:
    key = next((k for k in _ARG_KEYS if k in obj), None)
    args = obj.get(key) if key else None
    if args is None:
        return "{}"
    if isinstance(args, str):
        args = _args_from_string(args)
    if not isinstance(args, dict):
        raise _BadCall(f'tool call "{key}" must be a JSON object, got {_json_type(args)}')
    return json.dumps(args, ensure_ascii=False)


def _args_from_string(text: str) -> Any:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise _BadCall("tool call arguments are a string that is not valid JSON") from None


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), "null" if value is None else type(value).__name__)
