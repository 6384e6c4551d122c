"""Running a repo's test suite the way the grader will: a fresh sandbox per run on a read-only link farm of
the snapshot (plus a mutated file), no network, `.git` and the vendored upstream copies hidden, the test
environment mounted, GRADING_ENV, `-p no:cacheprovider -o addopts=`, results from a JUnit report written
outside the tree. A mutant kept here then behaves the same under `agentgym tasks validate` and in trials.

Node ids come from one `--collect-only -q` run; each is matched to its JUnit case by the grader's own
`junit_key`, so a report case no collected id maps to is ignored, and a collected id with no case is
`not run` (a module that no longer imports).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import shlex
import time
from dataclasses import dataclass, field

from agentgym.errors import AgentGymError
from agentgym.grading import junit
from agentgym.grading.grader import GRADING_ENV, HIDDEN_HOST_PATHS, MAX_REPORT_BYTES, READ_ONLY, sandbox_on
from agentgym.grading.gradetree import place_file
from agentgym.grading.testenv import TestEnvironment, test_environment
from agentgym.sandbox.base import CommandResult, Limits, Sandbox, SandboxFactory, SandboxRefusal, SandboxSpec
from agentgym.sandbox.workspace import create_workspace
from agentgym.sandbox.writepaths import WritePlan
from agentgym.sources.base import Snapshot

PYTEST_FLAGS = "-p no:cacheprovider -o addopts= -q"
MAX_TESTS = 20_000


@dataclass
class SuiteRun:
    """One run of the suite: the status of every collected node id, or why there is none."""

    statuses: dict[str, str] = field(default_factory=dict)  # node id → passed | failed | error | skipped | not run
    seconds: float = 0.0
    timed_out: bool = False
    error: str | None = None  # no readable report (a crash before pytest wrote one)

    def passed(self) -> set[str]:
        return {i for i, s in self.statuses.items() if s == "passed"}


def _tail(text: str, size: int = 200) -> str:
    return " ".join(text.split())[-size:]


@dataclass
class SuiteRunner:
    snapshot: Snapshot
    factory: SandboxFactory
    test_command: str
    timeout: float
    test_paths: list[str] = field(default_factory=list)
    node_ids: list[str] = field(default_factory=list)
    test_env: TestEnvironment | None = None  # None: the harness's pytest (a repo without test_env)

    def _spec(self) -> SandboxSpec:
        tenv = self.test_env or test_environment()
        seconds = int(self.timeout) + 1
        limits = dataclasses.replace(Limits(), cpu_seconds=max(Limits().cpu_seconds, seconds))
        return SandboxSpec(
            policy=READ_ONLY,
            initial_working_dir=".",
            limits=limits,
            env={**tenv.env(), **GRADING_ENV},
            skip_git=True,
            hidden_paths=HIDDEN_HOST_PATHS,
            ro_mounts=tenv.mounts(),
        )

    def _command(self, extra: str) -> str:
        paths = " ".join(shlex.quote(p) for p in self.test_paths)
        return f"{self.test_command} {PYTEST_FLAGS} {extra}" + (f" -- {paths}" if paths else "")

    async def collect(self) -> list[str]:
        """The suite's node ids (pytest's --collect-only); an error names the cause in one line."""
        result, _ = await self._in_sandbox({}, report=False)
        if result.timed_out:
            raise AgentGymError(f"--test-command: collecting the tests took over {self.timeout:g}s")
        ids = _listed_ids(result.stdout)
        if not ids:
            raise AgentGymError(
                f"--test-command: collected no test (exit {result.exit_code}): {_tail(result.stdout + result.stderr)}"
            )
        self.node_ids = ids[:MAX_TESTS]
        return self.node_ids

    async def run(self, changes: dict[str, bytes]) -> SuiteRun:
        """The whole suite on the snapshot with `changes` (repo path → new bytes), bounded by `timeout`."""
        started = time.monotonic()
        result, text = await self._in_sandbox(changes, report=True)
        run = SuiteRun(seconds=time.monotonic() - started, timed_out=result.timed_out)
        if result.timed_out:
            return run
        if text is None:
            run.error = f"no JUnit report (exit {result.exit_code}): {_tail(result.stderr or result.stdout)}"
            return run
        try:
            parsed = junit.parse(text)
        except ValueError as exc:
            run.error = str(exc)
            return run
        for node_id in self.node_ids:
            status, _ = parsed.cases.get(junit.junit_key(node_id), ("not run", None))
            run.statuses[node_id] = status
        return run

    async def _in_sandbox(self, changes: dict[str, bytes], report: bool) -> tuple[CommandResult, str | None]:
        """One fresh sandbox: with `report`, a run writing JUnit XML outside the tree; else a collection."""
        ws = await asyncio.to_thread(
            create_workspace, self.snapshot, WritePlan([], False), link=True, skip=frozenset({".git"})
        )
        try:
            for rel, data in changes.items():
                place_file(ws.repo, rel, data)
        except BaseException:
            await asyncio.to_thread(ws.remove)
            raise
        tree = Snapshot(self.snapshot.repo_id, ws.repo, self.snapshot.digest, {**self.snapshot.source})
        async with sandbox_on(ws, tree, self.factory, self._spec()) as sandbox:
            path = f"{sandbox.tmp_dir}/agentgym-junit-{secrets.token_hex(8)}.xml"
            # a test module that cannot import (an optional dependency) must not stop the others from running
            extra = f"--continue-on-collection-errors --junitxml={shlex.quote(path)}" if report else "--collect-only"
            result = await sandbox.run(self._command(extra), cwd=None, timeout=self.timeout)
            text = await _read(sandbox, path) if report and not result.timed_out else None
        return result, text


def _listed_ids(stdout: str) -> list[str]:
    """The node ids `--collect-only -q` prints first, up to the blank line before its summary sections
    (a warnings section repeats node ids)."""
    ids: dict[str, None] = {}
    for line in stdout.splitlines():
        if not line.strip() and ids:
            break
        if "::" in line and not line[:1].isspace():
            ids[line.strip()] = None
    return list(ids)


async def _read(sandbox: Sandbox, path: str) -> str | None:
    try:
        found = await sandbox.read_file(path, MAX_REPORT_BYTES)
    except SandboxRefusal:
        return None
    return None if found.truncated else found.content
