"""`agentgym tasks validate`: is every selected task sound? (docs/tasks.md, "Validating tasks")

Per task file: the schema (the normal loader; a bad file is reported, the others go on), every oracle
registered, the repo resolvable (snapshot fetch), an edit task's test environment buildable, the expected
values computable and the same on every repeat, then `repeats` trials of the oracle agent (must succeed every time) and of the nop agent (must fail
every time) through the real runner (`agentgym.evaluate`, validate_trials.py); a task whose outcome differs
across repeats is flaky. Each step is timed. `validate_tasks` is the public API; the CLI only prints.
"""

from __future__ import annotations

import fnmatch
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from agentgym.errors import AgentGymError, SpecError
from agentgym.grading.testenv import repo_environment
from agentgym.oracles import ExpectedCache
from agentgym.oracles.cache import canonical_json
from agentgym.runner.config import (
    ConfigTree,
    LoadedRepo,
    check_oracles,
    check_repo_filter,
    check_repo_id,
    load_repos,
    shared_policy,
    task_policy,
    task_set_dir,
    task_set_files,
)
from agentgym.runner.validate_report import TaskReport, ValidationReport
from agentgym.runner.validate_trials import TrialSetup, run_trials
from agentgym.scoring.checks import plan_expected
from agentgym.sources import fetch_snapshot
from agentgym.sources.base import Snapshot
from agentgym.specs.loader import load_model, read_yaml
from agentgym.specs.task import CommandPolicy, TaskSpec

T = TypeVar("T")


def _quiet(_message: str) -> None:
    pass


@dataclass
class ValidateRequest:
    config_dir: Path | None = None
    task_set: str = "l1"
    tasks: list[str] = field(default_factory=list)  # task ids / id globs / task file paths; empty: the whole set
    repos: list[str] | None = None
    repeats: int = 3
    concurrency: int = 1
    sandbox: str = "bwrap"
    progress: Callable[[str], None] = _quiet


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def validate_tasks(req: ValidateRequest) -> ValidationReport:
    """Validate the selected tasks. Bad input (unknown task set, repo filter, a pattern matching nothing)
    raises SpecError; a bad task is a failed TaskReport."""
    if req.repeats < 1:
        raise SpecError(f"--repeats: expected at least 1, got {req.repeats}")
    tree = ConfigTree.discover(req.config_dir)
    repos = load_repos(tree)
    check_repo_filter(req.repos, repos)
    set_dir = task_set_dir(tree, req.task_set)
    report = ValidationReport(req.task_set, req.repeats, [])
    with _timed(report.timings, "load"):
        report.tasks = _load_all(select_files(req.tasks, set_dir), repos, set_dir, req.repos)
    snapshots = _fetch_repos(report, repos, req.progress)
    _build_test_envs(report, repos, req.progress)
    with _timed(report.timings, "expected"):
        for task in report.tasks:
            if task.ok and task.spec is not None:
                _check_expected(task, snapshots[task.spec.repo], req.repeats)
    with tempfile.TemporaryDirectory(prefix="agentgym-validate-") as tmp:
        setup = TrialSetup(tree, set_dir, req.task_set, req.repeats, req.concurrency, req.sandbox, Path(tmp))
        run_trials(setup, [t for t in report.tasks if t.ok], report.timings, req.progress)
    return report


# ------------------------------------------------------------------------------------------- selection


def select_files(patterns: list[str], set_dir: Path) -> list[Path]:
    """Task files named by path, or the task set's files whose id or path matches an id glob."""
    every = task_set_files(set_dir)
    if not patterns:
        return every
    chosen: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.suffix in (".yaml", ".yml") and path.is_file():
            found = [path.resolve()]
        else:
            found = [f for f in every if _matches(f, pattern)]
        if not found:
            raise SpecError(f"TASKS: no task file or task id in {set_dir} matches '{pattern}'")
        chosen += [f for f in found if f not in chosen]
    return chosen


def _raw(file: Path, key: str) -> str | None:
    """A field read leniently (a file that fails its schema can still be selected by id)."""
    try:
        data = read_yaml(file)
    except AgentGymError:
        return None
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _matches(file: Path, pattern: str) -> bool:
    task_id = _raw(file, "id")
    return fnmatch.fnmatch(str(file), pattern) or (task_id is not None and fnmatch.fnmatch(task_id, pattern))


# --------------------------------------------------------------------------------------------- loading


