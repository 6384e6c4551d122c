"""`agentgym tasks mutate`: candidate bug-fix tasks from a repo's passing test suite.

1. The suite is collected and run twice on the pristine snapshot; only tests that passed both times count
   (the *stable* tests). A suite with none is bad input (one line, exit 2).
2. Mutation sites are found in the non-test sources (operators.py) and `max_mutants` are sampled with `seed`.
3. Each mutant runs the whole suite in a fresh sandbox, bounded by `timeout` (a hanging mutant is discarded,
   never fatal); one that breaks some stable tests and spares others runs a second time, and is kept when
   the same non-empty set of stable tests fails again. Nothing new starts once `time_budget` is spent.
4. Each kept mutant becomes an edit task (taskfile.py). `mutate_repo` is the API; the CLI only prints.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentgym.errors import AgentGymError
from agentgym.grading.testenv import repo_environment
from agentgym.runner.config import ConfigTree, load_repos
from agentgym.sandbox import get_sandbox_factory
from agentgym.sources import fetch_snapshot
from agentgym.tasks_mutate import taskfile
from agentgym.tasks_mutate.operators import OPERATORS, Mutation, all_mutations, sample
from agentgym.tasks_mutate.suite import SuiteRun, SuiteRunner
from agentgym.tasks_mutate.taskfile import Kept


def _quiet(_line: str) -> None:
    pass


@dataclass
class MutateRequest:
    repo_id: str
    config_dir: Path | None = None
    out: Path | None = None  # the task set folder; files go to <out>/<repo_id>/
    task_set: str = "mutated"
    test_command: str = "python -m pytest"
    test_paths: list[str] = field(default_factory=list)
    max_mutants: int = 20
    seed: int = 0
    files: str | None = None
    operators: tuple[str, ...] = OPERATORS
    timeout: float = 60.0
    time_budget: float = 900.0
    sandbox: str = "bwrap"
    force: bool = False
    progress: Callable[[str], None] = _quiet  # one line per mutant, as it is decided


@dataclass
class Outcome:
    mutation: Mutation
    verdict: str  # kept | survived | all_fail | timeout | no_report | flaky | no_parse | not_tried
    detail: str
    seconds: float = 0.0
    task_file: Path | None = None

    def line(self) -> str:
        name = self.task_file.name if self.task_file else self.verdict
        return f"{name:<18} {self.mutation.describe()}: {self.detail} ({self.seconds:.1f}s)"


@dataclass
class MutateReport:
    target: Path
    sites: int
    stable: int
    collected: int
    baseline_seconds: float
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def written(self) -> list[Path]:
        return [o.task_file for o in self.outcomes if o.task_file is not None]

    def summary(self) -> str:
        counts = Counter(o.verdict for o in self.outcomes if o.verdict != "kept")
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        return (
            f"{len(self.outcomes)} of {self.sites} mutation site(s) sampled, {self.stable} of {self.collected} "
            f"test(s) stable (baseline {self.baseline_seconds:.1f}s): {len(self.written)} kept, rejected: {rejected}; "
            f"wrote {len(self.written)} task(s) to {self.target} in {self.seconds:.0f}s"
        )


def mutate_repo(req: MutateRequest) -> MutateReport:
    """Generate the tasks. Bad input (repo id, existing files, a suite that does not run) raises AgentGymError."""
    for name, value in (
        ("--max-mutants", req.max_mutants),
        ("--timeout", req.timeout),
        ("--time-budget", req.time_budget),
    ):
        if value <= 0:
            raise AgentGymError(f"{name}: expected a positive number, got {value}")
    unknown = [op for op in req.operators if op not in OPERATORS]
    if unknown or not req.operators:
        raise AgentGymError(
            f"--operators: unknown operator {unknown[0] if unknown else '(none)'!r} (known: {', '.join(OPERATORS)})"
        )
    tree = ConfigTree.discover(req.config_dir)
    repos = load_repos(tree)
    if req.repo_id not in repos:
        raise AgentGymError(f"--repo-id: unknown repo id '{req.repo_id}' (known: {', '.join(sorted(repos))})")
    target = (req.out or (tree.root or Path.cwd()) / "tasks" / req.task_set) / req.repo_id
    if taskfile.existing(target) and not req.force:
        raise AgentGymError(f"{target}: mutation tasks exist already (use --force to replace them)")
    loaded = repos[req.repo_id]
    snapshot = fetch_snapshot(loaded.spec, registry_dir=loaded.file.parent)
    factory = get_sandbox_factory(req.sandbox)
    env = repo_environment(loaded)  # the repo's test_env (its wheels, its pythonpath), as its edit tasks get
    runner = SuiteRunner(snapshot, factory, req.test_command, req.timeout, list(req.test_paths), test_env=env)
    sites = all_mutations(snapshot.path, req.files, tuple(req.operators))
    if not sites:
        where = f" matching --files {req.files}" if req.files else ""
        raise AgentGymError(f"{req.repo_id}: no mutation site in a non-test Python source file{where}")
    return asyncio.run(_generate(req, runner, snapshot.path, sites, target))


async def _generate(
    req: MutateRequest, runner: SuiteRunner, root: Path, sites: list[Mutation], target: Path
) -> MutateReport:
    started = time.monotonic()
    await runner.collect()
    first, second = await runner.run({}), await runner.run({})
    for run in (first, second):
        if run.timed_out or run.error:
            cause = f"timed out after {req.timeout:g}s" if run.timed_out else run.error
            raise AgentGymError(f"--test-command: the unmutated suite did not run: {cause}")
    stable = first.passed() & second.passed()
    if not stable:
        raise AgentGymError(f"--test-command: no test of the unmutated suite passed twice ({len(runner.node_ids)})")
    report = MutateReport(target, len(sites), len(stable), len(runner.node_ids), max(first.seconds, second.seconds))
    if req.force:
        taskfile.clear(target)
    time_limit = max(30, int(req.timeout))
    for mutation in sample(sites, req.max_mutants, req.seed):
        if time.monotonic() - started > req.time_budget:
            outcome = Outcome(mutation, "not_tried", f"time budget of {req.time_budget:g}s spent")
        else:
            outcome, kept = await _try(runner, root, mutation, stable, req.timeout)
            if kept is not None:
                number = len(report.written) + 1
                outcome.task_file = taskfile.write_task(
                    target, runner.snapshot.repo_id, number, kept, req.test_command, time_limit
                )
        report.outcomes.append(outcome)
        req.progress(outcome.line())
    report.seconds = time.monotonic() - started
    return report


async def _try(
    runner: SuiteRunner, root: Path, mutation: Mutation, stable: set[str], timeout: float
) -> tuple[Outcome, Kept | None]:
    """Run one mutant (twice when the first run makes it a candidate) and decide."""
    started = time.monotonic()
    original = (root / mutation.path).read_bytes()
    mutated = mutation.apply(original)
    try:
        compile(mutated, mutation.path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return Outcome(mutation, "no_parse", f"the mutated file does not compile: {exc}"), None
    changes = {mutation.path: mutated}
    runs: list[SuiteRun] = []
    failing: set[str] = set()
    for attempt in range(2):
        run = await runner.run(changes)
        runs.append(run)
        verdict = _judge(run, stable, timeout)
        if verdict is not None:
            return Outcome(mutation, verdict[0], verdict[1], time.monotonic() - started), None
        broken = stable - run.passed()
        if attempt == 1 and broken != failing:
            detail = f"the failing tests differ between two runs ({len(failing)} then {len(broken)})"
            return Outcome(mutation, "flaky", detail, time.monotonic() - started), None
        failing = broken
    passing = sorted(stable - failing)
    kept = Kept(mutation, original, mutated, sorted(failing), passing)
    detail = f"{len(failing)} stable test(s) fail on both runs, {len(passing)} pass"
    return Outcome(mutation, "kept", detail, time.monotonic() - started), kept


def _judge(run: SuiteRun, stable: set[str], timeout: float) -> tuple[str, str] | None:
    """Why a run rules its mutant out, or None when it broke some stable tests and spared others."""
    if run.timed_out:
        return "timeout", f"the suite ran over {timeout:g}s (a hang?)"
    if run.error:
        return "no_report", run.error
    broken = stable - run.passed()
    if not broken:
        return "survived", "every stable test still passes"
    if broken == stable:
        return "all_fail", f"all {len(stable)} stable tests fail"
    return None
