"""What `agentgym tasks validate` found: one TaskReport per task file, verdicts over the trial records, and the
per-kind checks over repeats (an `edit` task adds its "grading tests flaky across repeats" hook here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.oracles.cache import canonical_json
from agentgym.specs.result import TaskResult
from agentgym.specs.task import TaskSpec


@dataclass
class Step:
    """One check of a task: `ok` None when it did not run (an earlier step failed), its time in seconds."""

    name: str
    ok: bool | None = None
    detail: str | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "seconds": round(self.seconds, 3)}


@dataclass
class TaskReport:
    file: Path
    task_id: str | None = None
    repo: str | None = None
    spec: TaskSpec | None = None
    steps: list[Step] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    trials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # agent -> one summary per repeat

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def name(self) -> str:
        return self.task_id or str(self.file)

    def step(self, name: str, ok: bool, detail: str | None = None, seconds: float = 0.0) -> bool:
        self.steps.append(Step(name, ok, detail, seconds))
        if not ok:
            self.reasons.append(f"{name}: {detail}" if detail else name)
        return ok

    def fail(self, reason: str) -> None:
        self.reasons.append(reason)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.task_id,
            "file": str(self.file),
            "repo": self.repo,
            "ok": self.ok,
            "reasons": self.reasons,
            "steps": [s.as_json() for s in self.steps],
            "trials": self.trials,
        }


@dataclass
class ValidationReport:
    task_set: str
    repeats: int
    tasks: list[TaskReport]
    timings: dict[str, float] = field(default_factory=dict)  # step -> wall seconds over all tasks

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tasks)

    @property
    def failed(self) -> list[TaskReport]:
        return [t for t in self.tasks if not t.ok]

    def as_json(self) -> dict[str, Any]:
        return {
            "task_set": self.task_set,
            "repeats": self.repeats,
            "ok": self.ok,
            "summary": {"tasks": len(self.tasks), "ok": len(self.tasks) - len(self.failed), "failed": len(self.failed)},
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "tasks": [t.as_json() for t in self.tasks],
        }


# ------------------------------------------------------------------------------------------ over the repeats


def outcome(record: TaskResult) -> tuple[bool, tuple[tuple[str, str, bool], ...]]:
    """What must not change across repeats: success, and every check's actual value and verdict."""
    checks = tuple((c.key, canonical_json(c.actual), c.ok) for c in record.output_checks)
    return record.metrics.success, checks


def outcome_flakiness(records: list[TaskResult]) -> list[str]:
    """The L1 check: a task whose success or any check's actual value differs across repeats is flaky."""
    if len({outcome(r) for r in records}) <= 1:
        return []
    if len({r.metrics.success for r in records}) > 1:
        wins = sum(r.metrics.success for r in records)
        return [f"success differs across repeats ({wins}/{len(records)} succeeded)"]
    keys = sorted({c.key for r in records for c in r.output_checks})
    varying = [k for k in keys if len({_check_of(r, k) for r in records}) > 1]
    return [f"check '{k}' differs across repeats" for k in varying]


def _check_of(record: TaskResult, key: str) -> str:
    return canonical_json([[c.actual, c.ok] for c in record.output_checks if c.key == key])


def has_reference(spec: TaskSpec) -> bool:
    """Whether the oracle agent has something to run: `solution:` steps, or an edit task's reference_patch."""
    return spec.reference_patch is not None or bool(spec.solution_steps())


def trial_summary(record: TaskResult) -> dict[str, Any]:
    return {
        "epoch": record.epoch,
        "success": record.metrics.success,
        "score": record.metrics.score_0_100,
        "failure_reason": record.failure_reason,
        "first_failing_check": record.first_failing_check,
        "error": record.error,
        "checks": [
            {"key": c.key, "ok": c.ok, "actual": c.actual, "expected": c.expected} for c in record.output_checks
        ],
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }


def _why(record: TaskResult) -> str:
    return record.error or record.first_failing_check or record.failure_reason or "failed"


def judge_runs(report: TaskReport, agent: str, records: list[TaskResult], repeats: int, seconds: float) -> None:
    """The oracle agent must succeed on every repeat, the nop agent fail on every one; neither may be flaky."""
    assert report.spec is not None
    records = sorted(records, key=lambda r: r.epoch)
    report.trials[agent] = [trial_summary(r) for r in records]
    step = f"{agent} runs"
    if len(records) < repeats:
        report.step(step, False, f"{len(records)} of {repeats} trial records written", seconds)
        return
    wins = sum(r.metrics.success for r in records)
    flaky = outcome_flakiness(records)  # an edit task's checks are its grading tests: flaky tests show here
    if agent == "oracle" and wins < repeats:
        failed = next(r for r in records if not r.metrics.success)
        report.step(step, False, f"reference fails ({repeats - wins}/{repeats} repeats; {_why(failed)})", seconds)
    elif agent == "nop" and wins:
        report.step(step, False, f"nop passes ({wins}/{repeats} repeats)", seconds)
    else:
        report.step(step, True, None, seconds)
    for what in flaky:
        report.fail(f"flaky ({agent} agent): {what}")