def _load_all(
    files: list[Path], repos: dict[str, LoadedRepo], set_dir: Path, repo_filter: list[str] | None
) -> list[TaskReport]:
    shared = shared_policy(set_dir)
    seen: dict[str, Path] = {}
    reports = []
    for file in files:
        if repo_filter and _raw(file, "repo") not in repo_filter:
            continue
        task = _load_one(file, repos, shared)
        if task.task_id is not None and task.ok:
            if task.task_id in seen:
                task.fail(f"schema: duplicate task id '{task.task_id}' (also in {seen[task.task_id]})")
            seen.setdefault(task.task_id, file)
        reports.append(task)
    return reports


def _load_one(file: Path, repos: dict[str, LoadedRepo], shared: CommandPolicy) -> TaskReport:
    task = TaskReport(file, task_id=_raw(file, "id"), repo=_raw(file, "repo"))
    start = time.perf_counter()
    try:
        spec = load_model(file, TaskSpec)
        task_policy(spec, file, shared)
    except SpecError as exc:
        task.step("schema", False, exc.message, time.perf_counter() - start)
        return task
    task.spec, task.task_id, task.repo = spec, spec.id, spec.repo
    task.step("schema", True, None, time.perf_counter() - start)
    start = time.perf_counter()
    try:
        check_oracles(spec, file)
        task.step("oracles", True, None, time.perf_counter() - start)
    except SpecError as exc:
        task.step("oracles", False, exc.message, time.perf_counter() - start)
    try:
        check_repo_id(spec, file, repos)
    except SpecError as exc:
        task.step("repo", False, exc.message)
    return task


def _fetch_repos(
    report: ValidationReport, repos: dict[str, LoadedRepo], progress: Callable[[str], None]
) -> dict[str, Snapshot]:
    """One fetch per repo used by a loaded task; a repo that cannot be fetched fails its tasks."""

    def fetch(loaded: LoadedRepo) -> Snapshot:
        progress(f"snapshot {loaded.spec.id} ({loaded.spec.kind})")
        return fetch_snapshot(loaded.spec, registry_dir=loaded.file.parent)

    return _per_repo(report, repos, ("repo", "fetch"), lambda spec: True, fetch)


def _build_test_envs(report: ValidationReport, repos: dict[str, LoadedRepo], progress: Callable[[str], None]) -> None:
    """The test environment of each repo with edit tasks, built as a run builds it (the trials below find it
    in the cache); one that cannot be built fails that repo's edit tasks, not the whole validation."""

    def build(loaded: LoadedRepo) -> object:
        progress(f"test environment {loaded.spec.id}")
        return repo_environment(loaded)

    _per_repo(report, repos, ("test env", "test_env"), lambda spec: spec.kind == "edit", build)


def _per_repo(
    report: ValidationReport,
    repos: dict[str, LoadedRepo],
    names: tuple[str, str],
    applies: Callable[[TaskSpec], bool],
    work: Callable[[LoadedRepo], T],
) -> dict[str, T]:
    """`work` once per repo of the loaded tasks it `applies` to, timed: its error is a failed step (named
    names[0]; timing names[1]) of each such task of that repo, never the end of the validation."""
    step, timing = names
    done: dict[str, T] = {}
    chosen = [t for t in report.tasks if t.ok and t.spec is not None and applies(t.spec)]
    for repo_id in sorted({t.spec.repo for t in chosen if t.spec is not None}):
        start = time.perf_counter()
        error = None
        try:
            done[repo_id] = work(repos[repo_id])
        except AgentGymError as exc:
            error = exc.message
        seconds = time.perf_counter() - start
        report.timings[timing] = report.timings.get(timing, 0.0) + seconds
        for task in chosen:
            if task.ok and task.spec is not None and task.spec.repo == repo_id:
                task.step(step, error is None, error, seconds)
    return done


def _check_expected(task: TaskReport, snapshot: Snapshot, repeats: int) -> None:
    """The expected values, computed `repeats` times without the cache: each must succeed and agree."""
    assert task.spec is not None
    start = time.perf_counter()
    seen: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="agentgym-expected-") as tmp:
            for i in range(repeats):
                outputs, expected = plan_expected(task.spec, snapshot, ExpectedCache(Path(tmp) / str(i)))
                seen.append(
                    canonical_json(
                        [[o.key, e.value, e.accepted, e.facts] for o, e in zip(outputs, expected, strict=True)]
                    )
                )
    except AgentGymError as exc:
        task.step("expected", False, exc.message, time.perf_counter() - start)
        return
    task.step("expected", True, None, time.perf_counter() - start)
    if len(set(seen)) > 1:
        task.fail(f"flaky (expected values): the oracles' values differ across {repeats} computations")


__all__ = ["ValidateRequest", "select_files", "validate_tasks"]
