"""Building a campaign: the spec validated and planned (`prepare`), then each model's ModelRun (endpoint,
embedded server, client, agent, run folder) by `ModelBuilder`. runner/campaign.py runs what this builds."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgym.agents.baselines import NopAgent, OracleAgent
from agentgym.agents.model_loop import EMBEDDED_REPEAT_LIMIT, ModelAgent
from agentgym.models.base import ModelSettings
from agentgym.results.rundir import RunDir
from agentgym.runner.interrupt import TrackingFactory
from agentgym.runner.resume import ResumeState
from agentgym.runner.run import Plan, RunRequest, load_plan, new_run_id, run_config, trial_context
from agentgym.runner.scheduler import EndpointLimits, LimitedClient, ModelRun
from agentgym.runner.settings import WarmingClient, endpoint_settings, make_client, run_request, secrets_of
from agentgym.runner.trial import TrialPlan, TrialRecord
from agentgym.sandbox import get_sandbox_factory
from agentgym.scrub import register
from agentgym.specs.campaign import CampaignSpec, ModelEntry, load_campaign

EMBEDDED_OUTPUT_CAP = 2048  # the embedded model has an 8k-token context and ~50 prompt tokens/s on 2 cores


def _quiet(_message: str) -> None:
    pass


def _no_trial(_model: str, _record: TrialRecord) -> None:
    pass


@dataclass
class Hooks:
    """Callbacks of a campaign, all called on its event loop's thread. `on_start(model, total, entry)`: the
    trials about to run for a model (on resume only the pending ones; called again, adding to the total, for
    each --retry-infra round); `on_begin(model, trial)`: a trial got its sandbox slot (in flight);
    `on_trial(model, record)`: a trial finished and its record is durable."""

    progress: Callable[[str], None] = _quiet
    on_trial: Callable[[str, TrialRecord], None] = _no_trial
    on_start: Callable[[str, int, ModelEntry], None] = lambda _m, _n, _e: None
    on_begin: Callable[[str, TrialPlan], None] = lambda _m, _t: None


@dataclass
class CampaignSetup:
    spec: CampaignSpec
    req: RunRequest
    plan: Plan
    remote: dict[str, ModelSettings | None]  # None: the embedded model, started in the campaign
    warm: Future[Any] | None
    single_run: bool
    hooks: Hooks
    replay: Any = None  # models.replay.ReplaySource with --replay
    resume: ResumeState | None = None  # --resume CAMPAIGN_DIR
    retry_infra: int = 0  # --retry-infra N: rounds of reruns of infra-failed trials at the end


def as_spec(spec: CampaignSpec | dict[str, Any] | str | Path) -> CampaignSpec:
    if isinstance(spec, CampaignSpec):
        return spec
    if isinstance(spec, dict):
        from agentgym.specs.campaign import build_spec

        return build_spec(None, spec)
    return load_campaign(Path(spec))


def _warm_up(remote: dict[str, ModelSettings | None]) -> Future[Any]:
    """Import the openai SDK (~0.3 s), and build a lone endpoint's client, in a thread while planning."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentgym-warm")
    lone = list(remote.values())
    if len(lone) == 1 and lone[0] is not None:
        future = pool.submit(make_client, lone[0])
    else:
        future = pool.submit(importlib.import_module, "agentgym.models.client")
    pool.shutdown(wait=False)
    return future


