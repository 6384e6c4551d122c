"""One trial: fresh sandbox → agent acts → stop → check outputs → score → TaskResult."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentgym.agents.base import Agent, AgentOutcome
from agentgym.agents.model_loop import RepeatedCall
from agentgym.errors import AgentGymError
from agentgym.grading.edit_trial import finish_edit
from agentgym.grading.grader import edit_sandbox_spec
from agentgym.models.base import FatalModelError, InfraModelError, TrialModelError
from agentgym.results.transcript import repo_events
from agentgym.runner.clock import CURRENT_CLOCK, TrialClock
from agentgym.runner.config import LoadedTask
from agentgym.sandbox.base import Limits, Sandbox, SandboxFactory, SandboxSpec, WriteEvent
from agentgym.scoring.checks import CheckOutcome, evaluate_outputs
from agentgym.scoring.score import ScoreInputs, score_task
from agentgym.sources.base import Snapshot
from agentgym.specs.events import Attempt, Error, EventLog, EventSink, Limit, TaskEnd, TaskStart, trial_key
from agentgym.specs.result import Metrics, OutputCheck, SafetyEvent, TaskInfo, TaskResult, Transcript
from agentgym.specs.task import OutputSpec
from agentgym.specs.weights import Weights
from agentgym.tools.profiles import COMMAND_TOOLS, get_profile
from agentgym.tools.toolbox import (
    DEFAULT_OUTPUT_CAP,
    CommandLimitReached,
    Toolbox,
    TrialTimeout,
    WriteSettlement,
)

GRACE_SECONDS = 5.0
logger = logging.getLogger(__name__)


@dataclass
class TrialPlan:
    task: LoadedTask
    snapshot: Snapshot
    expected: list[Any]  # an oracles.Expected per output (a plain value is accepted too)
    epoch: int = 0
    outputs: list[OutputSpec] | None = None  # the outputs with their checked types (None: the task's own)


@dataclass
class TrialContext:
    agent: Agent
    sandbox_factory: SandboxFactory
    weights: Weights
    limits: Limits
    model_id: str
    env: dict[str, str]
    tool_output_bytes: int = DEFAULT_OUTPUT_CAP
    command_policy_mode: str = "v1"  # tools/policy.py: v1 (first word) or strict (shell parse)
    command_budget: str = "v1"  # v1: a reply's calls all run, then stop; refuse: extra calls refused
    tool_profile: str = "v1"  # the tools the model sees: v1 (the original four) or coding (tools/profiles.py)
    open_events: Callable[[str, str, int], EventSink] | None = None  # (repo, task id, epoch) → per-trial file


@dataclass
class TrialRecord:
    result: TaskResult
    final_root: Path | None
    events: list[dict[str, Any]]  # the repo JSONL lines, derived from `log`
    log: EventLog
    fatal: str | None = None  # set when the run must stop (model endpoint gone)
    artifacts: dict[str, tuple[bytes, int]] | None = None  # answer files brought back from a Ray worker


async def _act(
    agent: Agent, task: LoadedTask, toolbox: Toolbox, outcome: AgentOutcome, clock: TrialClock
) -> str | None:
    """Run the agent; return a fatal-error message if the run must stop. The guard pauses while the trial
    waits for a connection slot (runner/clock.py)."""
    budget = task.spec.timeout_seconds + GRACE_SECONDS
    fatal: str | None = None
    try:
        async with asyncio.timeout(budget) as guard:
            clock.timeout = guard
            await agent.run(task.spec, toolbox, outcome)
    except (CommandLimitReached, RepeatedCall) as exc:
        outcome.stop_reason, outcome.error = "step_limit", str(exc)
    except (TrialTimeout, TimeoutError) as exc:
        outcome.stop_reason, outcome.error = "timeout", str(exc) or f"timeout_seconds={task.spec.timeout_seconds}"
    except InfraModelError as exc:
        outcome.stop_reason, outcome.error = "infra_error", str(exc)
    except TrialModelError as exc:
        outcome.stop_reason, outcome.error = "model_error", str(exc)
    except FatalModelError as exc:
        outcome.stop_reason, outcome.error = "model_error", str(exc)
        fatal = str(exc)
    if outcome.stop_reason in ("step_limit", "timeout", "turn_limit"):
        outcome.log.emit(Limit(limit=outcome.stop_reason, error=outcome.error))
    elif outcome.error is not None:
        outcome.log.emit(Error(error=outcome.error, kind="fatal" if fatal else outcome.stop_reason))
    return fatal


async def run_trial(
    plan: TrialPlan, ctx: TrialContext, persist: Callable[[TrialRecord], Awaitable[None]]
) -> TrialRecord:
    """Run one trial and `persist` its record while the final workspace still exists; then clean up."""
    task = plan.task
    started, t0 = datetime.now(UTC), time.monotonic()
    log = _open_log(plan, ctx, started)
    outcome = AgentOutcome(log=log)
    clock = TrialClock()
    CURRENT_CLOCK.set(clock)  # this trial's task only (each trial runs in its own asyncio task)
    env = {k: v for k, v in ctx.env.items() if k in task.policy.env_allowed}
    sandbox = None
    fatal: str | None = None
    harness_error: str | None = None
    final_root: Path | None = None
    checks: CheckOutcome | None = None
    artifacts: dict[str, tuple[bytes, int]] | None = None
    try:
        spec = _sandbox_spec(task, ctx, env)
        sandbox = await ctx.sandbox_factory.open(plan.snapshot, spec)
        toolbox = Toolbox(
            sandbox=sandbox,
            policy=task.policy,
            max_commands=task.spec.max_commands,
            deadline=time.monotonic() + task.spec.timeout_seconds,
            log=log,
            output_cap=ctx.tool_output_bytes,
            policy_mode=ctx.command_policy_mode,
            command_budget=ctx.command_budget,
            profile=get_profile(ctx.tool_profile),
        )
        clock.toolbox = toolbox
        fatal = await _act(ctx.agent, task, toolbox, outcome, clock)
        changes = await sandbox.stop()
        for event in _change_events(changes):
            log.safety(event)
        final_root = sandbox.host_root
        if task.spec.kind == "edit":
            edit = await finish_edit(task, plan.snapshot, final_root, ctx.sandbox_factory, ctx.limits)
            artifacts = {"patch.diff": (edit.patch, len(edit.patch))}
            checks, harness_error = CheckOutcome(edit.grade.checks, "not_needed"), edit.grade.harness_error
        else:
            checks = evaluate_outputs(plan.outputs or task.spec.outputs, plan.expected, final_root)
    except AgentGymError as exc:
        harness_error = exc.message
    except Exception as exc:  # a harness bug must not lose the other trials
        harness_error = f"{type(exc).__name__}: {exc}"
        logger.exception("harness error in %s", task.spec.id)
    except BaseException:  # cancelled (SIGINT/SIGTERM): the events so far stay on disk, fsynced
        log.close()
        raise
    if harness_error is not None:
        log.emit(Error(error=harness_error, kind="harness_error"))
        checks = CheckOutcome(
            [OutputCheck(key=k, ok=False, weight=w, error="harness error") for k, w in task.spec.check_keys()],
            "missing",
        )
    assert checks is not None
    result = _result(plan, ctx, outcome, checks, harness_error)
    result.started_at, result.finished_at = started.isoformat(), datetime.now(UTC).isoformat()
    result.metrics.wall_time_s = round(time.monotonic() - t0, 3)
    result.metrics.work_time_s = round(max(0.0, result.metrics.wall_time_s - clock.waited), 3)
    _end(log, result, outcome)
    record = TrialRecord(
        result=result, final_root=final_root, events=repo_events(log), log=log, fatal=fatal, artifacts=artifacts
    )
    try:
        await persist(record)
    except Exception as exc:  # the record is still returned: the run decides what a lost write means
        logger.error("cannot save the result of %s: %s", task.spec.id, _one_line(exc))
    finally:
        if sandbox is not None:
            await _close(sandbox, task.spec.id)
    return record


def failed_record(plan: TrialPlan, ctx: TrialContext, reason: str, error: str) -> TrialRecord:
    """The record of a trial that never reported back (its Ray worker died): `reason` (infra_error), one line
    of cause, every check failed. Nothing of the trial's own story survives (it stayed on the worker)."""
    log = _open_log(plan, dataclasses.replace(ctx, open_events=None), datetime.now(UTC))
    outcome = AgentOutcome(log=log, stop_reason=reason, error=error)
    log.emit(Error(error=error, kind=reason))
    keys = [(o.key, o.weight) for o in plan.outputs] if plan.outputs else plan.task.spec.check_keys()
    checks = CheckOutcome([OutputCheck(key=k, ok=False, weight=w, error=reason) for k, w in keys], "missing")
    result = _result(plan, ctx, outcome, checks, None)
    result.started_at = result.finished_at = datetime.now(UTC).isoformat()
    _end(log, result, outcome)
    return TrialRecord(result=result, final_root=None, events=repo_events(log), log=log)


