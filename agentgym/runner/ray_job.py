"""The worker side of `--executor ray`: one trial rebuilt and run on a Ray worker, its record sent back.

A job is picklable and free of host paths: the task, the repo's source spec (the worker fetches the snapshot
into its own cache, $AGENTGYM_CACHE there), the expected values, the epoch, the model settings (the key as a
SecretStr, never in a repr or a log line), and the run settings. The worker builds its own sandbox, client
and agent, runs `run_trial` with no run folder, and returns the TaskResult, the trial's events and the answer
files as bytes. The driver alone writes the campaign folder (runner/ray_executor.py). Imported by workers:
nothing here imports ray at module level.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from agentgym.agents.prompts import PromptSet, compile_template
from agentgym.models.base import ModelSettings
from agentgym.oracles.agentfile import read_agent_file
from agentgym.results.rundir import ARTIFACT_FILES
from agentgym.runner.config import LoadedTask
from agentgym.runner.trial import TrialContext, TrialPlan, TrialRecord, run_trial
from agentgym.sandbox.base import Limits
from agentgym.sources.base import Snapshot
from agentgym.specs.repo import RepoSpec
from agentgym.specs.result import TaskResult
from agentgym.specs.weights import Weights

ARTIFACT_CAP = 1 << 20  # bytes of one answer file brought back (the local copy's cap too)
_SNAPSHOTS: dict[tuple[str, str], Snapshot] = {}  # per worker process: fetched once, then looked up


@dataclass(repr=False)
class ModelJob:
    """One model's share of every job (put in the object store once): agent kind and run settings."""

    kind: str  # model, nop or oracle
    model_id: str
    sandbox: str
    weights: Weights
    limits: Limits
    tool_output_bytes: int
    command_policy_mode: str
    command_budget: str
    repeat_limit: int | None = None
    prompt_profile: str = "v1"
    prompt_text: str = ""
    settings: ModelSettings | None = None  # api_key None here: the key is `api_key`
    api_key: SecretStr | None = None
    secrets: list[SecretStr] = field(default_factory=list)  # values kept out of the sandbox environment
    cache_responses: bool = False
    slots: Any = None  # the endpoint's EndpointSlots actor (cluster-wide max_connections), if it has a limit


@dataclass(repr=False)
class TrialJob:
    task: LoadedTask
    repo: RepoSpec
    registry_dir: str  # where relative path:/archive: sources resolve (must exist on the worker for those)
    digest: str  # the driver's snapshot digest: the worker's must be the same
    expected: list[Any]
    outputs: list[Any] | None
    epoch: int
    token: str  # this attempt: the slots it holds are freed by the driver if the worker dies


@dataclass(repr=False)
class TrialReturn:
    result: TaskResult
    events: list[dict[str, Any]]  # the repo JSONL lines
    log_events: list[Any]  # the per-trial event stream (typed events)
    artifacts: dict[str, tuple[bytes, int]]
    fatal: str | None


def model_job(kind: str, ctx: TrialContext, sandbox: str, *, prompts: PromptSet | None = None, **more: Any) -> ModelJob:
    """The job of one model, from the driver's TrialContext (and, for a model, its settings in `more`)."""
    settings: ModelSettings | None = more.pop("settings", None)
    key = SecretStr(settings.api_key) if settings is not None and settings.api_key else None
    return ModelJob(
        kind=kind,
        model_id=ctx.model_id,
        sandbox=sandbox,
        weights=ctx.weights,
        limits=ctx.limits,
        tool_output_bytes=ctx.tool_output_bytes,
        command_policy_mode=ctx.command_policy_mode,
        command_budget=ctx.command_budget,
        prompt_profile=prompts.profile if prompts else "v1",
        prompt_text=prompts.system_text if prompts else "",
        settings=dataclasses.replace(settings, api_key=None) if settings is not None else None,
        api_key=key,
        secrets=[SecretStr(s) for s in more.pop("secrets", [])],
        **more,
    )


class EndpointSlots:
    """A Ray async actor (one per endpoint, named): max_connections requests in flight over the cluster.
    Slots are held per token (one trial attempt); `forget` frees a dead worker's slots, now and later."""

    def __init__(self, limit: int) -> None:
        self._sem = asyncio.Semaphore(limit)
        self._held: dict[str, int] = {}
        self._gone: set[str] = set()

    async def acquire(self, token: str) -> bool:
        await self._sem.acquire()
        if token in self._gone:
            self._sem.release()
            return False
        self._held[token] = self._held.get(token, 0) + 1
        return True

    async def release(self, token: str) -> None:
        if self._held.get(token, 0) > 0:
            self._held[token] -= 1
            self._sem.release()

    async def forget(self, token: str) -> None:
        self._gone.add(token)
        for _ in range(self._held.pop(token, 0)):
            self._sem.release()


