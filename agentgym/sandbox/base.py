"""The sandbox protocol: run a command, read/write/list files, stop, clean up.

A sandbox is opened on a fresh per-trial workspace made from a Snapshot. Paths given to it are either
absolute in the agent's view (e.g. `/repo/src/x.py`, `/tmp/a`) or relative to `workdir`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agentgym.sources.base import Snapshot
from agentgym.specs.task import ResolvedPolicy


@dataclass(frozen=True)
class Limits:
    """Resource limits (documented defaults; configurable via --sandbox-limit NAME=VALUE).

    Per command and process, except `disk_bytes` and the `trial_*` limits, which bound the whole trial
    (a cgroup, where the harness can make one: see `agentgym doctor`).
    """

    cpu_seconds: int = 60
    memory_bytes: int = 2 * 1024**3
    file_size_bytes: int = 64 * 1024**2
    max_processes: int = 256
    open_files: int = 256
    output_bytes: int = 1024**2  # kept per stream (head + tail); more is elided with a marker
    disk_bytes: int = 256 * 1024**2  # writable scratch space (eval_artifacts, /tmp, other write paths)
    trial_memory_bytes: int = 4 * 1024**3  # all processes of the trial together, tmpfs/shm/memfd pages included
    trial_processes: int = 512  # processes and threads of the trial together


@dataclass(frozen=True)
class SandboxSpec:
    policy: ResolvedPolicy
    initial_working_dir: str = "."
    limits: Limits = Limits()
    env: dict[str, str] = field(default_factory=dict)  # extra variables the task allow-listed
    skip_git: bool = False  # leave the repo's .git out of the agent's view (edit tasks: history holds fixes)
    hidden_paths: tuple[str, ...] = ()  # host paths covered by an empty tmpfs in the sandbox (bwrap)
    ro_mounts: tuple[tuple[str, str], ...] = ()  # extra read-only binds: (host path, path in the sandbox)


@dataclass
class CommandResult:
    stdout: str
    stderr: str
    exit_code: int
    duration_ms: float
    timed_out: bool = False
    stdout_elided: int = 0  # bytes dropped from the middle of stdout
    stderr_elided: int = 0
    blocked: list[str] = field(default_factory=list)  # what the sandbox refused (limits, ro fs, network ...)


@dataclass
class DirEntry:
    name: str
    type: str  # "file" | "dir" | "symlink" | "other"
    size: int


@dataclass
class FileRead:
    content: str  # decoded UTF-8 with replacement
    size: int  # full size in bytes
    truncated: bool


@dataclass
class WriteEvent:
    """A change found after the trial outside the allowed write paths."""

    path: str  # relative to the repo root
    change: str  # "added" | "removed" | "modified" | "limit" (a walk stopped at a cap: see detail)
    detail: str = ""


class SandboxRefusal(Exception):
    """A file operation the sandbox refused (escape through a symlink, read-only, missing...)."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind  # "path_escape" | "sandbox_blocked" | "not_found" | "error"
        self.detail = detail
        super().__init__(detail)


class Sandbox(Protocol):
    name: str
    workdir: str  # the agent's starting directory, absolute in the agent's view
    repo_root: str  # the repo root, absolute in the agent's view
    tmp_dir: str  # where the agent's /tmp is for the file tools (bwrap: /tmp; local: a private dir)

    async def run(self, command: str, *, cwd: str | None, timeout: float) -> CommandResult: ...
    async def read_file(self, path: str, max_bytes: int) -> FileRead: ...
    async def write_file(self, path: str, content: str, *, append: bool) -> int: ...
    async def list_dir(self, path: str) -> list[DirEntry]: ...
    async def stop(self) -> list[WriteEvent]:
        """Kill every process, bring the final files to `host_root`, return unauthorized changes."""
        ...

    @property
    def host_root(self) -> Path:
        """Host path of the repo tree as the agent left it (valid after stop, until cleanup)."""
        ...

    async def cleanup(self) -> None: ...


class SandboxFactory(Protocol):
    name: str

    async def open(self, snapshot: Snapshot, spec: SandboxSpec) -> Sandbox: ...