def prepare(spec: CampaignSpec, *, single_run: bool, hooks: Hooks) -> CampaignSetup:
    """Validate the settings, plan (load, fetch, expected values): everything that can fail on input."""
    req = run_request(spec)
    replay = _replay_source(spec)
    model_agent = spec.agent == "model" and not spec.dry_run and replay is None
    remote = {m.display_id(): endpoint_settings(m) for m in spec.models} if model_agent else {}
    if spec.executor == "ray":  # refused with one line (no ray, embedded model, --replay)
        from agentgym.runner.ray_executor import check_ray

        check_ray(remote, replay)
    warm = _warm_up(remote) if model_agent else None
    plan = load_plan(req, progress=hooks.progress)
    if spec.executor == "ray":  # edit tasks, no cluster: refused before any trial
        from agentgym.runner.ray_executor import check_plan, connect

        check_plan(plan)
        connect(spec.ray_address)
    hooks.progress(
        f"{len(plan.trials)} trial(s) per model over {len(plan.snapshots)} repo(s), {len(spec.models)} model(s), "
        f"agent={'replay' if replay else spec.agent if model_agent else 'nop' if spec.dry_run else spec.agent}"
    )
    return CampaignSetup(spec, req, plan, remote, warm, single_run, hooks, replay)


def _replay_source(spec: CampaignSpec) -> Any:
    """--replay: the recorded run folder, read (and refused with one line) before anything else happens."""
    if spec.replay is None or spec.agent != "model" or spec.dry_run:
        return None
    from agentgym.models.replay import ReplaySource

    return ReplaySource(spec.replay)


def _scrubbed(plan: Plan, keys: list[str]) -> list[str]:
    """What is scrubbed from console, logs and run folder: keys, credentials in base URLs, and the values of
    host variables that some planned task may receive in its sandbox."""
    from agentgym.runner.run import sandbox_env_candidates

    allowed = {name for t in plan.tasks for name in t.policy.env_allowed}
    values = keys + [v for k, v in sandbox_env_candidates(keys).items() if k in allowed]
    register(values)
    return values


