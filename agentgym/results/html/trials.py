"""One trial as the page shows it: header numbers, final checks (expected vs actual), the turns (assistant
message, tool calls and arguments, tool outputs, safety events, attempts) from the trial's event file when
it exists (else from the record's transcript), and the answer files the agent wrote. Everything bounded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentgym.results.html.bound import bound
from agentgym.results.rundir import trial_stem
from agentgym.results.transcript import read_trial_stream
from agentgym.specs.result import TaskResult

ARTIFACT_CAP = 64 * 1024  # bytes of an answer file read for the page (then capped like every string)


def trial_files(run: Path, result: TaskResult) -> tuple[Path, Path]:
    """The trial's event file and artifact folder (names as RunDir writes them)."""
    stem = trial_stem(result.task.id, result.epoch)
    repo = result.task.repo
    return run / "transcripts" / repo / f"{stem}.events.jsonl", run / "artifacts" / repo / stem


def _header(result: TaskResult) -> dict[str, Any]:
    m = result.metrics
    return {
        "repo": result.task.repo,
        "task": result.task.id,
        "epoch": result.epoch,
        "attempt": result.attempt,
        "difficulty": result.task.difficulty,
        "instruction": result.task.instruction,
        "success": m.success,
        "score": m.score_0_100,
        "failure_reason": result.failure_reason,
        "first_failing_check": result.first_failing_check,
        "error": result.error,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "metrics": {
            k: getattr(m, k)
            for k in (
                "commands_used",
                "command_valid_rate",
                "safety_violations",
                "hallucination_signals",
                "format_errors",
                "model_calls",
                "prompt_tokens",
                "completion_tokens",
                "model_retries",
                "wall_time_s",
            )
        },
    }


def _checks(result: TaskResult) -> list[dict[str, Any]]:
    return [
        {"key": c.key, "ok": c.ok, "expected": c.expected, "actual": c.actual, "weight": c.weight, "error": c.error}
        for c in result.output_checks
    ]


def _args(raw: Any) -> Any:
    if isinstance(raw, dict) and raw.get("$see") == "content":
        return "(arguments recovered from the reply's text above)"
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


class _Turns:
    """Events (dicts) folded into turns; `$see` references resolved to the payload they point at."""

    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []
        self.prompt: list[Any] = []
        self.notes: list[dict[str, Any]] = []
        self.calls: dict[str, Any] = {}  # call id -> arguments of the reply that made it
        self.contents: dict[int, Any] = {}
        self.last_input: Any = None
        self.final: Any = None

    def _current(self) -> dict[str, Any]:
        if not self.turns:
            self.turns.append(_new_turn(-1))
        return self.turns[-1]

    def add(self, e: dict[str, Any]) -> None:
        kind = e.get("type")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(e)

    def _on_request(self, e: dict[str, Any]) -> None:
        messages = [m for m in e.get("new_messages") or [] if isinstance(m, dict) and "$see" not in m]
        if not self.turns and not self.prompt:
            self.prompt = messages
            messages = []
        turn = _new_turn(e.get("turn", len(self.turns)))
        turn["harness_messages"] = messages
        self.turns.append(turn)

    def _on_attempt(self, e: dict[str, Any]) -> None:
        keep = ("attempt", "status", "exception", "error", "wait_s", "duration_ms", "retry_after_s")
        self._current()["attempts"].append({k: e.get(k) for k in keep})

    def _on_response(self, e: dict[str, Any]) -> None:
        turn, message = self._current(), e.get("message") or {}
        self.contents[e.get("turn", -1)] = message.get("content")
        calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            self.calls[str(call.get("id"))] = _args(function.get("arguments"))
            calls.append(
                {"id": call.get("id"), "name": function.get("name"), "arguments": _args(function.get("arguments"))}
            )
        turn.update(
            content=message.get("content"),
            reasoning=message.get("reasoning_content"),
            tool_calls=calls,
            usage=e.get("usage") or {},
            latency_ms=e.get("latency_ms"),
            format_errors=e.get("format_errors") or [],
            recovered_from_text=bool(e.get("recovered_from_text")),
            finish_reason=e.get("finish_reason"),
            cached=bool(e.get("cached")),
        )

    def _resolve(self, value: Any, call_id: Any) -> Any:
        if isinstance(value, dict) and value.get("$see") == "response":
            return self.calls.get(str(value.get("call_id", call_id)), value)
        if isinstance(value, dict) and value.get("$see") == "tool_call":
            return self.last_input
        return value

    def _on_tool_call(self, e: dict[str, Any]) -> None:
        self.last_input = self._resolve(e.get("tool_input"), e.get("call_id"))

    def _on_tool_result(self, e: dict[str, Any]) -> None:
        self._current()["results"].append(
            {
                "call_id": e.get("call_id"),
                "tool_name": e.get("tool_name"),
                "ok": e.get("ok"),
                "error": e.get("error"),
                "duration_ms": e.get("duration_ms"),
                "input": self._resolve(e.get("tool_input"), e.get("call_id")),
                "output": e.get("tool_output") or {},
            }
        )

    def _on_safety_event(self, e: dict[str, Any]) -> None:
        self._current()["safety"].append({k: e.get(k) for k in ("event", "detail", "penalized")})

    def _on_limit(self, e: dict[str, Any]) -> None:
        self.notes.append({"kind": "limit", "text": f"{e.get('limit')}: {e.get('error') or ''}"})

    def _on_error(self, e: dict[str, Any]) -> None:
        self.notes.append({"kind": e.get("kind") or "error", "text": e.get("error")})

    def _on_regrade(self, e: dict[str, Any]) -> None:
        self.notes.append({"kind": "regrade", "text": f"regraded from {e.get('regraded_from')}"})

    def _on_task_end(self, e: dict[str, Any]) -> None:
        final = e.get("final_message")
        if isinstance(final, dict) and final.get("$see") == "response":
            final = self.contents.get(final.get("turn", -1))
        self.final = final


