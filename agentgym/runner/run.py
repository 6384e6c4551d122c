"""A whole run: plan (load, fetch, compute expected values) → schedule trials → write the run folder."""

from __future__ import annotations

import os
import platform
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentgym import __version__
from agentgym.agents.base import Agent
from agentgym.agents.prompts import PromptSet
from agentgym.errors import ModelError
from agentgym.grading.testenv import TestEnvironment, with_test_envs
from agentgym.oracles import ExpectedCache
from agentgym.results.rundir import RunDir
from agentgym.runner.config import (
    ConfigTree,
    LoadedRepo,
    LoadedTask,
    TaskFilter,
    load_prompts,
    load_repos,
    load_tasks,
    load_weights,
)
from agentgym.runner.interrupt import TrackingFactory
from agentgym.runner.scheduler import ModelRun, run_all
from agentgym.runner.trial import TrialContext, TrialPlan, TrialRecord
from agentgym.sandbox.base import Limits, SandboxFactory
from agentgym.sandbox.isolation import isolation
from agentgym.scoring.checks import plan_expected
from agentgym.sources import fetch_snapshot
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import cache_root
from agentgym.specs.weights import Weights
from agentgym.tools.toolbox import DEFAULT_OUTPUT_CAP

SECRET_VARIABLES = frozenset({"OPENAI_API_KEY", "API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "GITHUB_TOKEN"})


@dataclass
class RunRequest:
    config_dir: Path | None
    task_set: str = "l1"
    repos: list[str] | None = None
    tasks_glob: str | None = None
    limit: int | None = None
    runs_root: Path = Path("runs")
    scoring_profile: str | None = None
    epochs: int = 1
    concurrency: int = 1
    max_sandboxes: int | None = None  # campaigns: trials at once over all models (runner/scheduler.py)
    limits: Limits = field(default_factory=Limits)
    tool_output_bytes: int | None = None  # None: 8 KiB, or 2 KiB for the embedded model (8k-token context)
    command_policy: str = "v1"  # v1: the original's first-word rule; strict: every command word (shell parse)
    command_budget: str = "v1"  # v1: a reply's calls all run past max_commands, then stop; refuse: opt-in
    repeat_limit: int | None = None  # opt-in stop after N identical calls in a row (v1: none)
    tool_profile: str = "v1"  # v1: the original four tools; coding: bash, view, str_replace, create, glob, grep
    prompt_profile: str | None = None  # v1, agentgym, or None/auto (v1 when the tree has the v1 prompt file)
    prompt_file: Path | None = None


@dataclass
class Plan:
    tree: ConfigTree
    repos: dict[str, LoadedRepo]
    tasks: list[LoadedTask]
    weights: Weights
    snapshots: dict[str, Snapshot]
    trials: list[TrialPlan]
    prompts: PromptSet
    test_envs: dict[str, TestEnvironment] = field(default_factory=dict)  # repo id -> its edit tasks' environment


def load_plan(req: RunRequest, *, progress: Callable[[str], None] = lambda _m: None) -> Plan:
    """Everything that can fail on user input fails here, before any model call."""
    tree = ConfigTree.discover(req.config_dir)
    repos = load_repos(tree)
    tasks = load_tasks(tree, req.task_set, repos, TaskFilter(req.repos, req.tasks_glob, req.limit))
    weights = load_weights(tree, req.scoring_profile)
    prompts = load_prompts(tree, req.prompt_profile, req.prompt_file, req.tool_profile)
    snapshots: dict[str, Snapshot] = {}
    for repo_id in sorted({t.spec.repo for t in tasks}):
        loaded = repos[repo_id]
        progress(f"snapshot {repo_id} ({loaded.spec.kind})")
        snapshots[repo_id] = fetch_snapshot(loaded.spec, registry_dir=loaded.file.parent)
    tasks, test_envs = with_test_envs(tasks, repos, progress)  # edit tasks: built once per repo, cached
    starts = {task.spec.id: start_snapshot(task, snapshots[task.spec.repo]) for task in tasks}
    cache = ExpectedCache(cache_root() / "expected")
    expected = {task.spec.id: plan_expected(task.spec, snapshots[task.spec.repo], cache, progress) for task in tasks}
    trials = [
        TrialPlan(
            task=task,
            snapshot=starts[task.spec.id],
            expected=expected[task.spec.id][1],
            epoch=epoch,
            outputs=expected[task.spec.id][0],
        )
        for epoch in range(req.epochs)
        for task in tasks
    ]
    return Plan(tree, repos, tasks, weights, snapshots, trials, prompts, test_envs)


def start_snapshot(task: LoadedTask, base: Snapshot) -> Snapshot:
    """The tree a task's trials start from: the repo's snapshot, or an edit task's setup_patch applied to it
    (its reference patch is then checked against that state and kept for the oracle agent)."""
    if task.spec.kind != "edit":
        return base
    from agentgym.grading.reference import reference_writes
    from agentgym.grading.setup import task_snapshot

    start = task_snapshot(task.spec, task.file, base)
    if task.spec.reference_patch is not None:
        task.spec._reference_writes = reference_writes(task.spec, task.file, start)
    return start


def run_config(
    plan: Plan, req: RunRequest, *, run_id: str, agent: str, model: dict[str, Any], sandbox: str, dry_run: bool
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "agentgym_version": __version__,
        "created_at": datetime.now(UTC).isoformat(),
        "model_id": model.get("model", agent),
        "agent": agent,
        "dry_run": dry_run,
        "model": model,
        "sandbox": sandbox,
        "sandbox_limits": req.limits.__dict__,
        "isolation": isolation(sandbox, req.limits),
        "task_set": req.task_set,
        "config_dir": str(plan.tree.root) if plan.tree.root else "(packaged defaults)",
        "filters": {"repos": req.repos, "tasks": req.tasks_glob, "limit": req.limit},
        "epochs": req.epochs,
        "tool_output_bytes": req.tool_output_bytes or DEFAULT_OUTPUT_CAP,
        "command_policy_mode": req.command_policy,
        "command_budget": req.command_budget,
        "tool_profile": req.tool_profile,
        "repeat_limit": req.repeat_limit,
        "concurrency": req.concurrency,
        "max_sandboxes": req.max_sandboxes,
        "scoring": plan.weights.model_dump(),
        **plan.prompts.describe(),
        "tasks_planned": len(plan.trials),
        "tasks": [_task_entry(t, plan) for t in plan.tasks],
        "repos": {rid: {"digest": s.digest, **s.source} for rid, s in plan.snapshots.items()},
        "test_environments": {rid: env.describe() for rid, env in sorted(plan.test_envs.items())},
        "host": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
    }


def _task_entry(task: LoadedTask, plan: Plan) -> dict[str, Any]:
    entry = {"id": task.spec.id, "repo": task.spec.repo, "content_hash": task.spec.content_hash()}
    start = next((t.snapshot for t in plan.trials if t.task is task), None)
    if start is not None and start.digest != plan.snapshots[task.spec.repo].digest:
        entry["snapshot"] = start.digest  # the setup_patch's starting state
    return entry


def sandbox_env_candidates(secrets: list[str]) -> dict[str, str]:
    """Host variables a task may allow-list into its sandbox: never the API key, whatever it is called."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES and v not in secrets}


def trial_context(
    plan: Plan,
    req: RunRequest,
    agent: Agent,
    factory: SandboxFactory,
    model_id: str,
    secrets: list[str],
    rundir: RunDir,
) -> TrialContext:
    return TrialContext(
        agent=agent,
        sandbox_factory=factory,
        weights=plan.weights,
        limits=req.limits,
        model_id=model_id,
        env=sandbox_env_candidates([s for s in secrets if s]),
        tool_output_bytes=req.tool_output_bytes or DEFAULT_OUTPUT_CAP,
        command_policy_mode=req.command_policy,
        command_budget=req.command_budget,
        tool_profile=req.tool_profile,
        open_events=rundir.open_trial_events,  # the trial's event stream, appended as it goes
    )


async def execute(
    plan: Plan,
    req: RunRequest,
    rundir: RunDir,
    agent: Agent,
    factory: SandboxFactory,
    model_id: str,
    *,
    secrets: list[str] | None = None,
    on_trial: Callable[[TrialRecord], None] = lambda _r: None,
) -> None:
    """One model's trials on the campaign scheduler (runner/scheduler.py), `req.concurrency` at once; a fatal
    model error stops scheduling (ModelError). Cancellation marks the run interrupted; every sandbox still open
    is cleaned up (shielded)."""
    tracker = TrackingFactory(factory)
    ctx = trial_context(plan, req, agent, tracker, model_id, secrets or [], rundir)
    run = ModelRun(model_id, rundir, ctx, plan.trials, on_trial)
    await run_all([run], tracker, max_sandboxes=req.concurrency, per_model=req.concurrency)
    if run.fatal:
        raise ModelError(f"run stopped: {run.fatal} (finished tasks are in {rundir.root})")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


__all__ = ["Plan", "RunRequest", "execute", "load_plan", "new_run_id", "run_config", "trial_context"]
