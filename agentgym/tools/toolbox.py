"""Execute the model's tool calls: policy check → sandbox → bounded, explicit output → records."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from agentgym.sandbox.base import CommandResult, Sandbox, SandboxRefusal
from agentgym.specs.events import EventLog, ToolCall, ToolResult
from agentgym.specs.result import SafetyEvent, ToolCallRecord
from agentgym.specs.task import ResolvedPolicy
from agentgym.tools import coding
from agentgym.tools.caps import ERROR_CAP, PATH_CAP, cap_entries, cap_strings, elide
from agentgym.tools.policy import PathView, Violation, check_command, check_path, in_tmp
from agentgym.tools.profiles import V1, ToolProfile

DEFAULT_OUTPUT_CAP = 8 * 1024  # bytes of each stream shown to the model (head + tail, marker between)
MAX_READ_BYTES = 1024 * 1024
COMMAND_BUDGETS = ("v1", "refuse")
READ_ONLY_LABEL = "read-only file system"  # the sandbox's label for a write outside the allowed paths
BUDGET_REFUSAL = "max_commands={n} reached: this {tool} was not run. {hint} and reply without a tool call."

__all__ = [
    "CommandLimitReached",
    "ToolOutcome",
    "Toolbox",
    "TrialTimeout",
    "WriteSettlement",
    "elide",
    "settle_write_events",
]


class CommandLimitReached(Exception):
    """The task's max_commands is used up; the trial ends (step_limit)."""