class RaySlot:
    """LimitedClient's semaphore on a worker: a slot of the endpoint's EndpointSlots actor."""

    def __init__(self, actor: Any, token: str) -> None:
        self.actor, self.token = actor, token

    async def acquire(self) -> bool:
        return bool(await self.actor.acquire.remote(self.token))

    def release(self) -> None:
        self.actor.release.remote(self.token)  # fire and forget: ordered after our acquire


def _snapshot(job: TrialJob) -> Snapshot:
    from agentgym.errors import SourceError
    from agentgym.sources import fetch_snapshot

    memo = (job.repo.model_dump_json(), job.registry_dir)
    if memo not in _SNAPSHOTS:
        _SNAPSHOTS[memo] = fetch_snapshot(job.repo, registry_dir=Path(job.registry_dir))
    snapshot = _SNAPSHOTS[memo]
    if snapshot.digest != job.digest:
        raise SourceError(
            f"repo {job.repo.id}: the worker's snapshot {snapshot.digest[:12]} differs from the driver's {job.digest[:12]}"
        )
    return snapshot


def _agent(model: ModelJob, token: str, closers: list[Any]) -> Any:
    from agentgym.agents.baselines import NopAgent, OracleAgent

    if model.kind == "nop":
        return NopAgent()
    if model.kind == "oracle":
        return OracleAgent()
    from agentgym.agents.model_loop import ModelAgent
    from agentgym.runner.scheduler import LimitedClient
    from agentgym.runner.settings import make_client

    assert model.settings is not None
    key = model.api_key.get_secret_value() if model.api_key else None
    settings = dataclasses.replace(model.settings, api_key=key)
    client = make_client(settings)
    closers.append(client)
    if model.cache_responses:
        from agentgym.models.response_cache import ResponseCache

        client = ResponseCache(client, settings)
    template = compile_template(model.prompt_text, Path("<prompt>")) if model.prompt_profile == "agentgym" else None
    prompts = PromptSet(model.prompt_profile, model.prompt_text, (), template)  # type: ignore[arg-type]
    slot = RaySlot(model.slots, token) if model.slots is not None else None
    return ModelAgent(LimitedClient(client, slot), prompts, repeat_limit=model.repeat_limit)


def _artifacts(root: Path | None) -> dict[str, tuple[bytes, int]]:
    found: dict[str, tuple[bytes, int]] = {}
    if root is None:
        return found
    for name in ARTIFACT_FILES:
        read = read_agent_file(root, f"eval_artifacts/{name}", follow_links=False, prefix=True)
        if read.ok:
            found[name] = (read.data[:ARTIFACT_CAP], read.size)
    return found


async def _run(model: ModelJob, job: TrialJob) -> TrialReturn:
    from agentgym.runner.interrupt import TrackingFactory, shielded
    from agentgym.runner.run import sandbox_env_candidates
    from agentgym.sandbox import get_sandbox_factory
    from agentgym.scrub import register

    secrets = [s.get_secret_value() for s in model.secrets]
    register(secrets)
    tracker = TrackingFactory(get_sandbox_factory(model.sandbox))
    closers: list[Any] = []
    artifacts: dict[str, tuple[bytes, int]] = {}

    async def keep(record: TrialRecord) -> None:  # while the final workspace still exists
        artifacts.update(_artifacts(record.final_root))

    try:
        plan = TrialPlan(job.task, _snapshot(job), job.expected, job.epoch, job.outputs)
        ctx = TrialContext(
            agent=_agent(model, job.token, closers),
            sandbox_factory=tracker,
            weights=model.weights,
            limits=model.limits,
            model_id=model.model_id,
            env=sandbox_env_candidates(secrets),
            tool_output_bytes=model.tool_output_bytes,
            command_policy_mode=model.command_policy_mode,
            command_budget=model.command_budget,
        )
        record = await run_trial(plan, ctx, keep)
    finally:
        for client in closers:
            await shielded(client.aclose())
        await shielded(tracker.close_all())
    return TrialReturn(record.result, record.events, record.log.events, artifacts, record.fatal)


def run_job(model: ModelJob, job: TrialJob) -> TrialReturn:
    """The Ray task's body (runner/ray_executor.py makes it remote)."""
    return asyncio.run(_run(model, job))


__all__ = ["EndpointSlots", "ModelJob", "RaySlot", "TrialJob", "TrialReturn", "model_job", "run_job"]
