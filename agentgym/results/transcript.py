"""Transcript lines, derived from the trial's event stream (specs/events.py), every payload stored once:
`transcripts/<repo_id>/<trial>.events.jsonl` (the whole stream, appended event by event as the trial goes)
and `transcripts/<repo_id>.jsonl` (appended per trial at its end; no `tool_call` lines, `task_start` holds
the prompt).

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
- per-trial file: `tool_call.tool_input` like `tool_result.tool_input`; a `tool_result.tool_input` over 1 KiB
  that equals its `tool_call`'s (and has no reply to refer to) is `{"$see": "tool_call"}`. Its `task_start`
  has no prompt: the first request carries it inline.

Lines are appended (never rewritten); a crash can leave a partial last line, which `read_events` skips.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentgym.specs.events import EventLog, TrialEvent, parse_event

BIG = 1024  # characters: payloads at least this long are never written twice


def compact(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with repeated payloads replaced by references (the input is not changed)."""
    compactor = Compactor()
    return [compactor.line(e) for e in events]


class Compactor:
    """`compact`, one event at a time (the per-trial file is written as the trial goes)."""

    def __init__(self) -> None:
        self.prompt: list[Any] = []
        self.arguments: dict[str, str] = {}
        self.last_turn, self.last_content = -1, None
        self.last_input: Any = None  # the tool_call's input: its tool_result repeats it

    def line(self, event: dict[str, Any]) -> dict[str, Any]:
        kind = event.get("type")
        if kind == "task_start":
            self.prompt = list(event.get("prompt_messages") or [])
        elif kind == "request":
            event = {**event, "new_messages": [_message_ref(m, self.prompt) for m in event.get("new_messages", [])]}
        elif kind == "response":
            message = event.get("message") or {}
            self.last_turn, self.last_content = event.get("turn", -1), message.get("content")
            for call in message.get("tool_calls") or []:
                self.arguments[str(call.get("id"))] = (call.get("function") or {}).get("arguments") or ""
            if event.get("recovered_from_text"):
                event = _recovered_ref(event, message)
        elif kind == "tool_call":
            self.last_input = event.get("tool_input")
            event = _input_ref(event, self.arguments)
        elif kind == "tool_result":
            event = self._result_ref(event)
        elif kind == "task_end" and _big(event.get("final_message")) and event["final_message"] == self.last_content:
            event = {**event, "final_message": {"$see": "response", "turn": self.last_turn}}
        return event

    def _result_ref(self, event: dict[str, Any]) -> dict[str, Any]:
        referred = _input_ref(event, self.arguments)
        if referred is event and _big_value(event.get("tool_input")) and event.get("tool_input") == self.last_input:
            return {**event, "tool_input": {"$see": "tool_call"}}
        return referred


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


def _big_value(value: Any) -> bool:
    return len(json.dumps(value, ensure_ascii=False, default=str)) >= BIG


PER_TRIAL_ONLY = frozenset({"tool_call"})  # in the per-trial file only: its tool_result repeats it


def repo_events(log: EventLog) -> list[dict[str, Any]]:
    """The trial's lines of `transcripts/<repo_id>.jsonl`, before `compact`: the stream without its
    per-trial-only events, the prompt in `task_start` (the first request then refers to it)."""
    out: list[dict[str, Any]] = []
    for event in log.events:
        if event.type in PER_TRIAL_ONLY:  # type: ignore[attr-defined]
            continue
        data = event.model_dump(mode="json")
        if data["type"] == "task_start":
            data["prompt_messages"] = log.prompt_messages()
        out.append(data)
    return out


class TrialEventFile:
    """The per-trial event file (an `EventSink`): one compacted line appended per event as it is emitted
    (one write(2) each, so a killed process leaves every emitted line), fsynced at close."""

    def __init__(self, path: Path, clean: Callable[[str], str] = lambda text: text) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self._clean, self._compactor = path, clean, Compactor()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        size = os.fstat(self._fd).st_size
        if size > 0 and _last_byte(path, size) != b"\n":  # a torn line of an earlier, killed attempt
            _write_all(self._fd, b"\n")

    def write(self, event: Any) -> None:
        line = json.dumps(self._compactor.line(event.model_dump(mode="json")), ensure_ascii=False, default=str)
        _write_all(self._fd, (self._clean(line) + "\n").encode("utf-8", "replace"))  # lone surrogates: ?

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def append_lines(path: Path, lines: list[str]) -> None:
    """Append whole lines and fsync; a partial line left by an earlier failed write is closed first."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        needs_newline = size > 0 and _last_byte(path, size) != b"\n"
        data = ("\n" if needs_newline else "") + "".join(line + "\n" for line in lines)
        _write_all(fd, data.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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


def read_trial_stream(path: Path) -> list[TrialEvent]:
    """The typed events of a per-trial file's last attempt (from its last `task_start`); lines that do not
    parse (torn, or not an event) are skipped. Ends with `task_end` only if that attempt finished."""
    events: list[TrialEvent] = []
    for data in read_events(path):
        try:
            event = parse_event(data)
        except ValidationError:
            continue
        if event.type == "task_start":
            events = []
        events.append(event)
    return events
