"""A campaign: every model of a CampaignSpec on the same planned trials, on one scheduler.

`evaluate` is the public API (`agentgym.evaluate`) and `agentgym run` stands on it. Layout: a campaign folder
`<runs_root>/<campaign-id>/` with `campaign.json` and one original-layout run folder per model
(`<model_id>-<timestamp>/`); `single_run=True` (a plain `agentgym run` without --models/--config) writes
the one run folder straight under runs_root, as before.
"""

from __future__ import annotations

import asyncio
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
from agentgym.errors import SpecError
from agentgym.models.base import ModelSettings
from agentgym.results.rundir import RunDir
from agentgym.runner.campaign_result import CampaignResult, ModelResult
from agentgym.runner.interrupt import TrackingFactory, run_until_signal
from agentgym.runner.manifest import Manifest, new_campaign_id
from agentgym.runner.resume import ResumeState, check_tasks, check_unchanged, load_resume, pending
from agentgym.runner.run import Plan, RunRequest, load_plan, new_run_id, run_config, trial_context
from agentgym.runner.scheduler import EndpointLimits, LimitedClient, ModelRun, default_max_sandboxes, run_all
from agentgym.runner.settings import WarmingClient, endpoint_settings, make_client, run_request, secrets_of
from agentgym.runner.trial import TrialRecord
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
    progress: Callable[[str], None] = _quiet
    on_trial: Callable[[str, TrialRecord], None] = _no_trial


@dataclass
class _Setup:
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


def prepare(spec: CampaignSpec, *, single_run: bool, hooks: Hooks) -> _Setup:
    """Validate the settings, plan (load, fetch, expected values): everything that can fail on input."""
    req = run_request(spec)
    replay = _replay_source(spec)
    model_agent = spec.agent == "model" and not spec.dry_run and replay is None
    remote = {m.display_id(): endpoint_settings(m) for m in spec.models} if model_agent else {}
    warm = _warm_up(remote) if model_agent else None
    plan = load_plan(req, progress=hooks.progress)
    hooks.progress(
        f"{len(plan.trials)} trial(s) per model over {len(plan.snapshots)} repo(s), {len(spec.models)} model(s), "
        f"agent={'replay' if replay else spec.agent if model_agent else 'nop' if spec.dry_run else spec.agent}"
    )
    return _Setup(spec, req, plan, remote, warm, single_run, hooks, replay)


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


class _Builder:
    """Builds each model's ModelRun: endpoint (embedded server started), client, agent, run folder."""

    def __init__(self, s: _Setup, root: Path, stack: contextlib.AsyncExitStack) -> None:
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
            return rundir
        rundir = RunDir.create(self.root, name, secrets=_scrubbed(self.s.plan, keys))
        self.s.hooks.progress(f"run folder: {rundir.root}")
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

    def _run(self, name: str, entry: ModelEntry, ctx: Any, rundir: RunDir) -> ModelRun:
        hooks = self.s.hooks
        return ModelRun(name, rundir, ctx, self.s.plan.trials, lambda r: hooks.on_trial(name, r))

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
        return self._run(name, entry, ctx, rundir)

    async def _client(self, settings: ModelSettings) -> Any:
        """The endpoint's client; a lone endpoint's is the one the warm-up thread builds, waited for at its
        first call (settings.WarmingClient), so the first sandboxes open meanwhile."""
        warm, self.s.warm = self.s.warm, None  # used once
        client = WarmingClient(settings, warm) if warm is not None else make_client(settings)
        self.stack.push_async_callback(client.aclose)
        return client


