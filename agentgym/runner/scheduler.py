"""One asyncio scheduler for the trials of every model of a campaign.

- A global limit on sandboxes (trials at once over all models: `--max-sandboxes`) and a per-model limit
  (`--concurrency`). Trials are submitted round-robin over the models (model A's first trial, model B's
  first, A's second, ...), and asyncio semaphores serve waiters in order, so no model starves another.
- A per-endpoint limit on requests in flight (`max_connections`): one semaphore per base URL + model name,
  wrapped around `ModelClient.complete`. While a call waits for a slot the trial's clock is paused
  (runner/clock.py): its time budget counts its own work, not the wait.
- A fatal model error (401, endpoint gone) stops that model's remaining trials; the other models go on.
- Where a trial runs is the executor's business: `LocalExecutor` (run_trial here, in this event loop) or
  runner/ray_executor.py's `RayExecutor` (a Ray task on a cluster); the limits above are the same.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from agentgym.models.base import ModelClient, ModelReply
from agentgym.results.rundir import RunDir
from agentgym.runner.clock import CURRENT_CLOCK
from agentgym.runner.interrupt import TrackingFactory, shielded
from agentgym.runner.trial import TrialContext, TrialPlan, TrialRecord, run_trial

T = TypeVar("T")
_GAP: Any = object()


def default_max_sandboxes() -> int:
    """min(2 x cores, RAM in GiB / 2), at least 1: a trial's sandbox may use up to ~2 GiB (docs/sandbox.md)."""
    cores = os.cpu_count() or 1
    try:
        ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        ram_gib = 4.0
    return max(1, min(2 * cores, int(ram_gib // 2)))


class EndpointLimits:
    """One semaphore per endpoint (base URL + model name); the smallest max_connections asked for wins.
    Register every limit first (`register`), then hand out the semaphores (`get`)."""

    def __init__(self) -> None:
        self._limits: dict[str, int] = {}
        self._sems: dict[str, asyncio.Semaphore] = {}

    @staticmethod
    def key(base_url: str, model: str) -> str:
        return f"{base_url.rstrip('/')}|{model}"

    def register(self, base_url: str, model: str, max_connections: int | None) -> None:
        key = self.key(base_url, model)
        if max_connections is not None and max_connections < self._limits.get(key, max_connections + 1):
            self._limits[key] = max_connections

    @property
    def limits(self) -> dict[str, int]:
        return dict(self._limits)

    def get(self, base_url: str, model: str) -> asyncio.Semaphore | None:
        key = self.key(base_url, model)
        if key not in self._limits:
            return None
        if key not in self._sems:
            self._sems[key] = asyncio.Semaphore(self._limits[key])
        return self._sems[key]


class Slots(Protocol):
    """What LimitedClient holds a slot of: an asyncio.Semaphore here, runner/ray_job.py's cluster-wide one."""

    async def acquire(self) -> Any: ...

    def release(self) -> None: ...


class LimitedClient:
    """A ModelClient whose calls hold a slot of the endpoint's semaphore; the wait pauses the trial's clock."""

    def __init__(self, inner: ModelClient, sem: Slots | None) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self._sem = sem

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        attempts: list[dict[str, Any]] | None = None,
    ) -> ModelReply:
        if self._sem is None:
            return await self.inner.complete(messages, tools, attempts=attempts)
        clock, t0 = CURRENT_CLOCK.get(), time.monotonic()
        if clock is not None:
            clock.pause()
        try:
            await self._sem.acquire()
        finally:
            if clock is not None:
                clock.resume(time.monotonic() - t0)
        try:
            return await self.inner.complete(messages, tools, attempts=attempts)
        finally:
            self._sem.release()

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class ModelRun:
    """One model's share of a campaign: its run folder, trial context and trials."""

    name: str
    rundir: RunDir
    ctx: TrialContext
    trials: list[TrialPlan]
    on_trial: Callable[[TrialRecord], None] = lambda _r: None
    on_begin: Callable[[TrialPlan], None] = lambda _t: None  # the trial got its sandbox slot (in flight)
    fatal: str | None = None
    status: str = "planned"
    attempts: dict[tuple[str, str, int], int] = field(default_factory=dict)  # reruns (resume, --retry-infra)
    job: Any = None  # what a remote executor needs to rebuild the trial elsewhere (runner/ray_job.ModelJob)

    async def persist(self, record: TrialRecord) -> None:
        """Write the record in a worker thread (its fsyncs would stall every other trial's event loop; 16
        trials ending at once cost ~0.1 s there), to its end even if cancelled; then the hook, on the loop."""
        r = record.result
        r.attempt = self.attempts.get((r.task.repo, r.task.id, r.epoch), 0)
        await shielded(
            asyncio.to_thread(
                self.rundir.record, record.result, record.final_root, record.events, artifacts=record.artifacts
            )
        )
        self.on_trial(record)


def interleave(queues: list[list[T]]) -> list[T]:
    """Round-robin order of submission: the first of each queue, then the second of each, ..."""
    rows = itertools.zip_longest(*queues, fillvalue=_GAP)
    return [item for row in rows for item in row if item is not _GAP]


class Executor(Protocol):
    async def run(self, run: ModelRun, trial: TrialPlan) -> TrialRecord:
        """Run one trial and persist its record (once per attempt) in `run`'s folder."""
        ...


class LocalExecutor:
    """Trials in this process, on this event loop."""

    async def run(self, run: ModelRun, trial: TrialPlan) -> TrialRecord:
        return await run_trial(trial, run.ctx, run.persist)


async def run_all(
    runs: list[ModelRun],
    tracker: TrackingFactory,
    *,
    max_sandboxes: int,
    per_model: int,
    executor: Executor | None = None,
) -> None:
    """Run every trial of every model; each run folder's summary says running/finished/aborted/interrupted."""
    sandboxes = asyncio.Semaphore(max(1, max_sandboxes))
    per = {id(run): asyncio.Semaphore(max(1, per_model)) for run in runs}
    where = executor or LocalExecutor()

    async def one(run: ModelRun, trial: TrialPlan) -> None:
        async with per[id(run)], sandboxes:
            if run.fatal:
                return
            run.on_begin(trial)
            record = await where.run(run, trial)
            if record.fatal and not run.fatal:
                run.fatal = record.fatal

    for run in runs:  # "running" from the start: a later run can tell if this one died (results/runlock.py)
        run.status = "running"
        run.rundir.write_summary()
    try:
        order = interleave([[(run, trial) for trial in run.trials] for run in runs])
        await asyncio.gather(*(one(run, trial) for run, trial in order))
    except (asyncio.CancelledError, KeyboardInterrupt):
        for run in runs:
            run.status = "interrupted"
            run.rundir.write_summary(status="interrupted", error="interrupted (SIGINT or SIGTERM)")
        raise
    finally:
        await shielded(tracker.close_all())
    for run in runs:
        run.status = "aborted" if run.fatal else "finished"
        run.rundir.write_summary(status=run.status, error=run.fatal)


__all__ = [
    "EndpointLimits",
    "Executor",
    "LimitedClient",
    "LocalExecutor",
    "ModelRun",
    "default_max_sandboxes",
    "interleave",
    "run_all",
]
