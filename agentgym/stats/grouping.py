"""Result records grouped by task: the cluster every statistic samples."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from agentgym.specs.result import TaskResult

TaskKey = tuple[str, str]  # (repo, task id)
INFRA = "infra_error"


def is_infra(result: TaskResult) -> bool:
    return result.failure_reason == INFRA


def latest_attempts(results: Iterable[TaskResult]) -> list[TaskResult]:
    """One record per trial (model, repo, task, epoch): the highest attempt (a rerun replaces the first)."""
    best: dict[tuple[str, str, str, int], TaskResult] = {}
    for r in results:
        key = (r.model_id, r.task.repo, r.task.id, r.epoch)
        if key not in best or r.attempt >= best[key].attempt:
            best[key] = r
    return list(best.values())


def by_task(results: Iterable[TaskResult], *, exclude_infra: bool = False) -> dict[TaskKey, list[TaskResult]]:
    """Trials per task (latest attempt of each), sorted by epoch; infra failures dropped if asked."""
    out: dict[TaskKey, list[TaskResult]] = defaultdict(list)
    for r in sorted(latest_attempts(results), key=lambda r: r.epoch):
        if not (exclude_infra and is_infra(r)):
            out[(r.task.repo, r.task.id)].append(r)
    return dict(out)


def group_by(results: Iterable[TaskResult], key: Callable[[TaskResult], str]) -> dict[str, list[TaskResult]]:
    out: dict[str, list[TaskResult]] = defaultdict(list)
    for r in results:
        out[key(r)].append(r)
    return dict(sorted(out.items()))
