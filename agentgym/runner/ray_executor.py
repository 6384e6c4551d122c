"""`--executor ray`: the campaign's trials as Ray tasks on an existing cluster; the driver writes every file.

- Each trial is one Ray task (runner/ray_job.py) with `max_retries=0`: we, not Ray, decide what a lost worker
  means. The scheduler's limits stay as they are: `--max-sandboxes` bounds the tasks in flight, `--concurrency`
  a model's share; each task asks Ray for one CPU.
- Per-endpoint `max_connections` holds over the whole cluster: one named async actor per endpoint
  (ray_job.EndpointSlots) is the semaphore every worker's client waits on (the wait pauses the trial clock).
- A worker dying mid-trial (WorkerCrashedError, a node lost, ... any RayError) becomes an `infra_error`
  record with a one-line cause, and the trial runs once more (attempt + 1), into the same record file. What
  the lost attempt did stays on the dead worker: its record has only the cause.
- Refused with one line: ray not installed, a cluster that cannot be reached, the embedded model (its
  server listens on the driver's 127.0.0.1), --replay (its run folder is on the driver).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentgym.errors import SpecError
from agentgym.models.base import ModelSettings
from agentgym.runner.config import LoadedRepo
from agentgym.runner.ray_job import EndpointSlots, ModelJob, TrialJob, TrialReturn, run_job
from agentgym.runner.scheduler import EndpointLimits, ModelRun
from agentgym.runner.trial import TrialPlan, TrialRecord, failed_record
from agentgym.specs.events import EventLog

if TYPE_CHECKING:
    from agentgym.runner.run import Plan

NAMESPACE = "agentgym"
NEEDS_EXTRA = "--executor ray: needs the ray extra (pip install 'agentgym[ray]')"
RERUNS = 1  # a trial whose worker died runs once more
PROBE_SECONDS = 5.0
logger = logging.getLogger(__name__)


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SpecError(NEEDS_EXTRA) from None
    return ray


def check_ray(remote: dict[str, ModelSettings | None], replay: Any) -> None:
    """Everything `--executor ray` refuses, before planning."""
    require_ray()
    if replay is not None:
        raise SpecError("--executor ray: --replay is not supported (the recorded run folder is on this machine)")
    embedded = [name for name, settings in remote.items() if settings is None]
    if embedded:
        raise SpecError(
            f"--executor ray: model '{embedded[0]}' is the embedded model, whose server would listen on this "
            "machine's 127.0.0.1 only; serve it (`agentgym serve-local`) and give its base_url instead"
        )


def check_plan(plan: Plan) -> None:
    """Edit tasks are refused: their hidden tests, patches and test environments are on this machine only."""
    edit = [t.spec.id for t in plan.tasks if t.spec.kind == "edit"]
    if edit:
        raise SpecError(
            f"--executor ray: edit tasks are not supported yet ({edit[0]}); run them with the local executor"
        )


def connect(address: str | None) -> None:
    """Join an existing cluster (never start one): ADDR, else $RAY_ADDRESS, else a cluster on this machine."""
    ray = require_ray()
    target = address or os.environ.get("RAY_ADDRESS") or "auto"
    if ray.is_initialized():
        return
    _probe(target)
    try:
        ray.init(address=target, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:
        text = " ".join(str(exc).split())[:300]
        raise SpecError(f"--ray-address {target}: cannot join a Ray cluster ({type(exc).__name__}: {text})") from None


def _probe(target: str) -> None:
    """A HOST:PORT that does not answer is refused at once (ray.init would retry for minutes)."""
    host, sep, port = target.rpartition(":")
    if not sep or "://" in target or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise SpecError(f"--ray-address {target}: no Ray cluster answers there ({exc.strerror or exc})") from None


def _cause(exc: BaseException) -> str:
    """One line: the exception type and the first line of its message (a task error: its own cause)."""
    inner = getattr(exc, "cause", None)
    shown = inner if isinstance(inner, BaseException) else exc
    text = str(shown).strip().splitlines()[0] if str(shown).strip() else ""
    return f"{type(exc).__name__}: {type(shown).__name__ + ': ' if shown is not exc else ''}{text}"[:300]


class RayExecutor:
    """Runs trials as Ray tasks; persists each returned record with the run's folder, here."""

    def __init__(self, runs: list[ModelRun], limits: EndpointLimits, repos: dict[str, LoadedRepo]) -> None:
        self.ray = require_ray()
        self._repos = repos
        self._remote = self.ray.remote(run_job)
        campaign = uuid.uuid4().hex[:8]
        actor = self.ray.remote(EndpointSlots)
        self._actors = {
            key: actor.options(
                name=f"agentgym-slots-{campaign}-{hashlib.sha256(key.encode()).hexdigest()[:12]}",
                namespace=NAMESPACE,
                num_cpus=0,
                max_concurrency=1000,
            ).remote(limit)
            for key, limit in limits.limits.items()
        }
        self._jobs: dict[int, Any] = {}
        self._slots: dict[int, Any] = {}
        for run in runs:
            job: ModelJob = run.job
            settings = job.settings
            key = EndpointLimits.key(settings.base_url, settings.model) if settings is not None else ""
            job.slots = self._slots[id(run)] = self._actors.get(key)
            self._jobs[id(run)] = self.ray.put(job)

    def _trial_job(self, trial: TrialPlan, token: str) -> TrialJob:
        task = trial.task
        repo = self._repos[task.spec.repo]
        return TrialJob(
            task=dataclasses.replace(task, file=Path(task.file.name)),  # the task's own file is not needed there
            repo=repo.spec,
            registry_dir=str(repo.file.parent),
            digest=trial.snapshot.digest,
            expected=trial.expected,
            outputs=trial.outputs,
            epoch=trial.epoch,
            token=token,
        )

    async def run(self, run: ModelRun, trial: TrialPlan) -> TrialRecord:
        spec = trial.task.spec
        key = (spec.repo, spec.id, trial.epoch)
        for rerun in range(RERUNS + 1):
            token = uuid.uuid4().hex
            ref = self._remote.options(
                name=f"agentgym-trial:{run.name}:{spec.repo}:{spec.id}.e{trial.epoch}", max_retries=0, num_cpus=1
            ).remote(self._jobs[id(run)], self._trial_job(trial, token))
            try:
                returned: TrialReturn = await ref
            except asyncio.CancelledError:
                self.ray.cancel(ref)
                raise
            except self.ray.exceptions.RayError as exc:
                await self._forget(run, token)
                cause = _cause(exc)
                logger.warning("trial %s/%s e%d: Ray worker lost (%s)", spec.repo, spec.id, trial.epoch, cause)
                record = failed_record(trial, run.ctx, "infra_error", f"ray: {cause}")
                await self._persist(run, trial, record)
                if rerun < RERUNS:
                    run.attempts[key] = run.attempts.get(key, 0) + 1
                    continue
                return record
            log = EventLog(spec.id, trial.epoch)
            log.events = returned.log_events
            record = TrialRecord(
                returned.result, None, returned.events, log, fatal=returned.fatal, artifacts=returned.artifacts
            )
            await self._persist(run, trial, record)
            return record
        raise AssertionError("unreachable")

    async def _persist(self, run: ModelRun, trial: TrialPlan, record: TrialRecord) -> None:
        """The per-trial event file (written here, at the end: the worker has no run folder), then the record."""
        spec = trial.task.spec
        try:
            sink = run.rundir.open_trial_events(spec.repo, spec.id, trial.epoch)
            try:
                for event in record.log.events:
                    sink.write(event)
            finally:
                sink.close()
        except OSError as exc:
            logger.error("cannot write the event file of %s: %s", spec.id, exc)
        try:
            await run.persist(record)
        except Exception as exc:
            logger.error("cannot save the result of %s: %s", spec.id, exc)

    async def _forget(self, run: ModelRun, token: str) -> None:
        slots = self._slots.get(id(run))
        if slots is not None:
            try:
                await slots.forget.remote(token)
            except self.ray.exceptions.RayError as exc:
                logger.warning("cannot free the connection slots of a lost trial: %s", _cause(exc))

    def close(self) -> None:
        for actor in self._actors.values():
            try:
                self.ray.kill(actor)
            except Exception as exc:  # the cluster may be gone already
                logger.debug("cannot stop actor: %s", exc)
        self.ray.shutdown()


__all__ = ["NEEDS_EXTRA", "RayExecutor", "check_ray", "connect", "require_ray"]