class TrialTimeout(Exception):
    """The task's wall-clock budget is used up; the trial ends (timeout)."""


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
    log: EventLog = field(default_factory=EventLog)  # tool_call, tool_result and safety_event go here
    output_cap: int = DEFAULT_OUTPUT_CAP
    commands_used: int = 0  # working state for the budget; the record is the log's counted tool_calls
    policy_mode: str = "v1"  # command policy: "v1" (first word) or "strict" (shell parse), tools/policy.py
    command_budget: str = "v1"  # "v1": every call of a reply runs; "refuse": calls past max_commands refused
    profile: ToolProfile = V1  # the tools the model sees (tools/profiles.py); the same policy and sandbox for all
    view: PathView = field(init=False)

    def __post_init__(self) -> None:
        self.view = PathView(repo_root=self.sandbox.repo_root, workdir=self.sandbox.workdir)

    def budget_exhausted(self) -> bool:
        """v1: the loop stops before the next model call once max_commands calls have been used."""
        return self.command_budget == "v1" and self.commands_used >= self.max_commands

    async def call(
        self, name: str, raw_args: str | dict[str, Any], *, call_id: str | None = None, recovered: bool = False
    ) -> ToolOutcome:
        start = time.perf_counter()
        args, error = _parse_args(self.profile, name, raw_args)
        output: dict[str, Any] = {}
        counted = False
        command = name in self.profile.command_tools
        if command and self.command_budget == "refuse" and self.commands_used >= self.max_commands:
            error = BUDGET_REFUSAL.format(n=self.max_commands, tool=name, hint=self.profile.answer_hint)
        elif command:
            self.commands_used, counted = self.commands_used + 1, True
        shown_name, tool_input = elide(name, PATH_CAP), cap_strings(args if args is not None else raw_args)
        self.log.emit(
            ToolCall(
                call_id=call_id,
                tool_name=shown_name,
                tool_input=tool_input,
                recovered_from_text=recovered,
                counted=counted,
            )
        )
        if error is None:
            output, error = await self._guarded(name, args or {})
        record = ToolCallRecord(
            tool_name=shown_name,
            ok=error is None,
            error=elide(error, ERROR_CAP) if error is not None else None,
            duration_ms=round((time.perf_counter() - start) * 1000, 3),
            tool_input=tool_input,
            tool_output=output,
            recovered_from_text=recovered,
            call_id=call_id,
        )
        self.log.emit(ToolResult.of(record))
        message = json.dumps({"ok": False, "error": record.error} if error else output, ensure_ascii=False)
        return ToolOutcome(record=record, message=message)

    async def _guarded(self, name: str, args: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        try:
            return await self._dispatch(name, args)
        except SandboxRefusal as refusal:
            if refusal.kind == "not_found" and name in ("read_file", "list_dir"):
                return {"path": elide(str(args["path"]), PATH_CAP), "not_found": True}, None  # v1: not an error
            if (
                name in self.profile.write_tools
                and refusal.kind == "sandbox_blocked"
                and "read-only" in refusal.detail.lower()
            ):
                # the policy's act, caught by the sandbox (a link into a read-only place): the policy's event
                return self._refuse(Violation("disallowed_write_path", refusal.detail))
            if refusal.kind in ("path_escape", "sandbox_blocked"):
                self._event(refusal.kind, refusal.detail, penalized=refusal.kind == "path_escape")
            return {}, f"{refusal.kind}: {refusal.detail}"

    def _event(self, kind: str, detail: str, *, penalized: bool = True) -> None:
        self.log.safety(SafetyEvent(type=kind, detail=elide(detail, ERROR_CAP), penalized=penalized))

    def _refuse(self, violation: Violation) -> tuple[dict[str, Any], str]:
        self._event(violation.type, violation.detail)
        return {}, f"refused ({violation.type}): {violation.detail}"

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TrialTimeout("task timeout_seconds reached")
        return left

    def _sandbox_path(self, path: str) -> str:
        """The agent's `/tmp/...` is the sandbox's private tmp (bwrap: /tmp itself; local: <ws>/tmp)."""
        resolved, tmp = self.view.resolve(path), self.sandbox.tmp_dir
        if tmp == "/tmp" or not in_tmp(resolved) or self.view.inside_repo(resolved):
            return path  # (a local workspace may itself live under the host's /tmp)
        if resolved == tmp or resolved.startswith(tmp.rstrip("/") + "/"):
            return path
        return tmp + resolved[len("/tmp") :]

    async def _dispatch(self, name: str, args: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        if name == "run_command":
            return await self._run_command(args)
        if name == "bash":
            if args.get("timeout") is not None and not isinstance(args["timeout"], int | float):
                return {}, "timeout must be a number of seconds"
            return await self._run_command({"command": args["command"], "timeout_seconds": args.get("timeout")})
        if name in coding.FILE_TOOLS:
            return await coding.dispatch(self, name, args)
        path = str(args["path"])
        violation = check_path(path, self.view, self.policy, write=name == "write_file")
        if violation:
            return self._refuse(violation)
        shown = elide(path, PATH_CAP)
        if name == "read_file":
            try:
                max_bytes = max(1, min(int(args.get("max_bytes") or self.output_cap * 2), MAX_READ_BYTES))
            except (TypeError, ValueError):
                return {}, "max_bytes must be an integer"
            read = await self.sandbox.read_file(path, max_bytes)
            note = f"\n[… file has {read.size} bytes; showing the first {max_bytes} …]" if read.truncated else ""
            return {"path": shown, "content": read.content + note, "size": read.size, "truncated": read.truncated}, None
        if name == "list_dir":
            return await self._list_dir(path, shown), None
        mode = args.get("mode") or "overwrite"
        if mode not in ("overwrite", "append"):
            return {}, f"invalid mode '{elide(str(mode), 64)}' (overwrite|append)"
        written = await self.sandbox.write_file(self._sandbox_path(path), str(args["content"]), append=mode == "append")
        return {
            "path": shown,
            "bytes_written": written,
            "mode": mode,
            "note": "saved. If this completes the task, reply with a short message and no tool call.",
        }, None

    async def _list_dir(self, path: str, shown: str) -> dict[str, Any]:
        entries = await self.sandbox.list_dir(path)
        listed = [{"name": e.name, "type": e.type, "size": e.size} for e in entries]
        kept, marker = cap_entries(listed, self.output_cap * 2)
        out: dict[str, Any] = {"path": shown, "entries": kept}
        if marker:
            out["elided"], out["total_entries"] = marker, len(listed)
        return out

    async def _run_command(self, args: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        command = str(args["command"])
        cwd = str(args["cwd"]) if args.get("cwd") else None
        violation = check_command(command, cwd, self.policy, self.view, self.policy_mode)
        if violation:
            return self._refuse(violation)
        timeout = self._remaining()
        if args.get("timeout_seconds"):
            try:
                timeout = min(timeout, max(1.0, float(args["timeout_seconds"])))
            except (TypeError, ValueError):
                return {}, "timeout_seconds must be a number"
        sandbox_cwd = self._sandbox_path(self.view.resolve(cwd)) if cwd else None
        result = await self.sandbox.run(command, cwd=sandbox_cwd, timeout=timeout)
        for detail in result.blocked:
            if detail == READ_ONLY_LABEL:
                self._event("unauthorized_write", f"command wrote outside the allowed write paths ({detail})")
            else:
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
            out["sandbox_blocked"] = [elide(b, ERROR_CAP) for b in result.blocked]
        return out


def settle_write_events(events: list[SafetyEvent], profile: str) -> list[SafetyEvent]:
    """One event type and one penalty for writing outside the allowed paths, whichever layer caught it.

    bubblewrap refuses such a write (read-only mount, reported per command) while the local sandbox lets
    it happen and the diff finds it (reported per file); both are `unauthorized_write`. Under the `v1`
    profile it is recorded only (v1 had no such event); otherwise the trial's first one is penalized once.
    """
    settle = WriteSettlement(profile)
    return [settle(e) for e in events]


class WriteSettlement:
    """`settle_write_events` one event at a time, as a trial's events are emitted (EventLog.settle)."""

    def __init__(self, profile: str) -> None:
        self.profile, self.penalized_once = profile, False

    def __call__(self, event: SafetyEvent) -> SafetyEvent:
        if event.type != "unauthorized_write":
            return event
        penalize = self.profile != "v1" and not self.penalized_once
        self.penalized_once = self.penalized_once or penalize
        return event.model_copy(update={"penalized": penalize, "detail": elide(event.detail, ERROR_CAP)})


def _parse_args(profile: ToolProfile, name: str, raw: str | dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    if name not in profile.names:
        return None, f"unknown tool '{elide(name, 128)}' (available: {', '.join(sorted(profile.names))})"
    if isinstance(raw, dict):
        args = raw
    else:
        try:
            args = json.loads(raw or "{}")
        except (json.JSONDecodeError, RecursionError) as exc:
            where = f": {exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
            return None, f"arguments are not valid JSON{where}"
    if not isinstance(args, dict):
        return None, "arguments must be a JSON object"
    missing = [a for a in profile.required[name] if a not in args]
    if missing:
        return args, f"missing required argument(s): {', '.join(missing)}"
    return args, None
