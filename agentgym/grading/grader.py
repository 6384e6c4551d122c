"""Grading an edit task after the agent's sandbox is stopped: a fresh sandbox on the grading tree
(gradetree.py), no network, the test command with the grading node ids and a JUnit report written outside
the tree, results read from that report and cross-checked with the exit code."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from agentgym.errors import SpecError
from agentgym.grading import junit
from agentgym.grading.gradetree import build_grading_tree, env_shadows
from agentgym.grading.testenv import TestEnvironment, test_environment
from agentgym.sandbox.base import Limits, Sandbox, SandboxFactory, SandboxRefusal, SandboxSpec
from agentgym.sandbox.workspace import Workspace
from agentgym.sources.base import Snapshot
from agentgym.specs.result import OutputCheck
from agentgym.specs.task import ResolvedPolicy, TaskSpec

# Host paths an edit-task sandbox never shows: vendored copies of popular projects with their upstream tests.
HIDDEN_HOST_PATHS = ("/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "/usr/share/doc", "/usr/src")
GRADING_ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONNOUSERSITE": "1",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # no plugin registered by package metadata the agent planted
    "PYTHONPYCACHEPREFIX": "/tmp/.agentgym-pycache",  # byte code in the tree is never read
}
SYSTEM_TREES = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")  # what a bwrap sandbox shows
MAX_REPORT_BYTES = 8 * 1024**2
WRITABLE = ResolvedPolicy(allowed=[], prohibited=[], write_paths_allowed=[".", "/tmp/"])
# The grading tree is read-only: code under test cannot rewrite a test file that pytest has yet to import.
READ_ONLY = ResolvedPolicy(allowed=[], prohibited=[], write_paths_allowed=["/tmp/"])


@dataclass
class Grade:
    checks: list[OutputCheck]
    harness_error: str | None = None
    exit_code: int | None = None
    not_applied: list[str] = field(default_factory=list)  # the agent's changes the grader ignored


def hidden_paths(task_file: Path) -> tuple[str, ...]:
    """HIDDEN_HOST_PATHS, plus the task's folder (its hidden tests) and the packaged task sets when they lie
    in a system tree the sandbox shows (an install under /usr)."""
    from agentgym.runner.config import packaged_data_dir

    extra = [os.path.dirname(os.path.realpath(task_file)), os.path.realpath(packaged_data_dir() / "tasks")]
    shown = [p for p in extra if any(p.startswith(f"/{top}/") for top in SYSTEM_TREES)]
    return HIDDEN_HOST_PATHS + tuple(sorted(set(shown)))


def edit_sandbox_spec(
    task: TaskSpec,
    task_file: Path,
    policy: ResolvedPolicy,
    limits: Limits,
    env: dict[str, str],
    test_env: TestEnvironment | None = None,
) -> SandboxSpec:
    """The agent's sandbox for an edit task: whole repo writable, no .git, hidden host paths, and the repo's
    test environment (the one made at plan time; None: the harness's pytest)."""
    tenv = test_env or test_environment()
    return SandboxSpec(
        policy=policy,
        initial_working_dir=task.initial_working_dir,
        limits=limits,
        env={**env, **tenv.env()},
        skip_git=True,
        hidden_paths=hidden_paths(task_file),
        ro_mounts=tenv.mounts(),
    )


def hidden_sources(task: TaskSpec, task_file: Path) -> list[tuple[Path, str]]:
    """(host file, repo path) of each hidden test; each must be a file in the task's folder."""
    assert task.grading is not None
    base = task_file.resolve().parent  # a linked task file: its hidden tests lie beside the real one
    found = []
    for item in task.grading.hidden_tests:
        source = (base / item.src).resolve()
        if not source.is_relative_to(base) or not source.is_file():
            raise SpecError(f"{task_file}: field grading.hidden_tests: {item.src!r} is not a file in {base}")
        found.append((source, item.dest))
    return found


def grading_command(task: TaskSpec, report: str) -> str:
    assert task.grading is not None
    ids = " ".join(shlex.quote(i) for i in task.grading.test_ids())
    return f"{task.grading.test_command} -p no:cacheprovider -o addopts= -q --junitxml={shlex.quote(report)} -- {ids}"


async def grade(
    task: TaskSpec,
    task_file: Path,
    snapshot: Snapshot,
    agent_root: Path,
    factory: SandboxFactory,
    limits: Limits,
    test_env: TestEnvironment | None = None,
) -> Grade:
    """Run the grading tests on the agent's tree; every failure to grade is `harness_error` with its reason."""
    assert task.grading is not None
    hidden = hidden_sources(task, task_file)
    tenv = test_env or test_environment()
    shadows = env_shadows(tenv, snapshot.path)  # a planted module named like one the environment provides
    protected = frozenset([*task.visible_tests, *(dest for _, dest in hidden), *shadows])
    seconds = task.grading.time_limit_seconds
    wider = dataclasses.replace(limits, cpu_seconds=max(limits.cpu_seconds, seconds))
    spec = edit_sandbox_spec(task, task_file, READ_ONLY, wider, {}, tenv)
    spec = dataclasses.replace(spec, env={**spec.env, **GRADING_ENV}, initial_working_dir=".")
    ws, ignored = await asyncio.to_thread(build_grading_tree, snapshot, agent_root, hidden, protected)
    tree = Snapshot(snapshot.repo_id, ws.repo, snapshot.digest, {**snapshot.source, "grading_tree": True})
    async with sandbox_on(ws, tree, factory, spec) as sandbox:
        report = f"{sandbox.tmp_dir}/agentgym-junit-{secrets.token_hex(8)}.xml"  # outside the tree
        result = await sandbox.run(grading_command(task, report), cwd=None, timeout=seconds)
        text = await _read_report(sandbox, report)
    grade = judge(task, text, result.exit_code, result.timed_out, result.stderr or result.stdout)
    grade.not_applied = ignored
    return grade


@contextlib.asynccontextmanager
async def sandbox_on(
    ws: Workspace, tree: Snapshot, factory: SandboxFactory, spec: SandboxSpec
) -> AsyncIterator[Sandbox]:
    """A fresh sandbox on a throw-away tree (`ws`): stopped, cleaned up and the tree removed however it ends."""
    sandbox: Sandbox | None = None
    try:
        sandbox = await factory.open(tree, spec)
        yield sandbox
    finally:
        try:
            if sandbox is not None:
                await sandbox.stop()
                await sandbox.cleanup()
        finally:
            await asyncio.to_thread(ws.remove)


async def _read_report(sandbox: Sandbox, path: str) -> str | None:
    try:
        found = await sandbox.read_file(path, MAX_REPORT_BYTES)
    except SandboxRefusal:
        return None
    return None if found.truncated else found.content


def _tail(text: str) -> str:
    return " ".join(text.split())[-300:]


def failing_checks(task: TaskSpec, error: str) -> list[OutputCheck]:
    """Every grading test failed, with one cause."""
    return [OutputCheck(key=k, ok=False, weight=w, expected="passed", error=error) for k, w in task.check_keys()]


def judge(task: TaskSpec, text: str | None, exit_code: int, timed_out: bool, output: str) -> Grade:
    """Checks from the report; harness_error when the report and the exit code cannot be trusted together."""
    assert task.grading is not None
    ids = task.grading.test_ids()

    def fail_all(error: str) -> list[OutputCheck]:
        return failing_checks(task, error)

    if timed_out:
        return Grade(fail_all(f"grading timed out after {task.grading.time_limit_seconds}s"), exit_code=exit_code)
    if text is None:
        reason = f"grading wrote no JUnit report (exit {exit_code}): {_tail(output)}"
        return Grade(fail_all("no report"), harness_error=reason, exit_code=exit_code)
    try:
        report = junit.parse(text)
    except ValueError as exc:
        return Grade(fail_all("bad report"), harness_error=f"grading: {exc}", exit_code=exit_code)
    checks = []
    for node_id, weight in task.check_keys():
        status, message = report.cases.get(junit.junit_key(node_id), ("not run", None))
        error = message if status != "not run" else "; ".join(report.collection_errors)[:300] or "not run"
        ok = status == "passed"
        checks.append(OutputCheck(key=node_id, ok=ok, weight=weight, expected="passed", actual=status, error=error))
    ran = sum(1 for c in checks if c.actual != "not run")
    passed = sum(1 for c in checks if c.ok)
    reason = None
    if not ran and not report.collection_errors:
        reason = f"no grading test ran (exit {exit_code}, {len(report.cases)} other case(s)): {_tail(output)}"
    elif passed == len(ids) and exit_code != 0:
        reason = f"every grading test passed in the JUnit report but the test command exited {exit_code}"
    elif exit_code == 0 and any(c.actual in ("failed", "error") for c in checks):
        reason = "the test command exited 0 but the JUnit report has failing grading tests"
    return Grade(checks, harness_error=reason, exit_code=exit_code)
