"""The trials of `agentgym tasks validate`: the oracle and nop agents, `repeats` epochs each, through the real
runner (`agentgym.evaluate`, real sandbox, a temporary runs root) on a temporary config tree that holds only
the tasks that passed the earlier checks (links to their files), so one bad file cannot stop the others."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agentgym.runner.campaign import evaluate
from agentgym.runner.config import ConfigTree
from agentgym.runner.validate_report import TaskReport, has_reference, judge_runs
from agentgym.specs.result import TaskResult


@dataclass(frozen=True)
class TrialSetup:
    tree: ConfigTree
    set_dir: Path  # the task set's folder in `tree` (for its _shared/ policy)
    task_set: str
    repeats: int
    concurrency: int
    sandbox: str
    tmp: Path


def link_tree(setup: TrialSetup, tasks: list[TaskReport], name: str) -> Path:
    """A config tree under tmp: every part of the user's tree but tasks/ linked, and a task set of links."""
    root = setup.tmp / name
    root.mkdir()
    if setup.tree.root is not None:
        for entry in setup.tree.root.iterdir():
            if entry.name != "tasks":
                (root / entry.name).symlink_to(entry.resolve())
    folder = root / "tasks" / setup.task_set / "selected"
    folder.mkdir(parents=True)
    shared = setup.set_dir / "_shared"
    if shared.is_dir():
        (folder.parent / "_shared").symlink_to(shared.resolve())
    for i, task in enumerate(tasks):
        (folder / f"task_{i:05d}.yaml").symlink_to(task.file.resolve())
    return root


def _seconds(records: list[TaskResult]) -> float:
    total = 0.0
    for r in records:
        try:
            total += (datetime.fromisoformat(r.finished_at) - datetime.fromisoformat(r.started_at)).total_seconds()
        except ValueError:
            continue
    return total


def _run(setup: TrialSetup, tasks: list[TaskReport], agent: str, progress: Callable[[str], None]) -> list[TaskResult]:
    root = link_tree(setup, tasks, f"tree-{agent}")
    spec = {
        "agent": agent,
        "epochs": setup.repeats,
        "config_dir": str(root),
        "task_set": setup.task_set,
        "runs_root": str(setup.tmp / f"runs-{agent}"),
        "sandbox": setup.sandbox,
        "concurrency": setup.concurrency,
    }
    progress(f"{agent} agent: {len(tasks)} task(s) x {setup.repeats} repeat(s)")
    result = evaluate(spec, single_run=True, progress=progress)
    return [r for model in result.models.values() for r in model.records]


def run_trials(
    setup: TrialSetup, tasks: list[TaskReport], timings: dict[str, float], progress: Callable[[str], None]
) -> None:
    """Run and judge the oracle agent (tasks with a reference solution) and the nop agent (all)."""
    solvable = [t for t in tasks if t.spec is not None and has_reference(t.spec)]
    for task in tasks:
        if task not in solvable:
            task.step("oracle runs", False, "reference fails: the task file has no reference solution")
    for agent, chosen in (("oracle", solvable), ("nop", tasks)):
        if not chosen:
            continue
        start = time.perf_counter()
        records = _run(setup, chosen, agent, progress)
        timings[f"{agent}_runs"] = time.perf_counter() - start
        for task in chosen:
            mine = [r for r in records if r.task.id == task.task_id]
            judge_runs(task, agent, mine, setup.repeats, _seconds(mine))
