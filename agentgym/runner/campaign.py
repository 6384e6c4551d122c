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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgym.errors import SpecError
from agentgym.runner.builder import CampaignSetup, Hooks, ModelBuilder, as_spec, prepare
from agentgym.runner.campaign_result import CampaignResult, ModelResult
from agentgym.runner.interrupt import run_until_signal
from agentgym.runner.manifest import Manifest, new_campaign_id
from agentgym.runner.resume import check_tasks, check_unchanged, load_resume, pending
from agentgym.runner.scheduler import ModelRun, default_max_sandboxes, run_all
from agentgym.runner.trial import TrialRecord
from agentgym.specs.campaign import CampaignSpec, ModelEntry


async def _campaign(s: CampaignSetup) -> CampaignResult:
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
        builder = ModelBuilder(s, root, stack)
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
        executor = _executor(spec, runs, builder, stack)
        try:
            _announce(s.hooks, runs, spec.models)
            await run_all(
                runs, builder.tracker, max_sandboxes=max_sandboxes, per_model=spec.concurrency, executor=executor
            )
            for n in range(s.retry_infra):
                todo = sum(pending(run, trials, infra_only=True) for run, trials in zip(runs, planned, strict=True))
                if not todo:
                    break
                s.hooks.progress(f"retry-infra round {n + 1}: {todo} trial(s)")
                _announce(s.hooks, runs, spec.models)
                await run_all(
                    runs, builder.tracker, max_sandboxes=max_sandboxes, per_model=spec.concurrency, executor=executor
                )
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


def _executor(spec: CampaignSpec, runs: list[ModelRun], builder: ModelBuilder, stack: contextlib.AsyncExitStack) -> Any:
    """None (trials here), or the Ray executor, closed with the campaign (runner/ray_executor.py)."""
    if spec.executor != "ray":
        return None
    from agentgym.runner.ray_executor import RayExecutor

    executor = RayExecutor(runs, builder.limits, builder.s.plan.repos)
    stack.callback(executor.close)
    return executor


async def _ready(run: ModelRun) -> ModelRun:
    return run


def _announce(hooks: Hooks, runs: list[ModelRun], entries: list[ModelEntry]) -> None:
    for run, entry in zip(runs, entries, strict=True):
        hooks.on_start(run.name, len(run.trials), entry)


def _setup(
    spec: CampaignSpec | dict[str, Any] | str | Path | None,
    single_run: bool,
    hooks: Hooks,
    resume: Path | None,
    retry_infra: int,
) -> CampaignSetup:
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
    hooks: Hooks | None = None,
    handle_signals: bool = False,
    on_repeat_signal: Callable[[], None] = lambda: None,
) -> CampaignResult:
    """Run a campaign (a CampaignSpec, a dict of its fields, or a campaign file) and return its records.

    Writes `<runs_root>/<campaign-id>/campaign.json` and one run folder per model. `handle_signals`: SIGINT and
    SIGTERM cancel the campaign cleanly (raises runner.interrupt.Interrupted); the CLI sets it.
    `resume=CAMPAIGN_DIR` (spec None) runs the missing and infra-failed trials of that campaign;
    `retry_infra=N` reruns infra-failed trials at the end, up to N rounds. `hooks`: every callback (Hooks);
    `progress` and `on_trial`, when given, replace its two.
    """
    hooks = hooks or Hooks()
    hooks = dataclasses.replace(hooks, progress=progress or hooks.progress, on_trial=on_trial or hooks.on_trial)
    setup = _setup(spec, single_run, hooks, resume, retry_infra)
    main = _campaign(setup)
    return asyncio.run(run_until_signal(main, on_repeat_signal) if handle_signals else main)


__all__ = ["CampaignResult", "Hooks", "ModelResult", "evaluate", "evaluate_async"]
