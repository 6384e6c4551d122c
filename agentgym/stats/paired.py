"""Paired comparison of two models over the tasks they share: McNemar, paired bootstrap, verdict, flips."""

from __future__ import annotations

from collections.abc import Sequence
from math import sqrt
from typing import Literal, NamedTuple

import numpy as np
from pydantic import computed_field
from scipy.stats import binomtest, pearsonr, ttest_1samp

from agentgym.specs.result import TaskResult
from agentgym.stats.clustered import ALPHA, binary_sd, cluster_bootstrap, mde, t_interval
from agentgym.stats.grouping import TaskKey, by_task
from agentgym.stats.proportions import wilson
from agentgym.stats.records import Interval, _Frozen

Verdict = Literal["regression", "improvement", "no detectable change", "insufficient data"]
Quantity = Literal["score", "success"]
BOOTSTRAP_MIN_TASKS = 30  # below: the paired t interval (measured coverage in tests/test_stats.py)


class TaskDelta(_Frozen):
    repo: str
    task: str
    base_score: float
    candidate_score: float
    base_success: float = 0.0  # share of the task's trials that succeeded
    candidate_success: float = 0.0
    base_trials: int = 1
    candidate_trials: int = 1

    @computed_field  # type: ignore[prop-decorator]
    @property
    def delta(self) -> float:
        return self.candidate_score - self.base_score


class Comparison(_Frozen):
    quantity: Quantity
    method: str  # mcnemar-exact; paired-t (under 30 shared tasks) or paired-bootstrap; p value of the paired t
    shared_tasks: int
    base_only: list[str]
    candidate_only: list[str]
    base_mean: float | None
    candidate_mean: float | None
    difference: float | None  # candidate − base, in the quantity's units (score points; success as 0–1)
    interval: Interval | None
    t_interval: Interval | None = None  # score / multi-epoch: both intervals, `interval` is one of them
    bootstrap_interval: Interval | None = None
    p_value: float | None
    significant: bool
    mde: float | None  # paired MDE at this task count, from the SD of the per-task differences
    min_effect: float | None
    correlation: float | None  # Pearson, per-task values of base vs candidate
    solved_to_failed: list[str]
    failed_to_solved: list[str]
    deltas: list[TaskDelta]
    verdict: Verdict
    reason: str


def mcnemar_exact(solved_to_failed: int, failed_to_solved: int) -> float:
    """Two-sided exact McNemar p value: the discordant pairs against Binomial(b + c, 1/2)."""
    discordant = solved_to_failed + failed_to_solved
    return 1.0 if discordant == 0 else float(binomtest(failed_to_solved, discordant, 0.5).pvalue)


def newcombe_interval(table: tuple[int, int, int, int], level: float = 0.95) -> Interval:
    """Newcombe's method 10 interval for a paired difference of proportions (candidate − base).

    table = (both solved, base only, candidate only, neither). Built from the two Wilson intervals and the
    phi correlation of the pairs (continuity-corrected when positive), so it stays inside [−1, 1] and does
    not collapse when no pair is discordant.
    """
    both, base_only, cand_only, neither = table
    n = sum(table)
    p_base, p_cand = (both + base_only) / n, (both + cand_only) / n
    wb, wc = wilson(both + base_only, n, level), wilson(both + cand_only, n, level)
    margins = (both + base_only) * (cand_only + neither) * (both + cand_only) * (base_only + neither)
    cross = both * neither - base_only * cand_only
    if cross > 0:  # Newcombe's continuity correction of phi (Fagerland, Lydersen and Laake 2014)
        cross = max(cross - n / 2, 0.0)
    phi = cross / sqrt(margins) if margins else 0.0
    diff = p_cand - p_base
    lower = sqrt(
        max(0.0, (p_cand - wc.low) ** 2 - 2 * phi * (p_cand - wc.low) * (wb.high - p_base) + (wb.high - p_base) ** 2)
    )
    upper = sqrt(
        max(0.0, (p_base - wb.low) ** 2 - 2 * phi * (p_base - wb.low) * (wc.high - p_cand) + (wc.high - p_cand) ** 2)
    )
    return Interval(low=max(-1.0, diff - lower), high=min(1.0, diff + upper), level=level, method="newcombe")


def verdict_for(
    difference: float | None, significant: bool, detectable: float | None, min_effect: float | None, tasks: int
) -> tuple[Verdict, str]:
    """Significant changes of at least min_effect win; else too few tasks (MDE > min_effect); else no change."""
    if difference is None or tasks < 2:
        return "insufficient data", f"{tasks} shared task(s): at least 2 are needed"
    big_enough = min_effect is None or abs(difference) >= min_effect
    if significant and big_enough:
        kind: Verdict = "regression" if difference < 0 else "improvement"
        return kind, f"difference {difference:+.4g} is significant at {ALPHA:g}"
    if min_effect is not None and detectable is not None and detectable > min_effect:
        return "insufficient data", (
            f"the minimum detectable effect at {tasks} tasks is {detectable:.4g}, above min_effect {min_effect:g}"
        )
    if significant:
        return (
            "no detectable change",
            f"difference {difference:+.4g} is significant but below min_effect {min_effect:g}",
        )
    return "no detectable change", f"difference {difference:+.4g} is within the interval of no change"


def correlation(base: np.ndarray, candidate: np.ndarray) -> float | None:
    """Pearson correlation of per-task values; None below three tasks or when either side is constant."""
    if len(base) < 3 or np.ptp(base) == 0 or np.ptp(candidate) == 0:
        return None
    return float(pearsonr(base, candidate).statistic)


