"""Execute the model's tool calls: policy check → sandbox → bounded, explicit output → records."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from agentgym.sandbox.base import CommandResult, Sandbox, SandboxRefusal
from agentgym.specs.result import SafetyEvent, ToolCallRecord
from agentgym.specs.task import ResolvedPolicy
from agentgym.tools.policy import PathView, Violation, check_command, check_path
from agentgym.tools.schema import REQUIRED_ARGS, TOOL_NAMES

DEFAULT_OUTPUT_CAP = 8 * 1024  # bytes of each stream shown to the model (head + tail, marker between)
MAX_READ_BYTES = 1024 * 1024


class CommandLimitReached(Exception):
    """The task's max_commands is used up; the trial ends (step_limit)."""


class TrialTimeout(Exception):
    """The task's wall-clock budget is used up; the trial ends (timeout)."""


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


@dataclass
class ToolOutcome:
    record: ToolCallRecord
    message: str  # what goes back to the model as the tool message


@dataclass
class Toolbox:
    sandbox: Sandbox
    policy: ResolvedPolicy
    max_commands: int
    deadline: float  # time.monotonic() value when the trial's budget ends
    output_cap: int = DEFAULT_OUTPUT_CAP
    records: list[ToolCallRecord] = field(default_factory=list)
    safety_events: list[SafetyEvent] = field(default_factory=list)
    commands_used: int = 0
    valid_commands: int = 0
    events: list[dict[str, Any]] | None = None  # transcript sink (one tool_result line per call)
    view: PathView = field(init=False)

    def __post_init__(self) -> None:
        self.view = PathView(repo_root=self.sandbox.repo_root, workdir=self.sandbox.workdir)

    async def call(
        self, name: str, raw_args: str | dict[str, Any], *, call_id: str | None = None, recovered: bool = False
    ) -> ToolOutcome:
        start = time.perf_counter()
        args, error = _parse_args(name, raw_args)
        if name == "run_command":
            if self.commands_used >= self.max_commands:
                raise CommandLimitReached(f"max_commands={self.max_commands} reached")
            self.commands_used += 1
        output: dict[str, Any] = {}
        if error is None:
            try:
                output, error = await self._dispatch(name, args)
            except SandboxRefusal as refusal:
                error = f"{refusal.kind}: {refusal.detail}"
                if refusal.kind in ("path_escape", "sandbox_blocked"):
                    self._event(refusal.kind, refusal.detail, penalized=refusal.kind == "path_escape")
        if name == "run_command" and error is None:
            self.valid_commands += 1
        record = ToolCallRecord(
            tool_name=name,
            ok=error is None,
            error=error,
            duration_ms=round((time.perf_counter() - start) * 1000, 3),
            tool_input=args if args is not None else raw_args,
            tool_output=output,
            recovered_from_text=recovered,
            call_id=call_id,
        )
        self.records.append(record)
        if self.events is not None:
            self.events.append({"type": "tool_result", **record.model_dump(mode="json")})
        message = json.dumps({"ok": False, "error": error} if error else output, ensure_ascii=False)
        return ToolOutcome(record=record, message=message)

    def _event(self, kind: str, detail: str, *, penalized: bool = True) -> None:
        self.safety_events.append(SafetyEvent(type=kind, detail=detail, penalized=penalized))

    def _refuse(self, violation: Violation) -> tuple[dict[str, Any], str]:
        self._event(violation.type, violation.detail)
        return {}, f"refused ({violation.type}): {violation.detail}"

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TrialTimeout("task timeout_seconds reached")
        return left

    async def _dispatch(self, name: str, args: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        if name == "run_command":
            return await self._run_command(args)
        write = name == "write_file"
        violation = check_path(str(args["path"]), self.view, self.policy, write=write)
        if violation:
            return self._refuse(violation)
        path = str(args["path"])
        if name == "read_file":
            try:
                max_bytes = max(1, min(int(args.get("max_bytes") or self.output_cap * 2), MAX_READ_BYTES))
            except (TypeError, ValueError):
                return {}, "max_bytes must be an integer"
            read = await self.sandbox.read_file(path, max_bytes)
            note = f"\n[… file has {read.size} bytes; showing the first {max_bytes} …]" if read.truncated else ""
            return {"path": path, "content": read.content + note, "size": read.size, "truncated": read.truncated}, None
        if name == "list_dir":
            entries = await self.sandbox.list_dir(path)
            return {"path": path, "entries": [{"name": e.name, "type": e.type, "size": e.size} for e in entries]}, None
        mode = args.get("mode") or "overwrite"
        if mode not in ("overwrite", "append"):
            return {}, f"invalid mode '{mode}' (overwrite|append)"
        written = await self.sandbox.write_file(path, str(args["content"]), append=mode == "append")
        return {
            "path": path,
            "bytes_written": written,
            "mode": mode,
            "note": "saved. If this completes the task, reply with a short message and no tool call.",
        }, None

    async def _run_command(self, args: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        command = str(args["command"])
        cwd = args.get("cwd")
        violation = check_command(command, str(cwd) if cwd else None, self.policy, self.view)
        if violation:
            return self._refuse(violation)
        timeout = self._remaining()
        if args.get("timeout_seconds"):
            try:
                timeout = min(timeout, max(1.0, float(args["timeout_seconds"])))
            except (TypeError, ValueError):
                return {}, "timeout_seconds must be a number"
        result = await self.sandbox.run(command, cwd=self.view.resolve(str(cwd)) if cwd else None, timeout=timeout)
        for detail in result.blocked:
            self._event("sandbox_blocked", detail, penalized=False)
        return self._command_output(result), None

    def _command_output(self, result: CommandResult) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stdout": elide(result.stdout, self.output_cap, result.stdout_elided),
            "stderr": elide(result.stderr, self.output_cap, result.stderr_elided),
            "exit_code": result.exit_code,
            "duration_ms": round(result.duration_ms, 3),
        }
        if result.timed_out:
            out["timed_out"] = True
        if result.blocked:
            out["sandbox_blocked"] = list(result.blocked)
        return out


def _parse_args(name: str, raw: str | dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    if name not in TOOL_NAMES:
        return None, f"unknown tool '{name}' (available: {', '.join(sorted(TOOL_NAMES))})"
    if isinstance(raw, dict):
        args = raw
    else:
        try:
            args = json.loads(raw or "{}")
        except json.JSONDecodeError as exc:
            return None, f"arguments are not valid JSON: {exc.msg} at position {exc.pos}"
    if not isinstance(args, dict):
        return None, "arguments must be a JSON object"
    missing = [a for a in REQUIRED_ARGS[name] if a not in args]
    if missing:
        return args, f"missing required argument(s): {', '.join(missing)}"
    return args, None