class ModelBuilder:
    """Builds each model's ModelRun: endpoint (embedded server started), client, agent, run folder."""

    def __init__(self, s: CampaignSetup, root: Path, stack: contextlib.AsyncExitStack) -> None:
        self.s, self.root, self.stack = s, root, stack
        self.tracker = TrackingFactory(get_sandbox_factory(s.spec.sandbox))
        self.limits = EndpointLimits()
        for entry in s.spec.models:
            settings = s.remote.get(entry.display_id())
            if settings is not None:
                self.limits.register(settings.base_url, settings.model, entry.max_connections)

    def _rundir(self, name: str, keys: list[str]) -> RunDir:
        folder = self.s.resume.folder(name) if self.s.resume is not None else None
        if folder is not None and folder.is_dir():
            rundir = RunDir.open(folder, secrets=_scrubbed(self.s.plan, keys))
            self.s.hooks.progress(f"resuming run folder: {rundir.root} ({len(rundir.results)} record(s))")
        else:
            rundir = RunDir.create(self.root, name, secrets=_scrubbed(self.s.plan, keys))
            self.s.hooks.progress(f"run folder: {rundir.root}")
        self.stack.callback(rundir.close)  # its lock, once the campaign ends: a later evaluate may resume it
        return rundir

    def _config(self, req: RunRequest, agent: str, model: dict[str, Any], entry: ModelEntry) -> dict[str, Any]:
        spec = self.s.spec
        cfg = run_config(
            self.s.plan,
            req,
            run_id=new_run_id(),
            agent=agent,
            model=model,
            sandbox=self.tracker.name,
            dry_run=spec.dry_run,
        )
        if not self.s.single_run:
            cfg["campaign"] = {"id": self.root.name, "model_entry": entry.display_id()}
        return cfg

    def _run(self, name: str, entry: ModelEntry, ctx: Any, rundir: RunDir, **job: Any) -> ModelRun:
        hooks = self.s.hooks
        run = ModelRun(
            name, rundir, ctx, self.s.plan.trials, lambda r: hooks.on_trial(name, r), lambda t: hooks.on_begin(name, t)
        )
        if self.s.spec.executor == "ray":  # what a Ray worker needs to rebuild this model's trials
            from agentgym.runner.ray_job import model_job

            kind = job.pop("kind", ctx.agent.name)
            run.job = model_job(kind, ctx, self.s.spec.sandbox, repeat_limit=self.s.req.repeat_limit, **job)
        return run

    def baseline(self, entry: ModelEntry) -> ModelRun:
        agent_name = "nop" if self.s.spec.dry_run else self.s.spec.agent
        agent = NopAgent() if agent_name == "nop" else OracleAgent()
        name = agent_name if self.s.single_run else entry.display_id()
        rundir = self._rundir(name, [])
        rundir.write_run_config(self._config(self.s.req, agent_name, {"model": agent_name}, entry))
        ctx = trial_context(self.s.plan, self.s.req, agent, self.tracker, agent_name, [], rundir)
        return self._run(name, entry, ctx, rundir)

    def replayed(self, entry: ModelEntry) -> ModelRun:
        """--replay: the recorded assistant turns, task by task, in today's harness (no model call)."""
        from agentgym.models.replay import ReplayAgent

        source = self.s.replay
        agent = ReplayAgent(source, self.s.plan.prompts, repeat_limit=self.s.req.repeat_limit)
        model = {"model": source.model_id, "replay_of": str(source.run_dir), "recorded_model": source.recorded_model}
        name = source.model_id if self.s.single_run else f"{entry.display_id()}-replay"
        rundir = self._rundir(name, [])
        rundir.write_run_config(self._config(self.s.req, "replay", model, entry))
        ctx = trial_context(self.s.plan, self.s.req, agent, self.tracker, source.model_id, [], rundir)
        return self._run(name, entry, ctx, rundir)

    async def _embedded(self, entry: ModelEntry) -> tuple[ModelSettings, dict[str, Any]]:
        from agentgym.models.local_server import LocalModelServer

        choice = entry.local or "1.5b"
        self.s.hooks.progress(f"starting the embedded local model ({choice}) for {entry.display_id()} …")
        server = await self.stack.enter_async_context(LocalModelServer(choice))
        self.s.hooks.progress(f"local model ready at {server.base_url}")
        settings = endpoint_settings(entry, served=(server.model_name, server.base_url))
        assert settings is not None
        self.limits.register(
            settings.base_url, settings.model, min(server.slots, entry.max_connections or server.slots)
        )
        return settings, {**settings.public(), "model_card": server.card}

    async def model(self, entry: ModelEntry) -> ModelRun:
        settings = self.s.remote.get(entry.display_id())
        req = self.s.req
        if settings is None:
            settings, public = await self._embedded(entry)
            req = dataclasses.replace(
                req,
                tool_output_bytes=req.tool_output_bytes or EMBEDDED_OUTPUT_CAP,
                repeat_limit=req.repeat_limit or EMBEDDED_REPEAT_LIMIT,  # a small model loops; recorded
            )
        else:
            public = settings.public()
        client = await self._client(settings)
        if self.s.spec.cache_responses:
            from agentgym.models.response_cache import ResponseCache

            client = ResponseCache(client, settings)
        agent = ModelAgent(
            LimitedClient(client, self.limits.get(settings.base_url, settings.model)),
            self.s.plan.prompts,
            repeat_limit=req.repeat_limit,
        )
        keys = secrets_of(settings)
        name = settings.model if self.s.single_run else entry.display_id()
        rundir = self._rundir(name, keys)
        rundir.write_run_config(
            {**self._config(req, "model", public, entry), "cache_responses": self.s.spec.cache_responses}
        )
        ctx = trial_context(self.s.plan, req, agent, self.tracker, settings.model, keys, rundir)
        more = {"settings": settings, "prompts": self.s.plan.prompts, "secrets": keys}
        return self._run(name, entry, ctx, rundir, kind="model", cache_responses=self.s.spec.cache_responses, **more)

    async def _client(self, settings: ModelSettings) -> Any:
        """The endpoint's client; a lone endpoint's is the one the warm-up thread builds, waited for at its
        first call (settings.WarmingClient), so the first sandboxes open meanwhile."""
        warm, self.s.warm = self.s.warm, None  # used once
        client = WarmingClient(settings, warm) if warm is not None else make_client(settings)
        self.stack.push_async_callback(client.aclose)
        return client
