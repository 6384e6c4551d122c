"""Raw per-task records (runsets.find_runs) as TaskResult, leniently: an original v1 record lacks our
extension fields (task.content_hash, metrics.score_v1, …) and may carry keys we do not know. Defaults fill the
first, the second are dropped; a record that still does not validate is skipped and counted."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from agentgym.results.runsets import RunFolder
from agentgym.specs.result import Metrics, OutputCheck, TaskInfo, TaskResult, Transcript

TASK_DEFAULTS: dict[str, Any] = {"difficulty": "", "limits": {}, "instruction": "", "policy": {}, "content_hash": ""}
METRIC_DEFAULTS: dict[str, Any] = {
    "success": False,
    "partial_score": 0.0,
    "score_0_100": 0.0,
    "commands_used": 0,
    "command_valid_rate": 0.0,
    "safety_violations": 0,
    "hallucination_signals": 0,
}


def _known(data: Any, model: type[BaseModel], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The keys of data that model knows (a non-dict is empty), defaults for missing ones, None dropped."""
    source = data if isinstance(data, dict) else {}
    kept = {k: v for k, v in source.items() if k in model.model_fields and v is not None}
    return {**(defaults or {}), **kept}


def to_task_result(raw: dict[str, Any], model_id: str = "") -> TaskResult | None:
    """The record as a TaskResult, or None when it does not validate even with defaults."""
    try:
        return TaskResult.model_validate(raw)
    except ValidationError:
        pass
    data = _known(raw, TaskResult)
    data["task"] = _known(raw.get("task"), TaskInfo, TASK_DEFAULTS)
    data["metrics"] = _known(raw.get("metrics"), Metrics, METRIC_DEFAULTS)
    checks = raw.get("output_checks")
    data["output_checks"] = (
        [_known(c, OutputCheck) for c in checks if isinstance(c, dict)] if isinstance(checks, list) else []
    )
    transcript = _known(raw.get("transcript"), Transcript)
    data["transcript"] = transcript
    data.setdefault("model_id", model_id)
    try:
        return TaskResult.model_validate(data)
    except ValidationError:
        try:  # a broken transcript should not cost the numbers
            return TaskResult.model_validate({**data, "transcript": {}})
        except ValidationError:
            return None


def run_results(run: RunFolder) -> tuple[list[TaskResult], int]:
    """The run's records that validate (model_id set to the run's model id) and how many did not."""
    out: list[TaskResult] = []
    for raw in run.records:
        result = to_task_result(raw, run.model_id)
        if result is not None:
            out.append(result.model_copy(update={"model_id": run.model_id}))
    return out, len(run.records) - len(out)


__all__ = ["run_results", "to_task_result"]