def _task_label(key: TaskKey) -> str:
    return f"{key[0]}/{key[1]}"


def _deltas(base: dict[TaskKey, list[TaskResult]], cand: dict[TaskKey, list[TaskResult]]) -> list[TaskDelta]:
    out = []
    for key in sorted(base.keys() & cand.keys()):
        b, c = base[key], cand[key]
        out.append(
            TaskDelta(
                repo=key[0],
                task=key[1],
                base_score=float(np.mean([r.metrics.score_0_100 for r in b])),
                candidate_score=float(np.mean([r.metrics.score_0_100 for r in c])),
                base_success=float(np.mean([r.metrics.success for r in b])),
                candidate_success=float(np.mean([r.metrics.success for r in c])),
                base_trials=len(b),
                candidate_trials=len(c),
            )
        )
    return out


def compare(
    base: Sequence[TaskResult],
    candidate: Sequence[TaskResult],
    *,
    quantity: Quantity = "score",
    min_effect: float | None = None,
    exclude_infra: bool = True,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Paired comparison over shared tasks (a task = repo + task id; its epochs averaged).

    Single-epoch success on both sides: exact McNemar on the discordant tasks, Newcombe interval.
    Scores, or success over several epochs: the mean per-task difference with the paired t interval and
    the paired task-level bootstrap (expanded percentile); the verdict reads the bootstrap from 30 shared
    tasks on and the t interval below (the bootstrap under-covers there); p value from the paired t test. A task is solved when at least half its trials
    succeeded; flips list tasks solved by one side only. Infra failures are dropped first (exclude_infra).
    """
    b_tasks, c_tasks = by_task(base, exclude_infra=exclude_infra), by_task(candidate, exclude_infra=exclude_infra)
    deltas = _deltas(b_tasks, c_tasks)
    use_success = quantity == "success"
    bv = np.array([d.base_success if use_success else d.base_score for d in deltas])
    cv = np.array([d.candidate_success if use_success else d.candidate_score for d in deltas])
    single = use_success and all(d.base_trials == 1 and d.candidate_trials == 1 for d in deltas)
    test = _mcnemar(deltas, level) if single else _paired_means(cv - bv, level, seed)
    difference = float(np.mean(cv - bv)) if deltas else None
    interval = test.interval
    significant = interval is not None and (interval.low > 0 or interval.high < 0)
    if single:
        significant = test.p_value is not None and test.p_value < ALPHA
    verdict, reason = verdict_for(difference, significant, test.mde, min_effect, len(deltas))
    return Comparison(
        quantity=quantity,
        method=test.method,
        shared_tasks=len(deltas),
        base_only=sorted(_task_label(k) for k in b_tasks.keys() - c_tasks.keys()),
        candidate_only=sorted(_task_label(k) for k in c_tasks.keys() - b_tasks.keys()),
        base_mean=float(np.mean(bv)) if deltas else None,
        candidate_mean=float(np.mean(cv)) if deltas else None,
        difference=difference,
        interval=interval,
        t_interval=test.t_interval,
        bootstrap_interval=test.bootstrap_interval,
        p_value=test.p_value,
        significant=significant,
        mde=test.mde,
        min_effect=min_effect,
        correlation=correlation(bv, cv),
        solved_to_failed=[f"{d.repo}/{d.task}" for d in deltas if d.base_success >= 0.5 > d.candidate_success],
        failed_to_solved=[f"{d.repo}/{d.task}" for d in deltas if d.candidate_success >= 0.5 > d.base_success],
        deltas=deltas,
        verdict=verdict,
        reason=reason,
    )


class _Test(NamedTuple):
    mde: float | None = None
    p_value: float | None = None
    interval: Interval | None = None  # the one the verdict reads
    t_interval: Interval | None = None
    bootstrap_interval: Interval | None = None
    method: str = "mcnemar-exact"


def _mcnemar(deltas: list[TaskDelta], level: float) -> _Test:
    both = sum(1 for d in deltas if d.base_success and d.candidate_success)
    lost = sum(1 for d in deltas if d.base_success and not d.candidate_success)
    won = sum(1 for d in deltas if d.candidate_success and not d.base_success)
    count = len(deltas)
    if count == 0:
        return _Test()
    return _Test(
        mde=mde(binary_sd(lost + won, count), count, paired=True),
        p_value=mcnemar_exact(lost, won),
        interval=newcombe_interval((both, lost, won, count - both - lost - won), level),
    )


def _paired_means(diffs: np.ndarray, level: float, seed: int) -> _Test:
    """Paired t and expanded bootstrap intervals of the mean difference; below 30 tasks the verdict reads t."""
    count = len(diffs)
    method = "paired-bootstrap" if count >= BOOTSTRAP_MIN_TASKS else "paired-t"
    if count < 2:
        return _Test(method=method)
    sd = float(np.std(diffs, ddof=1))
    t_int = t_interval(diffs, level)
    t_int = t_int.model_copy(update={"method": "paired-t"}) if t_int is not None else None
    boot = cluster_bootstrap(diffs, level=level, seed=seed)
    return _Test(
        mde=mde(sd, count, paired=True),
        p_value=float(ttest_1samp(diffs, 0.0).pvalue) if sd > 0 else float(np.all(diffs == 0)),
        interval=boot if count >= BOOTSTRAP_MIN_TASKS else t_int,
        t_interval=t_int,
        bootstrap_interval=boot,
        method=method,
    )
