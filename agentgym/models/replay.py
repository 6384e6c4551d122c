"""`agentgym run --replay RUN_DIR`: a model source that serves the assistant turns recorded in a run folder.

The same actions re-run in today's harness, sandbox and oracles, which tells harness changes from model
changes. Turns come from the transcript JSONL (`response` lines: the exact assistant messages) when the run
folder has them, else they are rebuilt from the per-task JSON's `transcript.tool_calls` (one call per turn,
then `model_final_message`), which is what an original (v1) run folder holds.

The client only sees messages, so the task is known through `ReplayAgent`: for each trial it takes the next
recorded trial of that task id (epochs in order, then round again) and runs the usual `ModelAgent` loop with a
`ReplayClient` of its own. Where the recording no longer fits, the trial's `error` says so ("replay: …"):
the task's content hash differs, a recorded call that worked is refused now, or the loop asks for a turn the
recording does not have (the trial then ends as model_error). No HTTP request is ever made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentgym.agents.base import AgentOutcome
from agentgym.agents.model_loop import ModelAgent
from agentgym.agents.prompts import PromptSet
from agentgym.errors import AgentGymError
from agentgym.models.base import ModelReply, ToolCall, TrialModelError
from agentgym.results.transcript import read_events
from agentgym.specs.task import TaskSpec
from agentgym.tools.toolbox import Toolbox

MAX_RECORD_BYTES = 64 * 1024 * 1024


class ReplayError(AgentGymError):
    """The folder given to --replay cannot be replayed (not a run folder, no per-task results)."""


@dataclass
class RecordedTrial:
    task_id: str
    epoch: int
    content_hash: str | None
    turns: list[ModelReply]
    calls: list[dict[str, Any]]  # the recorded tool_calls (tool_name, ok, error, call_id, ...)
    turn_of_call: dict[str, int] = field(default_factory=dict)  # call id -> recorded turn (0-based)


def _load_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise ReplayError(f"{path}: larger than {MAX_RECORD_BYTES} bytes; not a record")
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ReplayError(f"{path}: cannot be read: {str(exc).splitlines()[0][:200]}") from None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _arguments(raw: Any) -> str:
    return raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)


def _turns_from_calls(calls: list[dict[str, Any]], final: Any) -> list[ModelReply]:
    """One call per turn (ids as recorded), then the final message: the original's per-task JSON."""
    turns = []
    for n, call in enumerate(calls):
        cid, name, args = str(call.get("call_id") or f"replay_{n}"), str(call.get("tool_name")), call.get("tool_input")
        wire = {"id": cid, "type": "function", "function": {"name": name, "arguments": _arguments(args)}}
        message = {"role": "assistant", "content": None, "tool_calls": [wire]}
        turns.append(ModelReply(None, [ToolCall(cid, name, _arguments(args))], message, "tool_calls"))
    text = final if isinstance(final, str) else ""
    turns.append(ModelReply(text, [], {"role": "assistant", "content": text}, "stop"))
    return turns


def _turn_from_response(event: dict[str, Any], inputs: dict[str, Any]) -> ModelReply:
    """An exact recorded assistant turn; a compacted argument (`$see`) is taken from the recorded tool input."""
    message = _dict(event.get("message"))
    calls, wire = [], []
    for n, call in enumerate(_list(message.get("tool_calls"))):
        fn = _dict(call.get("function"))
        cid = str(call.get("id") or f"replay_{n}")
        args = fn.get("arguments")
        args = args if isinstance(args, str) else _arguments(inputs.get(cid, {}))
        calls.append(ToolCall(cid, str(fn.get("name")), args, bool(event.get("recovered_from_text"))))
        wire.append({**call, "function": {**fn, "arguments": args}})
    content = message.get("content")
    assistant = {**message, "tool_calls": wire} if wire else dict(message)
    errors = [str(e) for e in event.get("format_errors") or []] if isinstance(event.get("format_errors"), list) else []
    return ModelReply(content if isinstance(content, str) else None, calls, assistant, None, format_errors=errors)


def _recorded(record: dict[str, Any], responses: list[dict[str, Any]]) -> RecordedTrial:
    task, transcript = _dict(record.get("task")), _dict(record.get("transcript"))
    calls = _list(transcript.get("tool_calls"))
    inputs = {str(c.get("call_id")): c.get("tool_input") for c in calls if c.get("call_id")}
    if responses:
        turns = [_turn_from_response(e, inputs) for e in sorted(responses, key=lambda e: _int(e.get("turn")))]
    else:
        turns = _turns_from_calls(calls, transcript.get("model_final_message"))
    turn_of = {c.id: n for n, t in enumerate(turns) for c in t.tool_calls}
    epoch = _int(record.get("epoch"))
    content_hash = task.get("content_hash") if isinstance(task.get("content_hash"), str) else None
    return RecordedTrial(str(task.get("id")), epoch, content_hash, turns, calls, turn_of)


