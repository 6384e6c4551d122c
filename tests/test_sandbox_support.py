"""Shared helpers for the sandbox tests: a real snapshot tree, host fingerprints, a run-and-check harness."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentgym.sandbox import bwrap_available, get_sandbox_factory
from agentgym.sandbox.base import CommandResult, Limits, Sandbox, SandboxSpec, WriteEvent
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import UnsupportedEntry, tree_digest
from agentgym.specs.task import ResolvedPolicy

BWRAP_OK, BWRAP_WHY = bwrap_available()
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap cannot run here: {BWRAP_WHY}")
SECRET = "sk-test-secret"
POLICY = ResolvedPolicy(allowed=[], prohibited=[], write_paths_allowed=["eval_artifacts/", "/tmp/"])
TREE = {
    "README.md": "# demo\n",
    "src/app.py": "print('app')\n",
    "src/pkg/__init__.py": "",
    "src/pkg/mod.py": "X = 1\n",
    "data/notes.txt": "notes\n" * 50,
    ".gitignore": "build/\n",
}
Script = Callable[[Sandbox], Awaitable[None]]


def _git(cwd: Path, *args: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "HOME": str(cwd),
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def make_snapshot(root: Path, files: dict[str, str] | None = None, *, with_git: bool = True) -> Snapshot:
    """A real tree like the cache makes: a git repo plus untracked/ignored files, all write bits off."""
    for rel, text in (files or TREE).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "scripts").mkdir(exist_ok=True)
    (root / "scripts" / "run.sh").write_text("#!/bin/sh\necho ran\n")
    os.chmod(root / "scripts" / "run.sh", 0o755)
    if (root / "src" / "app.py").exists():
        (root / "src" / "link_to_app.py").symlink_to("app.py")
    if with_git:
        _git(root, "init", "-q", "-b", "main")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "initial")
        (root / "untracked.txt").write_text("untracked\n")
        (root / "build").mkdir()
        (root / "build" / "out.o").write_text("ignored\n")
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & ~0o222)
    return Snapshot(repo_id="demo", path=root, digest=_digest(root), source={"kind": "test"})


def _digest(root: Path) -> str:
    """The real digest (a snapshot a local trial used is verified against it before every later use);
    a placeholder for trees the cache could not hold (a fifo), which are never verified."""
    try:
        return tree_digest(root).digest
    except UnsupportedEntry:
        return "ab" * 32


def fingerprint(*roots: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under the roots: (mode, inode, content hash or link target)."""
    out: dict[str, tuple[int, int, str]] = {}
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirs, names in os.walk(root):
            for name in dirs + names:
                path = os.path.join(dirpath, name)
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    digest = os.readlink(path)
                elif stat.S_ISREG(info.st_mode):
                    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                else:
                    digest = "dir"
                out[path] = (info.st_mode, info.st_ino, digest)
    return out


@dataclass
class SandboxEnv:
    snapshot: Snapshot
    cache: Path
    host: Path  # files outside the sandbox the agent must never touch (a fake "run folder" among them)

    def watched(self) -> dict[str, tuple[int, int, str]]:
        return fingerprint(self.snapshot.path, self.host)


def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SandboxEnv:
    """A cache with one snapshot, a secret in the harness environment, host files to watch."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("AGENTGYM_CACHE", str(cache))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    host = tmp_path / "host"
    (host / "run").mkdir(parents=True)
    (host / "run" / "results.jsonl").write_text('{"secret": "run-folder-content"}\n')
    (host / "sentinel.txt").write_text("host file\n")
    snapshot = make_snapshot(cache / "snapshots" / ("ab" * 32))
    return SandboxEnv(snapshot=snapshot, cache=cache, host=host)


def open_spec(
    limits: Limits | None = None,
    env: dict[str, str] | None = None,
    policy: ResolvedPolicy | None = None,
    workdir: str = ".",
) -> SandboxSpec:
    return SandboxSpec(policy=policy or POLICY, initial_working_dir=workdir, limits=limits or Limits(), env=env or {})


def run_in(kind: str, env: SandboxEnv, script: Script, spec: SandboxSpec | None = None) -> list[WriteEvent]:
    """Open a sandbox, run `script`, stop, clean up; return stop()'s changes."""

    async def go() -> list[WriteEvent]:
        sandbox = await get_sandbox_factory(kind).open(env.snapshot, spec or open_spec())
        try:
            await script(sandbox)
            return await sandbox.stop()
        finally:
            await sandbox.cleanup()

    return asyncio.run(go())


def attempt(env: SandboxEnv, script: Script, spec: SandboxSpec | None = None) -> None:
    """Run an attack under bubblewrap; nothing outside the sandbox may change, nothing unexpected written."""
    before = env.watched()
    changes = run_in("bwrap", env, script, spec)
    assert env.watched() == before, "host files changed"
    assert changes == [], f"unexpected writes: {changes}"
    leftovers = list((env.cache / "workspaces").iterdir()) if (env.cache / "workspaces").exists() else []
    assert leftovers == [], "workspace not removed"


def assert_refused(result: CommandResult, *labels: str) -> None:
    """The command failed and the failure is on record (exit code, timeout or a `blocked` entry)."""
    assert result.exit_code != 0 or result.timed_out or result.blocked, result
    for label in labels:
        assert any(label in entry for entry in result.blocked), (label, result)


def host_processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(name))
    return found
