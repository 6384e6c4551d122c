"""Sandbox costs, side by side: `python benchmarks/bench_sandbox.py [SNAPSHOT_DIR]`.

- per command: `echo hi` through the kept-alive bubblewrap sandbox vs a plain `bash -c` subprocess (the
  floor) vs a fresh bubblewrap per command (what the executor design avoids), plus the local sandbox;
- workspace creation for a generated 3,785-file tree (and for SNAPSHOT_DIR if given).
Targets: workspace <= 100 ms. Runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agentgym.sandbox import bwrap_available, get_sandbox_factory
from agentgym.sandbox.base import SandboxSpec
from agentgym.sandbox.bwrap import LAUNCHER_ENV, PROBE_UID, bwrap_path, namespace_args, setpriv_argv, system_args
from agentgym.sandbox.workspace import create_workspace
from agentgym.sandbox.writepaths import plan_write_paths
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import tree_digest
from agentgym.specs.task import ResolvedPolicy

COMMANDS = 200
FRESH_COMMANDS = 40
WORKSPACE_ROUNDS = 10
WORKSPACE_TARGET_MS = 100.0
POLICY = ResolvedPolicy(allowed=[], prohibited=[], write_paths_allowed=["eval_artifacts/", "/tmp/"])


def make_tree(root: Path, count: int = 3785) -> Snapshot:
    for index in range(count):
        path = root / f"pkg{index % 15}" / f"sub{index // 15 % 12}" / f"mod{index}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {index}\n" * 20)
        os.chmod(path, 0o444)
    return Snapshot(repo_id="bench", path=root, digest=tree_digest(root).digest)  # the local sandbox checks it


async def timed(fn: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def bash_floor() -> None:
    proc = await asyncio.create_subprocess_exec(
        "/bin/bash",
        "--noprofile",
        "--norc",
        "-c",
        "echo hi",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await proc.communicate()


def fresh_bwrap_argv() -> list[str]:
    """The same namespaces and system mounts as the sandbox, started anew for one command."""
    bwrap = bwrap_path() or "bwrap"
    return [
        *setpriv_argv(PROBE_UID),
        bwrap,
        *namespace_args(),
        *system_args(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--remount-ro",
        "/",
        "--chdir",
        "/",
        "--",
        "/bin/bash",
        "--noprofile",
        "--norc",
        "-c",
        "echo hi",
    ]


async def fresh_bwrap(argv: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=LAUNCHER_ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if out != b"hi\n":
        raise RuntimeError(err.decode())


async def through(kind: str, snapshot: Snapshot) -> tuple[list[float], float]:
    started = time.perf_counter()
    sandbox = await get_sandbox_factory(kind).open(snapshot, SandboxSpec(policy=POLICY))
    open_ms = (time.perf_counter() - started) * 1000
    try:
        await sandbox.run("echo warm", cwd=None, timeout=10)
        return await timed(lambda: sandbox.run("echo hi", cwd=None, timeout=10), COMMANDS), open_ms
    finally:
        await sandbox.stop()
        await sandbox.cleanup()


def workspace_ms(snapshot: Snapshot, *, link: bool) -> list[float]:
    plan = plan_write_paths(POLICY.write_paths_allowed, snapshot.path)
    samples = []
    for _ in range(WORKSPACE_ROUNDS):
        started = time.perf_counter()
        ws = create_workspace(snapshot, plan, link=link)
        samples.append((time.perf_counter() - started) * 1000)
        ws.remove()
    return samples


def row(label: str, samples: list[float], floor: float | None = None) -> None:
    median, mean = statistics.median(samples), statistics.fmean(samples)
    ratio = f"{median / floor:6.1f}x floor" if floor else ""
    print(f"  {label:<38} median {median:8.2f} ms   mean {mean:8.2f} ms   n={len(samples):<4} {ratio}")


async def commands(snapshot: Snapshot, ok: bool) -> None:
    print(f"per command (`echo hi`, {COMMANDS} runs each):")
    floor = await timed(bash_floor, COMMANDS)
    row("bash -c subprocess (floor)", floor)
    base = statistics.median(floor)
    if ok:
        kept, open_ms = await through("bwrap", snapshot)
        row("bwrap sandbox, kept alive", kept, base)
        fresh = await timed(lambda: fresh_bwrap(fresh_bwrap_argv()), FRESH_COMMANDS)
        row("fresh bwrap per command", fresh, base)
        print(
            f"  bwrap sandbox open (workspace + scratch + start): {open_ms:.1f} ms; "
            f"kept-alive is {statistics.median(fresh) / statistics.median(kept):.1f}x cheaper than fresh"
        )
    local, _ = await through("local", snapshot)
    row("local sandbox (no isolation)", local, base)


def workspaces(snapshot: Snapshot) -> None:
    print(f"workspace creation ({WORKSPACE_ROUNDS} rounds; target <= {WORKSPACE_TARGET_MS:.0f} ms):")
    linked = workspace_ms(snapshot, link=True)
    row("3,785 files, link farm (bwrap)", linked)
    row("3,785 files, full copy (local)", workspace_ms(snapshot, link=False))
    verdict = "meets" if statistics.median(linked) <= WORKSPACE_TARGET_MS else "MISSES"
    print(f"  link farm {verdict} the target ({statistics.median(linked):.1f} ms vs {WORKSPACE_TARGET_MS:.0f} ms)")


def real_snapshot(path: Path) -> None:
    """A snapshot from a real cache: workspaces go to that cache so links stay on one file system."""
    if path.parent.name == "snapshots":
        os.environ["AGENTGYM_CACHE"] = str(path.parent.parent)
    files = sum(len(names) for _, _, names in os.walk(path))
    row(
        f"{path.name[:16]} ({files} files), link farm",
        workspace_ms(Snapshot("real", path, tree_digest(path).digest), link=True),
    )


def main() -> None:
    extra = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory(prefix="agentgym-bench-") as tmp:
        os.environ["AGENTGYM_CACHE"] = str(Path(tmp) / "cache")
        snapshot = make_tree(Path(tmp) / "cache" / "snapshots" / "bench")
        ok, why = bwrap_available()
        print(f"bubblewrap: {'yes' if ok else 'NO'} ({why}); euid {os.geteuid()}")
        started = time.perf_counter()
        asyncio.run(commands(snapshot, ok))
        workspaces(snapshot)
        if extra is not None:
            real_snapshot(extra)
        print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