def _responses(run_dir: Path, repo: str) -> dict[tuple[str, int], list[dict[str, Any]]]:
    path = run_dir / "transcripts" / f"{repo}.jsonl"
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    if path.is_file():
        for e in read_events(path):
            if isinstance(e, dict) and e.get("type") == "response":
                grouped.setdefault((str(e.get("task_id")), _int(e.get("epoch"))), []).append(e)
    return grouped


class ReplaySource:
    """Every recorded trial of a run folder, by task id."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir.resolve()
        self.trials: dict[str, list[RecordedTrial]] = {}
        self._next: dict[str, int] = {}
        config_path = self.run_dir / "results" / "run_config.json"
        config = _load_json(config_path) if config_path.is_file() else {}
        for repo_dir in sorted(p for p in (self.run_dir / "results").glob("*") if p.is_dir()):
            responses = _responses(self.run_dir, repo_dir.name)
            for path in sorted(repo_dir.glob("*.json")):
                record = _load_json(path) if path.name != "index.json" else None
                if isinstance(record, dict) and isinstance(record.get("task"), dict):
                    key = (str(record["task"].get("id")), _int(record.get("epoch")))
                    try:
                        trial = _recorded(record, responses.get(key, []))
                    except (TypeError, ValueError, AttributeError, KeyError) as exc:
                        raise ReplayError(f"{path}: not a replayable record ({type(exc).__name__})") from None
                    self.trials.setdefault(trial.task_id, []).append(trial)
        if not self.trials:
            raise ReplayError(f"--replay {run_dir}: no per-task results under results/<repo>/")
        for trials in self.trials.values():
            trials.sort(key=lambda t: t.epoch)
        recorded = config.get("model_id") if isinstance(config, dict) else None
        self.recorded_model = str(recorded or self.run_dir.name.rpartition("-")[0] or "model")
        self.model_id = f"{self.recorded_model}-replay"

    def next_for(self, task_id: str) -> RecordedTrial | None:
        trials = self.trials.get(task_id)
        if not trials:
            return None
        n = self._next.get(task_id, 0)
        self._next[task_id] = n + 1
        return trials[n % len(trials)]


class ReplayClient:
    """One trial's recorded turns, served in order (ModelClient protocol)."""

    def __init__(self, trial: RecordedTrial, model_id: str) -> None:
        self.trial = trial
        self.model_id = model_id
        self.served = 0

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        attempts: list[dict[str, Any]] | None = None,
    ) -> ModelReply:
        if self.served >= len(self.trial.turns):
            raise TrialModelError(
                f"replay: recorded turn {self.served + 1} does not exist "
                f"(the recording of {self.trial.task_id} has {len(self.trial.turns)} turn(s))"
            )
        reply = self.trial.turns[self.served]
        self.served += 1
        return replace(reply, tool_calls=list(reply.tool_calls), format_errors=list(reply.format_errors))

    async def aclose(self) -> None:
        return None


def _misfits(trial: RecordedTrial, toolbox: Toolbox) -> list[str]:
    """Recorded calls that worked then and are refused now."""
    notes = []
    for n, (old, new) in enumerate(zip(trial.calls, toolbox.log.tool_records(), strict=False)):
        if old.get("ok") and not new.ok:
            turn = trial.turn_of_call.get(str(old.get("call_id")), n) + 1
            notes.append(f"replay: recorded turn {turn} no longer fits: {new.tool_name} refused: {new.error}")
    return notes


class ReplayAgent:
    name = "replay"

    def __init__(self, source: ReplaySource, prompts: PromptSet, *, repeat_limit: int | None = None) -> None:
        self.source = source
        self.prompts = prompts
        self.repeat_limit = repeat_limit

    async def run(self, task: TaskSpec, toolbox: Toolbox, outcome: AgentOutcome) -> None:
        trial = self.source.next_for(task.id)
        if trial is None:
            raise TrialModelError(f"replay: task {task.id} is not in the recording {self.source.run_dir}")
        notes = []
        if trial.content_hash and trial.content_hash != task.content_hash():
            notes.append(
                f"replay: task {task.id} changed since the recording "
                f"(content hash {trial.content_hash[:12]} -> {task.content_hash()[:12]})"
            )
        agent = ModelAgent(ReplayClient(trial, self.source.model_id), self.prompts, repeat_limit=self.repeat_limit)
        try:
            await agent.run(task, toolbox, outcome)
        except Exception as exc:  # the runner records str(exc) as the error: say first where the replay broke
            notes += _misfits(trial, toolbox)
            if notes and exc.args:
                exc.args = ("; ".join([*notes, str(exc.args[0])]), *exc.args[1:])
            raise
        notes += _misfits(trial, toolbox)
        if notes:
            outcome.error = "; ".join(notes)


__all__ = ["ReplayAgent", "ReplayClient", "ReplayError", "ReplaySource"]
