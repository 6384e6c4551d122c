"""`agentgym tasks generate|list|validate` (registered on the `tasks` group in cli/main.py). validate: flags →
ValidateRequest → validate_tasks → one line per task and a summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentgym.cli.options import ConfigDir
from agentgym.errors import AgentGymError
from agentgym.fsutil import write_atomic
from agentgym.runner.validate_report import TaskReport, ValidationReport
from agentgym.textsafe import for_terminal

err = Console(stderr=True)


def _progress(message: str) -> None:
    if not message.startswith("run folder:"):  # the trials' run folders are temporary
        err.print(for_terminal(message), markup=False, highlight=False, soft_wrap=True)


def _times(task: TaskReport) -> str:
    return ", ".join(f"{s.name} {s.seconds:.2f}s" for s in task.steps)


def task_line(task: TaskReport) -> str:
    name = for_terminal(task.name)
    if task.ok:
        return f"ok    {name}  ({_times(task)})"
    return f"FAIL  {name}: {for_terminal('; '.join(task.reasons))}"


def summary_line(report: ValidationReport) -> str:
    times = ", ".join(f"{k.replace('_', ' ')} {v:.2f}s" for k, v in report.timings.items())
    total, failed = len(report.tasks), len(report.failed)
    return f"{total} task(s) x {report.repeats} repeat(s): {total - failed} ok, {failed} failed ({times})"


def tasks_validate(
    tasks: Annotated[
        list[str] | None,
        typer.Argument(help="Task ids, id globs or task file paths (default: every task of the task set)."),
    ] = None,
    task_set: Annotated[str, typer.Option(help="Task set folder under tasks/.")] = "l1",
    repos: Annotated[str | None, typer.Option(help="Comma-separated repo ids (default: all).")] = None,
    repeats: Annotated[int, typer.Option(help="Trials of the oracle and of the nop agent per task.", min=1)] = 3,
    concurrency: Annotated[int, typer.Option(help="Trials run at once.", min=1)] = 1,
    config_dir: ConfigDir = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full per-task report here.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines on stderr.")] = False,
) -> None:
    """Validate tasks: schema, oracles, repo, expected values; the reference solution must succeed and the nop
    agent fail on every repeat, and nothing may differ across repeats (flaky). Exit 0: all ok; 1: some failed."""
    from agentgym.runner.validate import ValidateRequest, validate_tasks

    req = ValidateRequest(
        config_dir=config_dir,
        task_set=task_set,
        tasks=list(tasks or []),
        repos=[r for r in repos.split(",") if r] if repos else None,
        repeats=repeats,
        concurrency=concurrency,
        progress=(lambda _m: None) if quiet else _progress,
    )
    report = validate_tasks(req)
    for task in report.tasks:
        print(task_line(task))
    print(summary_line(report))
    if json_out is not None:
        write_atomic(json_out, json.dumps(report.as_json(), indent=2, default=str) + "\n")
    raise typer.Exit(0 if report.ok else 1)


def tasks_generate(
    repo_id: Annotated[str, typer.Option(help="A registered repo id.")],
    task_set: Annotated[str, typer.Option(help="Task set to write into.")] = "l1",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output folder (default: tasks/<task_set>/<repo_id> in the config dir or the current directory)."
        ),
    ] = None,
    config_dir: ConfigDir = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing task files.")] = False,
) -> None:
    """Write the default ten-task L1 set for a registered repo (computed from its snapshot)."""
    from agentgym.runner.config import ConfigTree, load_repos
    from agentgym.sources import fetch_snapshot
    from agentgym.tasks_gen import generate_l1_tasks, tie_warnings
    from agentgym.tasks_yaml import write_tasks

    tree = ConfigTree.discover(config_dir)
    repos = load_repos(tree)
    if repo_id not in repos:
        raise AgentGymError(f"--repo-id: unknown repo id '{repo_id}' (known: {', '.join(sorted(repos))})")
    target = out or (tree.root or Path.cwd()) / "tasks" / task_set / repo_id
    if target.exists() and any(target.glob("task_*.yaml")) and not force:
        raise AgentGymError(f"{target}: task files exist already (use --force to overwrite)")
    snap = fetch_snapshot(repos[repo_id].spec, registry_dir=repos[repo_id].file.parent)
    tasks = generate_l1_tasks(repo_id, snap.path)
    write_tasks(tasks, target)
    for line in tie_warnings(tasks, snap.path):
        err.print(line, markup=False, highlight=False)
    err.print(f"wrote 10 tasks to {target}")


def tasks_list(
    task_set: Annotated[str, typer.Option(help="Task set.")] = "l1",
    config_dir: ConfigDir = None,
    repos: Annotated[str | None, typer.Option(help="Comma-separated repo ids.")] = None,
) -> None:
    """List (and validate) the tasks of a task set."""
    from agentgym.runner.config import ConfigTree, TaskFilter, load_repos, load_tasks

    tree = ConfigTree.discover(config_dir)
    loaded = load_repos(tree)
    flt = TaskFilter(repos=repos.split(",") if repos else None)
    for t in load_tasks(tree, task_set, loaded, flt):
        oracles = ",".join(o.oracle.fn for o in t.spec.outputs) or f"edit:{len(t.spec.check_keys())} tests"
        print(f"{t.spec.repo}\t{t.spec.id}\t{t.spec.difficulty}\t{oracles}")
