"""Bounds on everything a tool call sends to the model or writes into a record, always with a marker."""

from __future__ import annotations

import json
from typing import Any

ARG_RECORD_CAP = 16 * 1024  # bytes of each string argument kept in a record (write_file content, command …)
ERROR_CAP = 2 * 1024  # bytes of an error message
PATH_CAP = 1024  # bytes of a path echoed in a tool output
MAX_LIST_ENTRIES = 1000  # list_dir entries shown; the rest are counted in the marker


def elide(text: str, cap: int, already_elided: int = 0) -> str:
    """Head and tail of `text` within `cap` bytes, with an explicit marker; never a silent cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= cap and not already_elided:
        return text
    if len(data) <= cap:
        head, tail, dropped = data[: len(data) // 2], data[len(data) // 2 :], already_elided
    else:
        half = cap // 2
        head, tail, dropped = data[:half], data[-half:], len(data) - 2 * half + already_elided
    marker = f"\n[… {dropped} bytes elided …]\n"
    return head.decode("utf-8", "ignore") + marker + tail.decode("utf-8", "ignore")


def cap_strings(value: Any, cap: int = ARG_RECORD_CAP, depth: int = 0) -> Any:
    """A copy of a JSON value with every string elided to `cap` bytes (and nesting bounded)."""
    if isinstance(value, str):
        return elide(value, cap)
    if depth > 20:
        return elide(json.dumps(value, ensure_ascii=False, default=str), cap)
    if isinstance(value, dict):
        return {elide(str(k), PATH_CAP): cap_strings(v, cap, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [cap_strings(v, cap, depth + 1) for v in value]
    return value


def cap_entries(entries: list[dict[str, Any]], byte_cap: int) -> tuple[list[dict[str, Any]], str | None]:
    """The first entries that fit in `byte_cap` bytes of JSON (and MAX_LIST_ENTRIES), plus a marker if cut."""
    kept: list[dict[str, Any]] = []
    used = 0
    for entry in entries:
        entry = {**entry, "name": elide(str(entry.get("name", "")), PATH_CAP)}
        size = len(json.dumps(entry, ensure_ascii=False).encode("utf-8")) + 2
        if len(kept) >= MAX_LIST_ENTRIES or used + size > byte_cap:
            break
        kept.append(entry)
        used += size
    dropped = len(entries) - len(kept)
    if not dropped:
        return kept, None
    return kept, f"[… {dropped} of {len(entries)} entries elided; list a subfolder or use run_command …]"
