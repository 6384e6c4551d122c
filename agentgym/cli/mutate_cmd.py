"""`agentgym tasks mutate` (registered on the `tasks` group in cli/main.py): flags → MutateRequest →
mutate_repo → one line per mutant as it is decided, then a summary. Exit 0: a task written; 1: none."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentgym.cli.options import ConfigDir
from agentgym.tasks_mutate.operators import OPERATORS
from agentgym.textsafe import for_terminal


def _line(text: str) -> None:
    print(for_terminal(text), flush=True)


def tasks_mutate(
    repo_id: Annotated[str, typer.Option(help="A registered repo id.")],
    task_set: Annotated[str, typer.Option(help="Task set to write into (tasks/<task_set>/<repo_id>/).")] = "mutated",
    out: Annotated[
        Path | None,
        typer.Option(help="Task set folder to write into (default: tasks/<task_set> in the config dir or here)."),
    ] = None,
    test_command: Annotated[
        str, typer.Option(help="How the repo's tests run (pytest flags and node ids are appended).")
    ] = "python -m pytest",
    tests: Annotated[
        list[str] | None, typer.Option("--tests", help="Test paths to run (default: what pytest finds).")
    ] = None,
    max_mutants: Annotated[int, typer.Option(help="Mutants tried at most.", min=1)] = 20,
    seed: Annotated[int, typer.Option(help="Seed for sampling the mutants.")] = 0,
    files: Annotated[str | None, typer.Option(help="Only mutate source files matching this glob.")] = None,
    operators: Annotated[
        str | None, typer.Option(help="Comma-separated operators (default: all): " + ", ".join(OPERATORS) + ".")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds one run of the suite may take.", min=1)] = 60.0,
    time_budget: Annotated[float, typer.Option(help="Seconds after which no new mutant is tried.", min=1)] = 900.0,
    sandbox: Annotated[str, typer.Option(help="bwrap (default) or local (no isolation).")] = "bwrap",
    config_dir: ConfigDir = None,
    force: Annotated[bool, typer.Option(help="Replace the mutation tasks of an earlier run.")] = False,
) -> None:
    """Generate bug-fix edit tasks from the repo's passing test suite: apply code mutations (flipped operators,
    off-by-one, negated branches, dropped calls, boolean flips) and keep those that break some tests on two
    runs while others keep passing. Each kept mutant: task_mut_NNN.yaml with its setup and reference patches."""
    from agentgym.tasks_mutate.generate import MutateRequest, mutate_repo

    req = MutateRequest(
        repo_id=repo_id,
        config_dir=config_dir,
        out=out,
        task_set=task_set,
        test_command=test_command,
        test_paths=list(tests or []),
        max_mutants=max_mutants,
        seed=seed,
        files=files,
        operators=tuple(o.strip() for o in operators.split(",")) if operators else OPERATORS,
        timeout=timeout,
        time_budget=time_budget,
        sandbox=sandbox,
        force=force,
        progress=_line,
    )
    report = mutate_repo(req)
    _line(report.summary())
    raise typer.Exit(0 if report.written else 1)