async def _campaign(s: _Setup) -> CampaignResult:
    spec = s.spec
    if spec.sandbox == "local":
        s.hooks.progress("Warning: --sandbox local runs commands WITHOUT isolation.")
    campaign_id = None if s.single_run else (spec.campaign_id or new_campaign_id())
    root = spec.runs_root if s.single_run else spec.runs_root / str(campaign_id)
    if not s.single_run and s.resume is None:
        if root.exists():
            raise SpecError(f"campaign folder {root} exists already (choose another campaign_id)")
        root.mkdir(parents=True)
    manifest = None
    if s.resume is not None:
        check_tasks(s.resume, s.plan)  # before any folder is opened or server started
    async with contextlib.AsyncExitStack() as stack:
        builder = _Builder(s, root, stack)
        model_agent = spec.agent == "model" and not spec.dry_run
        runs = [
            await (
                _ready(builder.replayed(m))
                if s.replay is not None
                else builder.model(m)
                if model_agent
                else _ready(builder.baseline(m))
            )
            for m in spec.models
        ]
        if not s.single_run:
            manifest = Manifest(root, spec, runs, s.plan)
            if s.resume is not None:
                check_unchanged(s.resume, manifest)
            manifest.write("running")
        planned = [list(run.trials) for run in runs]
        if s.resume is not None:
            todo = sum(pending(run, trials) for run, trials in zip(runs, planned, strict=True))
            s.hooks.progress(f"resume: {todo} trial(s) to run")
        max_sandboxes = spec.concurrency if s.single_run else (spec.max_sandboxes or default_max_sandboxes())
        try:
            await run_all(runs, builder.tracker, max_sandboxes=max_sandboxes, per_model=spec.concurrency)
            for n in range(s.retry_infra):
                todo = sum(pending(run, trials, infra_only=True) for run, trials in zip(runs, planned, strict=True))
                if not todo:
                    break
                s.hooks.progress(f"retry-infra round {n + 1}: {todo} trial(s)")
                await run_all(runs, builder.tracker, max_sandboxes=max_sandboxes, per_model=spec.concurrency)
        except (asyncio.CancelledError, KeyboardInterrupt):
            if manifest is not None:
                manifest.write("interrupted")
            raise
    result = CampaignResult(root=runs[0].rundir.root if s.single_run else root, campaign_id=campaign_id)
    for run, entry in zip(runs, spec.models, strict=True):
        records = list(run.rundir.results)  # one per trial key (a resumed folder's earlier records too)
        cost = entry.cost(
            sum(r.metrics.prompt_tokens for r in records), sum(r.metrics.completion_tokens for r in records)
        )
        result.models[run.name] = ModelResult(run.name, run.rundir.root, records, run.status, run.fatal, cost)
    if manifest is not None:
        manifest.write("aborted" if result.aborted else "finished", result.models)
    return result


async def _ready(run: ModelRun) -> ModelRun:
    return run


def _setup(
    spec: CampaignSpec | dict[str, Any] | str | Path | None,
    single_run: bool,
    hooks: Hooks,
    resume: Path | None,
    retry_infra: int,
) -> _Setup:
    state = None
    if resume is not None:
        spec, state = load_resume(Path(resume))
    if spec is None:
        raise SpecError("evaluate: give a spec or resume=CAMPAIGN_DIR")
    setup = prepare(as_spec(spec), single_run=single_run and state is None, hooks=hooks)
    setup.resume, setup.retry_infra = state, max(0, retry_infra)
    return setup


async def evaluate_async(
    spec: CampaignSpec | dict[str, Any] | str | Path | None,
    *,
    single_run: bool = False,
    hooks: Hooks | None = None,
    resume: Path | None = None,
    retry_infra: int = 0,
) -> CampaignResult:
    """`evaluate` for callers that already run an event loop (planning blocks the loop while it runs)."""
    return await _campaign(_setup(spec, single_run, hooks or Hooks(), resume, retry_infra))


def evaluate(
    spec: CampaignSpec | dict[str, Any] | str | Path | None,
    *,
    single_run: bool = False,
    resume: Path | None = None,
    retry_infra: int = 0,
    progress: Callable[[str], None] | None = None,
    on_trial: Callable[[str, TrialRecord], None] | None = None,
    handle_signals: bool = False,
    on_repeat_signal: Callable[[], None] = lambda: None,
) -> CampaignResult:
    """Run a campaign (a CampaignSpec, a dict of its fields, or a campaign file) and return its records.

    Writes `<runs_root>/<campaign-id>/campaign.json` and one run folder per model. `handle_signals`: SIGINT and
    SIGTERM cancel the campaign cleanly (raises runner.interrupt.Interrupted); the CLI sets it.
    `resume=CAMPAIGN_DIR` (spec None) runs the missing and infra-failed trials of that campaign;
    `retry_infra=N` reruns infra-failed trials at the end, up to N rounds.
    """
    hooks = Hooks(progress or _quiet, on_trial or _no_trial)
    setup = _setup(spec, single_run, hooks, resume, retry_infra)
    main = _campaign(setup)
    return asyncio.run(run_until_signal(main, on_repeat_signal) if handle_signals else main)


__all__ = ["CampaignResult", "Hooks", "ModelResult", "evaluate", "evaluate_async"]
