"""The `local` sandbox: the same executor, run directly on the host. NO ISOLATION.

Commands run as the harness user with the host's file system and network; only these hold:
- the repo is a real copy of the snapshot (never links: a write could otherwise reach the cache);
- the environment is cleared (PATH, HOME=TMPDIR=<workspace>/tmp, LANG, TZ, allow-listed variables);
- per-command rlimits, timeouts and output caps apply; RLIMIT_NPROC is not enforced for root;
- file tools (read/write/list) refuse paths outside the repo copy and the private tmp dir, and
  writes outside the allowed write paths; commands are NOT confined;
- processes left behind are killed after each command (the executor is their subreaper) and at stop
  (anything still carrying the trial's token in its environment);
- the diff against the snapshot reports writes outside the allowed paths;
- the agent can write into the snapshot cache: the snapshot is marked, and every later use of it
  (here or in another process) first verifies its digest and refuses a changed one (sources/integrity.py).
Use it where bubblewrap cannot run, for trusted agents, or for debugging.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from agentgym.sandbox.base import SandboxSpec, WriteEvent
from agentgym.sandbox.process import EXECUTOR_SCRIPT, ExecutorSandbox, Launch, View, executor_config
from agentgym.sandbox.workspace import Workspace, create_workspace
from agentgym.sandbox.writepaths import REPO_VIEW, plan_write_paths, resolve_workdir
from agentgym.sources import integrity
from agentgym.sources.base import Snapshot

TOKEN_VAR = "AGENTGYM_TRIAL_TOKEN"
LOCAL_PATH = "/usr/local/bin:/usr/bin:/bin"


def kill_marked_processes(token: str) -> int:
    """SIGKILL every process whose environment carries `TOKEN_VAR=token`. Returns how many."""
    marker = f"{TOKEN_VAR}={token}".encode()
    killed = 0
    for _ in range(50):
        found = [pid for pid in _pids() if pid != os.getpid() and marker in _environ(pid)]
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


@dataclass
class LocalHost:
    ws: Workspace
    token: str

    @property
    def host_root(self) -> Path:
        return self.ws.repo

    async def finish(self) -> list[WriteEvent]:
        await asyncio.to_thread(kill_marked_processes, self.token)
        await asyncio.to_thread(self.ws.drop_escaping_links)
        return await asyncio.to_thread(self.ws.diff_against_snapshot)

    async def release(self) -> None:
        await asyncio.to_thread(kill_marked_processes, self.token)
        await asyncio.to_thread(self.ws.remove)


def _host_paths(spec: SandboxSpec, repo: str) -> dict[str, str]:
    """The task's variables with the sandbox views of `ro_mounts` replaced by their host paths (no mounts
    here), and PYTHONPATH entries in the repo view (a test environment's `pythonpath`) pointed at this
    workspace's repo; hidden paths cannot be hidden without isolation."""
    env = dict(spec.env)
    if "PYTHONPATH" in env:  # first: a host path below could itself start with the repo view's name
        entries = env["PYTHONPATH"].split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(_in_repo(entry, repo) for entry in entries)
    for source, view in spec.ro_mounts:
        env = {k: v.replace(view, source) for k, v in env.items()}
    return env


def _in_repo(entry: str, repo: str) -> str:
    if entry == REPO_VIEW or entry.startswith(REPO_VIEW + "/"):
        return repo + entry[len(REPO_VIEW) :]
    return entry


class LocalSandboxFactory:
    name = "local"

    async def open(self, snapshot: Snapshot, spec: SandboxSpec) -> ExecutorSandbox:
        plan = plan_write_paths(spec.policy.write_paths_allowed, snapshot.path)
        if not snapshot.source.get("grading_tree"):  # a grading tree is a throw-away copy, not a cached snapshot
            await asyncio.to_thread(integrity.mark_unisolated, snapshot)  # later uses verify its digest
        skip = frozenset({".git"}) if spec.skip_git else frozenset()
        ws = await asyncio.to_thread(create_workspace, snapshot, plan, link=False, skip=skip)
        host = LocalHost(ws=ws, token=secrets.token_hex(16))
        try:
            repo = str(ws.repo)
            workdir = resolve_workdir(spec.initial_working_dir, snapshot.path, repo)
            ws.tmp.mkdir(mode=0o700)
            writable = [str(ws.repo / p.rel) if p.rel else repo for p in plan.repo_paths] + [str(ws.tmp)]
            config = executor_config(
                repo=repo, tmp=str(ws.tmp), writable=writable, mode="subreaper", limits=spec.limits, disk_quota=False
            )
            env = {
                "PATH": LOCAL_PATH,
                "HOME": str(ws.tmp),
                "TMPDIR": str(ws.tmp),
                "LANG": "C.UTF-8",
                "TZ": "UTC",
                **_host_paths(spec, repo),
                TOKEN_VAR: host.token,
            }
            launch = Launch(
                argv=[sys.executable, "-I", "-S", str(EXECUTOR_SCRIPT), config],
                env=env,
                log_path=ws.dir / "executor.log",
            )
            sandbox = ExecutorSandbox(name=self.name, launch=launch, view=View(repo, workdir, str(ws.tmp)), host=host)
            await sandbox.start()
        except BaseException:
            await host.release()
            raise
        return sandbox
