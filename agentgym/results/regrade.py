"""`agentgym regrade RUN_DIR`: recompute checks and scores of a finished run from what it stored.

No model call and no sandbox. The task specs are reloaded by id from the config tree and must be the ones the
run used (same content hash, same snapshot digest): a regrade scores the same work with today's oracles and
weights; a changed task is a different task (use `agentgym run --replay` for that), so it is refused with one
line. Expected values are recomputed on the pristine snapshot (cached). Value checks read the stored
`artifacts/<repo>/<task>/answer.json`; `oracle_bool` checks on `eval_artifacts/*` re-run on a temporary tree
made from the stored artifacts. A check that needs other files of the agent's final tree cannot be recomputed:
it is kept from the original record and listed in run_config `regrade.kept_from_original`.
Commands used, valid commands, hallucination signals and safety events are kept from the record (write
events are settled again under the current profile). The new run folder `<model>-regrade-<timestamp>/` has the
original layout; its run_config names `regraded_from`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentgym.agents.base import AgentOutcome
from agentgym.errors import AgentGymError
from agentgym.fsutil import write_atomic
from agentgym.oracles.agentfile import MAX_AGENT_FILE_BYTES, read_agent_file
from agentgym.results.rundir import ARTIFACT_FILES, RunDir, trial_name
from agentgym.results.transcript import read_events
from agentgym.runner.run import RunRequest, load_plan, new_run_id
from agentgym.runner.trial import TrialPlan, _failure_reason
from agentgym.scoring.checks import CheckOutcome, evaluate_outputs
from agentgym.scoring.score import ScoreInputs, score_task
from agentgym.specs.result import OutputCheck, TaskResult
from agentgym.specs.task import OutputSpec
from agentgym.specs.weights import Weights
from agentgym.tools.toolbox import settle_write_events

MAX_RECORD_BYTES = 64 * 1024 * 1024  # a per-task JSON larger than this is not a record of ours
_PROCESS_REASONS = ("timeout", "model_error", "infra_error", "step_limit")


class RegradeError(AgentGymError):
    """The run folder cannot be regraded as asked (missing files, tasks gone or changed)."""


@dataclass
class RegradeRequest:
    run_dir: Path
    runs_root: Path | None = None  # default: the folder holding RUN_DIR
    scoring_profile: str | None = None  # default: the profile the run was scored with
    config_dir: Path | None = None  # default: the run's config_dir (run_config), else the packaged defaults


@dataclass
class RegradeOutcome:
    root: Path
    results: list[TaskResult]
    kept: list[dict[str, str]] = field(default_factory=list)  # checks kept from the original record


def _read_json(path: Path, what: str) -> Any:
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise RegradeError(f"{path}: {what} is larger than {MAX_RECORD_BYTES} bytes")
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        raise RegradeError(f"{path}: {what} missing; is this a run folder?") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise RegradeError(f"{path}: {what} cannot be read: {str(exc).splitlines()[0][:200]}") from None


def load_records(run_dir: Path) -> list[TaskResult]:
    """Every per-task record of a run folder (results/<repo>/*.json but index.json), in file order."""
    records = []
    for path in sorted((run_dir / "results").glob("*/*.json")):
        if path.name == "index.json":
            continue
        try:
            records.append(TaskResult.model_validate(_read_json(path, "per-task result")))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RegradeError(f"{path}: not a per-task result ({where}: {first['msg']})") from None
    if not records:
        raise RegradeError(f"{run_dir}: no per-task results under results/<repo>/")
    return records


def _config_dir(req: RegradeRequest, config: dict[str, Any]) -> Path | None:
    if req.config_dir is not None:
        return req.config_dir
    recorded = config.get("config_dir")
    if isinstance(recorded, str) and recorded != "(packaged defaults)":
        if not Path(recorded).is_dir():
            raise RegradeError(f"the run's config tree {recorded} is gone; pass --config-dir")
        return Path(recorded)
    return None


def _match(records: list[TaskResult], trials: dict[str, TrialPlan]) -> None:
    """Refuse (one line) when a recorded task is gone, changed, or its snapshot is not the one the run used."""
    for r in records:
        trial = trials.get(r.task.id)
        if trial is None:
            raise RegradeError(f"task {r.task.id} ({r.task.repo}) is no longer in the config tree; cannot regrade")
        now = trial.task.spec.content_hash()
        if now != r.task.content_hash:
            raise RegradeError(
                f"task {r.task.id} changed since the run (content hash {r.task.content_hash[:12]} -> {now[:12]}); "
                "a regrade scores the same task: use `agentgym run --replay` to re-run the recorded actions"
            )
        if r.snapshot_digest and r.snapshot_digest != trial.snapshot.digest:
            raise RegradeError(
                f"task {r.task.id}: repo {r.task.repo} snapshot is {trial.snapshot.digest[:16]}, "
                f"the run used {r.snapshot_digest[:16]}; cannot regrade"
            )


def _stage_artifacts(art: Path, root: Path) -> set[str]:
    """Copy the stored answer files into `root/eval_artifacts/`; return the names that were cut when stored."""
    cut = set()
    for name in ARTIFACT_FILES:
        found = read_agent_file(art, name, limit=MAX_AGENT_FILE_BYTES, follow_links=False)
        if found.ok:
            write_atomic(root / "eval_artifacts" / name, found.data)
        if (art / f"{name}.truncated.txt").is_file():
            cut.add(name)
    return cut


def _recomputable(out: OutputSpec, cut: set[str]) -> bool:
    """Whether the stored artifacts hold everything this check reads."""
    if out.type != "oracle_bool":
        return "answer.json" not in cut
    path = str(out.oracle.args.get("path", ""))
    return path.startswith("eval_artifacts/") and path.removeprefix("eval_artifacts/") not in cut


def _checks(record: TaskResult, trial: TrialPlan, art: Path, root: Path) -> tuple[CheckOutcome, list[str]]:
    if trial.task.spec.kind == "edit":  # graded by running tests on a tree that is gone: the checks are kept
        return CheckOutcome(list(record.output_checks), "not_needed"), [c.key for c in record.output_checks]
    outputs = trial.outputs or trial.task.spec.outputs
    cut = _stage_artifacts(art, root)
    fresh = evaluate_outputs(outputs, trial.expected, root)
    original = {c.key: c for c in record.output_checks}
    checks, kept = [], []
    for out, check in zip(outputs, fresh.checks, strict=True):
        if _recomputable(out, cut):
            checks.append(check)
            continue
        kept.append(out.key)
        missing = OutputCheck(key=out.key, ok=False, weight=out.weight, error="not in the original record")
        checks.append(original.get(out.key, missing))
    return CheckOutcome(checks, fresh.answer_status, fresh.answer_detail), kept


def _rescored(record: TaskResult, checks: CheckOutcome, weights: Weights) -> TaskResult:
    m = record.metrics
    events = settle_write_events(record.transcript.safety_events, weights.profile)
    violations = sum(1 for e in events if e.penalized)
    valid = round(m.command_valid_rate * m.commands_used)
    passed = sum(c.weight for c in checks.checks if c.ok)
    total = sum(c.weight for c in checks.checks)
    s = score_task(ScoreInputs(passed, total, m.commands_used, valid, violations), weights)
    stop = record.failure_reason if record.failure_reason in _PROCESS_REASONS else "done"
    reason = _failure_reason(AgentOutcome(stop_reason=stop or "done"), checks, s.success, violations, None)
    metrics = m.model_copy(
        update={
            "success": s.success,
            "partial_score": round(s.partial, 4),
            "score_0_100": s.score,
            "score_v1": s.score_v1,
            "score_v2": s.score_v2,
            "command_valid_rate": round(s.valid_rate, 4),
            "safety_violations": violations,
            "efficiency_points": round(s.efficiency, 4),
        }
    )
    transcript = record.transcript.model_copy(update={"safety_events": events})
    return record.model_copy(
        update={
            "metrics": metrics,
            "output_checks": checks.checks,
            "transcript": transcript,
            "failure_reason": reason,
            "first_failing_check": next((c.key for c in checks.checks if not c.ok), None),
        }
    )


def _trial_events(run_dir: Path, repo: str) -> dict[tuple[str, int], list[dict[str, Any]]]:
    path = run_dir / "transcripts" / f"{repo}.jsonl"
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    if path.is_file():
        for e in read_events(path):
            if isinstance(e, dict):
                epoch = e.get("epoch") if isinstance(e.get("epoch"), int) else 0
                grouped.setdefault((str(e.get("task_id")), epoch), []).append(e)
    return grouped


def _events(original: list[dict[str, Any]], result: TaskResult, source: Path) -> list[dict[str, Any]]:
    """The original trial's lines, its task_end replaced by the regraded one, plus a `regrade` line."""
    base = {"task_id": result.task.id, "epoch": result.epoch}
    kept = [e for e in original if e.get("type") != "task_end"]
    end = next((e for e in original if e.get("type") == "task_end"), {})
    return [
        *kept,
        {**base, "type": "regrade", "at": datetime.now(UTC).isoformat(), "regraded_from": str(source)},
        {
            **end,
            **base,
            "type": "task_end",
            "metrics": result.metrics.model_dump(),
            "failure_reason": result.failure_reason,
        },
    ]


def regrade(req: RegradeRequest, *, progress: Callable[[str], None] = lambda _m: None) -> RegradeOutcome:
    """Regrade every record of `req.run_dir` into a new run folder; refuse (RegradeError) before writing."""
    source = req.run_dir.resolve()
    config = _read_json(source / "results" / "run_config.json", "results/run_config.json")
    if not isinstance(config, dict):
        raise RegradeError(f"{source}/results/run_config.json: not a JSON object")
    records = load_records(source)
    scoring = config.get("scoring") if isinstance(config.get("scoring"), dict) else {}
    profile = req.scoring_profile or scoring.get("profile")
    run_req = RunRequest(
        config_dir=_config_dir(req, config),
        task_set=str(config.get("task_set") or "l1"),
        repos=sorted({r.task.repo for r in records}),
        scoring_profile=profile if profile in ("v1", "v2") else None,
    )
    plan = load_plan(run_req, progress=progress)
    trials = {t.task.spec.id: t for t in plan.trials}
    _match(records, trials)
    model = str(config.get("model_id") or records[0].model_id or "model")
    rundir = RunDir.create(req.runs_root or source.parent, f"{model}-regrade", secrets=[])
    outcome = RegradeOutcome(rundir.root, [])
    try:
        with tempfile.TemporaryDirectory(prefix="agentgym-regrade-") as staging:
            results = _regrade_all(source, records, trials, plan.weights, Path(staging), outcome)
            rundir.write_run_config(_run_config(config, plan.weights, source, outcome))
            for result, staged, events in results:
                rundir.record(result, staged, events)
        rundir.write_summary(status="finished")
    finally:
        rundir.close()
    return outcome


def _regrade_all(
    source: Path,
    records: list[TaskResult],
    trials: dict[str, TrialPlan],
    weights: Weights,
    staging: Path,
    outcome: RegradeOutcome,
) -> list[tuple[TaskResult, Path, list[dict[str, Any]]]]:
    events = {repo: _trial_events(source, repo) for repo in {r.task.repo for r in records}}
    done = []
    for n, record in enumerate(records):
        root = staging / str(n)
        root.mkdir()
        art = source / "artifacts" / record.task.repo / trial_name(record)
        if record.failure_reason == "harness_error":  # nothing the agent did was evaluated: keep as it was
            result, kept = record, [c.key for c in record.output_checks]
            _stage_artifacts(art, root)
        else:
            checks, kept = _checks(record, trials[record.task.id], art, root)
            result = _rescored(record, checks, weights)
        outcome.kept += [{"task_id": record.task.id, "epoch": str(record.epoch), "key": k} for k in kept]
        outcome.results.append(result)
        original = events[record.task.repo].get((record.task.id, record.epoch), [])
        done.append((result, root, _events(original, result, source)))
    return done


def _run_config(config: dict[str, Any], weights: Weights, source: Path, outcome: RegradeOutcome) -> dict[str, Any]:
    return {
        **config,
        "run_id": new_run_id(),
        "created_at": datetime.now(UTC).isoformat(),
        "scoring": weights.model_dump(),
        "regraded_from": str(source),
        "regrade": {
            "original_run_id": config.get("run_id"),
            "kept_from_original": outcome.kept,
            "note": "checks listed in kept_from_original read agent files outside the stored artifacts; "
            "they are kept from the original record",
        },
    }


__all__ = ["RegradeError", "RegradeOutcome", "RegradeRequest", "load_records", "regrade"]
