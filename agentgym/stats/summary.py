"""Per model and per repo / difficulty / task: score, success, pass@k, pass^k with intervals and MDE."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import sqrt

from agentgym.specs.result import TaskResult
from agentgym.stats.clustered import binary_sd, clustered_mean, mde
from agentgym.stats.grouping import by_task, group_by, is_infra, latest_attempts
from agentgym.stats.proportions import pass_at_k, pass_hat_k, wilson
from agentgym.stats.records import Estimate, _Frozen
from agentgym.stats.usage import (
    LatencyStats,
    Prices,
    TokenStats,
    ToolQuality,
    cost,
    failure_reasons,
    latency_stats,
    token_stats,
    tool_quality,
)

Units = list[list[TaskResult]]  # the sampling units: tasks (their trials), or single trials of one task


class GroupStats(_Frozen):
    tasks: int
    trials: int
    infra_errors: int
    epochs_min: int
    epochs_max: int
    mean_score: Estimate
    success_rate: Estimate
    mean_score_excluding_infra: Estimate
    success_rate_excluding_infra: Estimate
    pass_at_k: dict[int, Estimate]
    pass_hat_k: dict[int, Estimate]


class ModelSummary(_Frozen):
    model: str
    overall: GroupStats
    per_repo: dict[str, GroupStats]
    per_difficulty: dict[str, GroupStats]
    per_task: dict[str, GroupStats]
    tokens: TokenStats
    latency: LatencyStats
    cost_usd: float | None
    tool_quality: ToolQuality
    failure_reasons: dict[str, int]


def success_estimate(units: Units, level: float = 0.95) -> Estimate:
    """Wilson when every unit is one trial (a single-epoch proportion); else the clustered t interval."""
    if not units:
        return Estimate(value=None)
    if any(len(u) != 1 for u in units):
        return clustered_mean([[float(r.metrics.success) for r in u] for u in units], level, bounds=(0.0, 1.0))
    count, wins = len(units), sum(1 for u in units if u[0].metrics.success)
    return Estimate(
        value=wins / count,
        se=sqrt(wins / count * (1 - wins / count) / count),
        interval=wilson(wins, count, level),
        mde=mde(binary_sd(wins, count), count, paired=False),
        tasks=count,
        trials=count,
    )


def score_estimate(units: Units, level: float = 0.95) -> Estimate:
    return clustered_mean([[r.metrics.score_0_100 for r in u] for u in units], level, bounds=(0.0, 100.0))


def _pass_estimates(units: Units, estimator: Callable[[int, int, int], float], level: float) -> dict[int, Estimate]:
    """k = 1 … the fewest trials of any task; per-task unbiased estimates, clustered over tasks."""
    if not units:
        return {}
    counts = [(len(u), sum(1 for r in u if r.metrics.success)) for u in units]
    return {
        k: clustered_mean([[estimator(n, c, k)] for n, c in counts], level, bounds=(0.0, 1.0))
        for k in range(1, min(n for n, _ in counts) + 1)
    }


def _units(results: Sequence[TaskResult], *, per_trial: bool, exclude_infra: bool) -> Units:
    kept = [r for r in results if not (exclude_infra and is_infra(r))]
    return [[r] for r in kept] if per_trial else list(by_task(kept).values())


def group_stats(results: Sequence[TaskResult], *, per_trial: bool = False, level: float = 0.95) -> GroupStats:
    """Statistics of one group. per_trial: the group is one task, its epochs are the sampling units."""
    results = latest_attempts(results)
    tasks = list(by_task(results).values())
    units = _units(results, per_trial=per_trial, exclude_infra=False)
    clean = _units(results, per_trial=per_trial, exclude_infra=True)
    return GroupStats(
        tasks=len(tasks),
        trials=len(results),
        infra_errors=sum(1 for r in results if is_infra(r)),
        epochs_min=min((len(t) for t in tasks), default=0),
        epochs_max=max((len(t) for t in tasks), default=0),
        mean_score=score_estimate(units, level),
        success_rate=success_estimate(units, level),
        mean_score_excluding_infra=score_estimate(clean, level),
        success_rate_excluding_infra=success_estimate(clean, level),
        pass_at_k=_pass_estimates(tasks, pass_at_k, level),
        pass_hat_k=_pass_estimates(tasks, pass_hat_k, level),
    )


def summarize_model(
    results: Sequence[TaskResult], *, model: str = "", prices: Prices | None = None, level: float = 0.95
) -> ModelSummary:
    """Everything for one model's records (one run folder, or one model of a campaign)."""
    results = latest_attempts(results)
    tokens = token_stats(results)
    return ModelSummary(
        model=model or next((r.model_id for r in results if r.model_id), ""),
        overall=group_stats(results, level=level),
        per_repo={k: group_stats(v, level=level) for k, v in group_by(results, lambda r: r.task.repo).items()},
        per_difficulty={
            k: group_stats(v, level=level) for k, v in group_by(results, lambda r: r.task.difficulty).items()
        },
        per_task={
            k: group_stats(v, per_trial=True, level=level)
            for k, v in group_by(results, lambda r: f"{r.task.repo}/{r.task.id}").items()
        },
        tokens=tokens,
        latency=latency_stats(results),
        cost_usd=cost(tokens, prices),
        tool_quality=tool_quality(results),
        failure_reasons=failure_reasons(results),
    )


def summarize_models(
    results_by_model: Mapping[str, Sequence[TaskResult]],
    prices: Mapping[str, Prices] | None = None,
    level: float = 0.95,
) -> dict[str, ModelSummary]:
    """One summary per model of a campaign (or per run folder), prices looked up by the same name."""
    prices = prices or {}
    return {
        name: summarize_model(rs, model=name, prices=prices.get(name), level=level)
        for name, rs in sorted(results_by_model.items())
    }
