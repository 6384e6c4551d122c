"""Transcript lines (`transcripts/<repo_id>.jsonl`): appended per trial, every payload stored once.

A trial's events repeat themselves: each request re-sends the prompt, the model's last reply and the tool
results, and a tool call's input is also in the reply that made it. On disk, a repeat is a reference to the
line that holds the payload (`"$see"`):

- `request.new_messages`: the prompt messages (`{"role": ..., "$see": "task_start"}`), assistant messages
  (`{"role": "assistant", "$see": "response"}`: the reply of the previous turn) and tool messages (`{"role": "tool",
  "tool_call_id": ..., "$see": "tool_result"}`) are references; other messages (format hints) are inline.
- `tool_result.tool_input` over 1 KiB that equals the call's arguments in the reply: `{"$see": "response",
  "call_id": ...}`.
- a reply whose tool calls were recovered from its text: their arguments over 1 KiB are `{"$see": "content"}`
  (the same reply's content, from which the recovery recomputes them).
- `task_end.final_message` over 1 KiB that equals the last reply's content: `{"$see": "response", "turn": k}`.

Lines are appended (never rewritten); a crash can leave a partial last line, which `read_events` skips.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

BIG = 1024  # characters: payloads at least this long are never written twice


def compact(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with repeated payloads replaced by references (the input is not changed)."""
    prompt: list[Any] = []
    arguments: dict[str, str] = {}
    last_turn, last_content = -1, None
    out: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("type")
        if kind == "task_start":
            prompt = list(event.get("prompt_messages") or [])
        elif kind == "request":
            event = {**event, "new_messages": [_message_ref(m, prompt) for m in event.get("new_messages", [])]}
        elif kind == "response":
            message = event.get("message") or {}
            last_turn, last_content = event.get("turn", -1), message.get("content")
            for call in message.get("tool_calls") or []:
                arguments[str(call.get("id"))] = (call.get("function") or {}).get("arguments") or ""
            if event.get("recovered_from_text"):
                event = _recovered_ref(event, message)
        elif kind == "tool_result":
            event = _input_ref(event, arguments)
        elif kind == "task_end" and _big(event.get("final_message")) and event.get("final_message") == last_content:
            event = {**event, "final_message": {"$see": "response", "turn": last_turn}}
        out.append(event)
    return out


def _message_ref(message: Any, prompt: list[Any]) -> Any:
    if not isinstance(message, dict):
        return message
    role = message.get("role")
    if role == "assistant":
        return {"role": "assistant", "$see": "response"}
    if role == "tool":
        return {"role": "tool", "tool_call_id": message.get("tool_call_id"), "$see": "tool_result"}
    if message in prompt:
        return {"role": role, "$see": "task_start"}
    return message


def _recovered_ref(event: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """Calls recovered from the reply's text: their large arguments are that text again, so refer to it."""
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        if _big(function.get("arguments")):
            call = {**call, "function": {**function, "arguments": {"$see": "content"}}}
        calls.append(call)
    return {**event, "message": {**message, "tool_calls": calls}}


def _input_ref(event: dict[str, Any], arguments: dict[str, str]) -> dict[str, Any]:
    call_id, tool_input = event.get("call_id"), event.get("tool_input")
    raw = arguments.get(str(call_id))
    if raw is None or len(raw) < BIG:
        return event
    try:
        same = json.loads(raw) == tool_input
    except ValueError:
        same = False
    return {**event, "tool_input": {"$see": "response", "call_id": call_id}} if same else event


def _big(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= BIG


def append_lines(path: Path, lines: list[str]) -> None:
    """Append whole lines and fsync; a partial line left by an earlier failed write is closed first."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        needs_newline = size > 0 and _last_byte(path, size) != b"\n"
        data = ("\n" if needs_newline else "") + "".join(line + "\n" for line in lines)
        view = memoryview(data.encode("utf-8"))
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        return fh.read(1)


def read_events(path: Path) -> list[dict[str, Any]]:
    """All events of a transcript file; an unparseable line (a crash mid-write) is skipped."""
    events: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events