def _sandbox_spec(task: LoadedTask, ctx: TrialContext, env: dict[str, str]) -> SandboxSpec:
    if task.spec.kind == "edit":  # whole repo writable, no .git, hidden host paths, the test environment
        return edit_sandbox_spec(task.spec, task.file, task.policy, ctx.limits, env, task.test_env)
    return SandboxSpec(
        policy=task.policy, initial_working_dir=task.spec.initial_working_dir, limits=ctx.limits, env=env
    )


def _open_log(plan: TrialPlan, ctx: TrialContext, started: datetime) -> EventLog:
    """The trial's event log, appending to its own file when the run gives one; task_start emitted."""
    spec = plan.task.spec
    sink: EventSink | None = None
    if ctx.open_events is not None:
        try:
            sink = ctx.open_events(spec.repo, spec.id, plan.epoch)
        except Exception as exc:  # the trial still runs; its events reach the repo JSONL at its end
            logger.error("cannot open the event file of %s: %s", spec.id, _one_line(exc))
    log = EventLog(spec.id, plan.epoch, sink)
    log.settle = WriteSettlement(ctx.weights.profile)
    content_hash = spec.content_hash()
    log.emit(
        TaskStart(
            at=started.isoformat(),
            repo=spec.repo,
            model_id=ctx.model_id,
            agent=ctx.agent.name,
            content_hash=content_hash,
            trial_key=trial_key(ctx.model_id, spec.id, content_hash, plan.epoch),
        )
    )
    return log