def _new_turn(number: Any) -> dict[str, Any]:
    return {"turn": number, "attempts": [], "results": [], "safety": [], "tool_calls": [], "content": None}


def _from_events(path: Path) -> _Turns | None:
    try:
        events = read_trial_stream(path)
    except OSError:
        return None
    if not events:
        return None
    turns = _Turns()
    for event in events:
        turns.add(event.model_dump(mode="json"))
    return turns


def _from_record(result: TaskResult) -> _Turns:
    turns = _Turns()
    turns.prompt = result.transcript.prompt_messages
    for i, call in enumerate(result.transcript.tool_calls):
        turn = _new_turn(i)
        turn["results"].append(
            {
                "call_id": call.call_id,
                "tool_name": call.tool_name,
                "ok": call.ok,
                "error": call.error,
                "duration_ms": call.duration_ms,
                "input": call.tool_input,
                "output": call.tool_output,
            }
        )
        turns.turns.append(turn)
    if turns.turns or result.transcript.safety_events:
        turns._current()["safety"] = [
            {"event": s.type, "detail": s.detail, "penalized": s.penalized} for s in result.transcript.safety_events
        ]
    turns.final = result.transcript.model_final_message
    return turns


def _artifacts(folder: Path) -> list[dict[str, Any]]:
    out = []
    if not folder.is_dir() or folder.is_symlink():
        return out
    for path in sorted(folder.glob("answer.*")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            with open(path, "rb") as fh:
                data = fh.read(ARTIFACT_CAP + 1)
        except OSError:
            continue
        text = data[:ARTIFACT_CAP].decode("utf-8", "replace")
        if len(data) > ARTIFACT_CAP:
            text += f"\n[… file longer than {ARTIFACT_CAP} bytes; the rest is not shown …]"
        out.append({"name": path.name, "text": text})
    return out


def trial_view(run: Path, result: TaskResult) -> dict[str, Any]:
    """The whole view of one trial (bounded; JSON-able)."""
    events_file, art = trial_files(run, result)
    turns = _from_events(events_file) if events_file.is_file() else None
    source = "events" if turns is not None else "record"
    turns = turns or _from_record(result)
    view = {
        **_header(result),
        "checks": _checks(result),
        "safety": [
            {"event": s.type, "detail": s.detail, "penalized": s.penalized} for s in result.transcript.safety_events
        ],
        "prompt": turns.prompt,
        "turns": turns.turns,
        "notes": turns.notes,
        "final_message": turns.final if turns.final is not None else result.transcript.model_final_message,
        "artifacts": _artifacts(art),
        "source": source,
    }
    return bound(view)


__all__ = ["trial_files", "trial_view"]
