"""Edit tasks (issue 10): the writable workspace, grading, and the whole shipped l2 suite under the oracle.

1. Workspace set-up on the largest shipped l2 repo (by file count): open an edit-task sandbox (whole repo
   writable, no .git, the test environment mounted), write one file, stop, clean up; kernel overlay vs a
   per-trial copy of the repo into the scratch (BwrapSandboxFactory(overlay=False)), alternating rounds.
2. Grading time per task: each l2 task's reference state (start snapshot + reference patch, made here) graded
   by the real grader (fresh sandbox, grading tree, pytest, JUnit), once per task; every grade must pass.
3. The full l2 oracle run through the real CLI (wall time, score), and the nop run (score must be 0).

    python benchmarks/bench_edit.py [--rounds 10] [--skip-runs]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentgym.grading.grader import WRITABLE, grade
from agentgym.grading.setup import write_changes
from agentgym.grading.testenv import TestEnvironment, test_environment
from agentgym.runner.config import LoadedTask
from agentgym.runner.run import Plan, RunRequest, load_plan
from agentgym.sandbox.base import Limits, SandboxSpec
from agentgym.sandbox.bwrap import BwrapSandboxFactory, bwrap_available
from agentgym.sources.base import Snapshot


def _files(path: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(path))


async def _one_workspace(factory: BwrapSandboxFactory, snapshot: Snapshot, env: TestEnvironment) -> tuple[float, float]:
    spec = SandboxSpec(policy=WRITABLE, limits=Limits(), skip_git=True, env=env.env(), ro_mounts=env.mounts())
    t0 = time.perf_counter()
    sandbox = await factory.open(snapshot, spec)
    opened = time.perf_counter() - t0
    try:
        result = await sandbox.run("echo changed > BENCH_WRITTEN && python -c 'import pytest'", cwd=None, timeout=60)
        assert result.exit_code == 0, result.stderr
        t1 = time.perf_counter()
        await sandbox.stop()
        assert (sandbox.host_root / "BENCH_WRITTEN").read_text() == "changed\n"  # the write reached the tree
    finally:
        await sandbox.cleanup()
    return opened * 1000, (time.perf_counter() - t1) * 1000


def workspaces(plan: Plan, rounds: int) -> None:
    snapshot = max(plan.snapshots.values(), key=lambda s: _files(s.path))
    print(f"workspace set-up: {snapshot.repo_id} ({_files(snapshot.path)} files), {rounds} rounds, alternating")
    times: dict[str, list[tuple[float, float]]] = {"overlay": [], "copy": []}
    factories = {"overlay": BwrapSandboxFactory(overlay=True), "copy": BwrapSandboxFactory(overlay=False)}
    for _ in range(rounds):
        for mode, factory in factories.items():
            env = plan.test_envs.get(snapshot.repo_id) or test_environment()
            times[mode].append(asyncio.run(_one_workspace(factory, snapshot, env)))
    for mode, rows in times.items():
        opened, stopped = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        print(f"  {mode:8s} open {opened:7.1f} ms   stop+clean-up {stopped:7.1f} ms   (medians)")
    total = {m: statistics.median(a + b for a, b in rows) for m, rows in times.items()}
    print(f"  overlay is {total['copy'] / total['overlay']:.2f}x the speed of a copy (open+stop+clean-up)")


async def _grade_reference(task: LoadedTask, start: Snapshot, tmp: Path) -> tuple[float, bool, str | None]:
    tree = tmp / task.spec.id
    shutil.copytree(start.path, tree, symlinks=True)
    write_changes(tree, dict(task.spec._reference_writes or []))
    t0 = time.perf_counter()
    result = await grade(task.spec, task.file, start, tree, BwrapSandboxFactory(), Limits(), task.test_env)
    seconds = time.perf_counter() - t0
    shutil.rmtree(tree, ignore_errors=True)
    failing = [c.key for c in result.checks if not c.ok]
    return seconds, not failing and result.harness_error is None, result.harness_error or ", ".join(failing[:3])


def grading(plan: Plan) -> None:
    print(f"grading time per task (the reference state, {len(plan.trials)} tasks, one grade each):")
    seconds = []
    with tempfile.TemporaryDirectory(prefix="agentgym-bench-edit-") as tmp:
        for trial in plan.trials:
            took, ok, error = asyncio.run(_grade_reference(trial.task, trial.snapshot, Path(tmp)))
            seconds.append(took)
            n = len(trial.task.spec.grading.test_ids()) if trial.task.spec.grading else 0
            print(f"  {trial.task.spec.id:22s} {took:6.2f} s  {n:3d} tests  {'pass' if ok else 'FAIL ' + str(error)}")
    print(f"  median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s, total {sum(seconds):.1f} s")


def cli_run(agent: str, runs: Path, args: argparse.Namespace) -> None:
    config = ["--config-dir", str(args.config_dir)] if args.config_dir else []
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "agentgym.cli.main", "run", *config, "--task-set", args.task_set, "--agent", agent,
         "--runs-root", str(runs), "--progress", "quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    run = sorted(runs.glob("*"))[-1]
    results = [json.loads(p.read_text()) for p in (run / "results").glob("*/*.json") if p.name != "index.json"]
    ok = sum(1 for r in results if r.get("metrics", {}).get("success"))
    summary = json.loads((run / "results" / "summary.json").read_text())
    score = summary.get("avg_score")
    print(
        f"  --agent {agent:6s} {wall:6.1f} s wall, {ok}/{len(results)} succeeded, score {score} (exit {proc.returncode})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--skip-runs", action="store_true")
    parser.add_argument("--config-dir", type=Path, default=None, help="another config tree (default: packaged)")
    parser.add_argument("--task-set", default="l2")
    args = parser.parse_args()
    if not bwrap_available()[0] or os.geteuid() != 0:
        print("bench_edit: needs bubblewrap and root (the overlay is a kernel mount); skipped")
        return
    plan = load_plan(RunRequest(config_dir=args.config_dir, task_set=args.task_set))
    workspaces(plan, args.rounds)
    grading(plan)
    if not args.skip_runs:
        print(f"the full {args.task_set} suite through the CLI (concurrency 1):")
        with tempfile.TemporaryDirectory(prefix="agentgym-bench-l2-") as tmp:
            for agent in ("oracle", "nop"):
                cli_run(agent, Path(tmp) / agent, args)


if __name__ == "__main__":
    main()