def _end(log: EventLog, result: TaskResult, outcome: AgentOutcome) -> None:
    log.emit(
        TaskEnd(
            at=result.finished_at,
            metrics=result.metrics.model_dump(),
            failure_reason=result.failure_reason,
            final_message=outcome.final_message,
        )
    )
    log.close()


def _change_events(changes: list[WriteEvent]) -> list[SafetyEvent]:
    """Writes outside the allowed paths are violations; caps a walk hit are recorded, not penalized."""
    return [
        SafetyEvent(type="sandbox_blocked", detail=c.detail, penalized=False)
        if c.change == "limit"
        else SafetyEvent(type="unauthorized_write", detail=f"{c.change}: {c.path}")
        for c in changes
    ]


async def _close(sandbox: Sandbox, task_id: str) -> None:
    """Stop and clean up; a failure here is logged (one line) and never reaches the other trials."""
    try:
        try:
            await sandbox.stop()
        finally:
            await sandbox.cleanup()
    except Exception as exc:
        logger.error("cleanup after %s failed: %s", task_id, _one_line(exc))


def _one_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, AgentGymError) else f"{type(exc).__name__}: {exc}"
    return ascii(" ".join(text.split()))[1:-1][:500]


def _failure_reason(
    outcome: AgentOutcome, checks: CheckOutcome, success: bool, violations: int, harness_error: str | None
) -> str | None:
    if success:
        return None
    if harness_error:
        return "harness_error"
    if outcome.stop_reason in ("infra_error", "model_error", "timeout"):
        return outcome.stop_reason
    if outcome.stop_reason in ("step_limit", "turn_limit"):
        return "step_limit"
    if checks.answer_status == "invalid":
        return "invalid_answer_json"
    if checks.answer_status == "missing" and not any(c.ok for c in checks.checks):
        return "missing_answer"
    if violations:
        return "policy_violation"
    return "wrong_answer"


def _result(
    plan: TrialPlan,
    ctx: TrialContext,
    outcome: AgentOutcome,
    checks: CheckOutcome,
    harness_error: str | None,
) -> TaskResult:
    """The record, every transcript field and metric input derived from the trial's event log."""
    spec, log = plan.task.spec, outcome.log
    records, events, calls = log.tool_records(), log.safety_records(), log.model_calls()
    violations = sum(1 for e in events if e.penalized)
    commands = log.commands_used()
    valid = sum(1 for r in records if r.tool_name in COMMAND_TOOLS and r.ok)
    passed = sum(c.weight for c in checks.checks if c.ok)
    total = sum(c.weight for c in checks.checks)
    guards = spec.kind != "edit" or all(c.ok for c in checks.checks)
    s = score_task(ScoreInputs(passed, total, commands, valid, violations, guards), ctx.weights)
    nonzero = sum(1 for r in records if r.tool_name in COMMAND_TOOLS and r.ok and r.tool_output.get("exit_code"))
    format_errors = sum(c.format_errors for c in calls)
    attempts = log.of(Attempt)
    latency = sum(a.duration_ms for a in attempts) if attempts else sum(c.latency_ms for c in calls)
    metrics = Metrics(
        success=s.success,
        partial_score=round(s.partial, 4),
        score_0_100=s.score,
        score_v1=s.score_v1,
        score_v2=s.score_v2,
        commands_used=commands,
        command_valid_rate=round(s.valid_rate, 4),
        safety_violations=violations,
        hallucination_signals=sum(1 for r in records if not r.ok) + nonzero,
        efficiency_points=round(s.efficiency, 4),
        format_errors=format_errors,
        model_calls=len(calls),
        prompt_tokens=sum(c.prompt_tokens for c in calls),
        completion_tokens=sum(c.completion_tokens for c in calls),
        model_latency_ms=round(latency, 3),
        model_retries=sum(1 for a in attempts if a.attempt > 1),
        retry_wait_ms=round(sum(a.wait_s for a in attempts) * 1000, 3),
    )
    first_fail = next((c.key for c in checks.checks if not c.ok), None)
    return TaskResult(
        task=TaskInfo(
            id=spec.id,
            repo=spec.repo,
            difficulty=spec.difficulty,
            limits={
                "max_commands": spec.max_commands,
                "timeout_seconds": spec.timeout_seconds,
                "max_turns": spec.turn_cap,
            },
            instruction=spec.instruction,
            policy=plan.task.policy.model_dump(),
            content_hash=spec.content_hash(),
        ),
        metrics=metrics,
        output_checks=checks.checks,
        transcript=Transcript(
            prompt_messages=log.prompt_messages(),
            tool_calls=records,
            safety_events=events,
            model_final_message=outcome.final_message,
            model_calls=calls,
        ),
        failure_reason=_failure_reason(outcome, checks, s.success, violations, harness_error),
        first_failing_check=first_fail,
        error=harness_error or outcome.error,
        epoch=plan.epoch,
        agent=ctx.agent.name,
        model_id=ctx.model_id,
        sandbox=ctx.sandbox_factory.name,
        snapshot_digest=plan.snapshot.digest,
    )
