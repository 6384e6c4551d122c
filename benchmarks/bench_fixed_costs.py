"""Fixed costs of a run (issue 8): 10 tasks × 20 steps against a zero-latency scripted server, bwrap.

Per tree (this one, and with --before TREE an older checkout measured in the same run, alternating):
  - the real CLI in a subprocess: whole-run wall, start-up to the first model request, trial wall times;
  - the marginal step: (median trial wall at 20 steps − at 2 steps) / 18, against the floor measured here
    (a keep-alive HTTP round trip to the same server + a plain `bash -c echo`);
  - the breakdown (fixed_phases.py in a subprocess): imports, client construction, planning, workspace,
    bwrap spawn, copy-back, writing, per phase; cProfile's top functions of the main thread; and the
    CLI's imports by package from `python -X importtime`.
Targets: start-up ≤ 0.3 s, per-trial sandbox set-up + tear-down ≤ 20 ms, marginal step ≤ 2× the floor.
The original harness / mini-swe-agent / Inspect AI figures of the issue are QUOTED, not measured here.

    python benchmarks/bench_fixed_costs.py [--before TREE] [--repeat 2] [--sandbox bwrap]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_agent_step import floor_ms
from benchlib import make_config, responder, spread

from agentgym.models.scripted import ScriptedServer

HERE = Path(__file__).resolve().parent
TASKS, STEPS, SHORT = 10, 20, 2
SETUP_PHASES = ("sandbox open (total)", "sandbox stop (total)", "sandbox clean-up (total)")
QUOTED = "issue 8 (quoted, not measured here): original harness fixed cost 0.19 s/run, marginal step 2.6× floor"


class Stamps:
    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.first is None:
            self.first = time.time()
        return responder(request)


def _env(tree: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MODEL_NAME", "BASE_URL"))}
    return {**base, "PYTHONPATH": str(tree)}


def cli_run(tree: Path, cfg: Path, url: str, runs: Path, sandbox: str, stamps: Stamps, *py: str) -> dict[str, Any]:
    """One `agentgym run` of the whole task set: wall, first request, trial walls (from the records)."""
    stamps.first = None
    args = [sys.executable, *py, "-m", "agentgym.cli.main", "run", "--config-dir", str(cfg), "--runs-root",
            str(runs), "--model", "bench", "--base-url", url, "--sandbox", sandbox]  # fmt: skip
    t0 = time.time()
    done = subprocess.run(args, env=_env(tree), capture_output=True, text=True, check=False)
    wall = time.time() - t0
    assert done.returncode == 0, done.stderr[-2000:]
    folder = max(runs.iterdir(), key=lambda p: p.stat().st_mtime)
    records = [json.loads(p.read_text()) for p in (folder / "results" / "bench").glob("bench_*.json")]
    assert len(records) == TASKS and all(r["metrics"]["model_calls"] > 0 for r in records)
    return {"wall": wall, "first": (stamps.first or t0) - t0, "trial_walls": [r["metrics"]["wall_time_s"] for r in records],
            "stderr": done.stderr}  # fmt: skip


def import_breakdown(stderr: str, top: int = 10) -> list[tuple[str, float]]:
    """Self time by top-level package from `-X importtime` lines (ms)."""
    by_pkg: collections.Counter[str] = collections.Counter()
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if m:
            by_pkg[m[3].split(".")[0]] += int(m[1]) / 1000
    return by_pkg.most_common(top)


def phases(tree: Path, cfg: Path, url: str, runs: Path, sandbox: str) -> dict[str, Any]:
    script = tree / "benchmarks" / "fixed_phases.py"
    if not script.is_file():
        script = HERE / "fixed_phases.py"  # an older tree without it: this one's, importing that tree's package
    args = [sys.executable, str(script), str(cfg), url, str(runs), sandbox]
    done = subprocess.run(args, env=_env(tree), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(tree: Path, root: Path, url: str, sandbox: str, stamps: Stamps) -> dict[str, Any]:
    runs = root / f"runs-{time.monotonic_ns()}"
    long = cli_run(tree, root / "long" / "cfg", url, runs, sandbox, stamps)
    short = cli_run(tree, root / "short" / "cfg", url, runs, sandbox, stamps)
    step_ms = (statistics.median(long["trial_walls"]) - statistics.median(short["trial_walls"])) / (STEPS - SHORT)
    return {"wall": long["wall"], "first": long["first"], "step_ms": step_ms * 1000,
            "phases": phases(tree, root / "long" / "cfg", url, runs, sandbox)}  # fmt: skip


def report(name: str, rows: list[dict[str, Any]], floor: float, imports: list[tuple[str, float]]) -> None:
    def col(f: Any) -> str:
        return spread([f(r) for r in rows])

    def ph(r: dict[str, Any], key: str, field: str = "total_s") -> float:
        return float(r["phases"]["phases"].get(key, {}).get(field, 0.0))

    print(f"--- {name} ({len(rows)} runs; figures are min–max)")
    print(f"  whole run, CLI, {TASKS} tasks × {STEPS} steps (s)      {col(lambda r: r['wall'])}")
    print(f"  start-up to first request (s)              {col(lambda r: r['first'])}   target ≤ 0.300")
    print(f"  marginal step (ms)                         {col(lambda r: r['step_ms'])}   floor {floor:.2f} ms")
    print(f"  marginal step / floor                      {col(lambda r: r['step_ms'] / floor)}   target ≤ 2.00")
    setup = [sum(ph(r, k, "median_ms") for k in SETUP_PHASES) for r in rows]
    print(f"  sandbox set-up + tear-down per trial (ms)  {spread(setup)}   target ≤ 20")
    print(f"  imports in-process: harness {col(lambda r: r['phases']['import_harness_s'])} s, "
          f"openai client {col(lambda r: r['phases']['import_openai_s'])} s")  # fmt: skip
    keys = sorted({k for r in rows for k in r["phases"]["phases"]}, key=lambda k: -ph(rows[0], k))
    print(f"  {'phase (in-process run, whole task set)':<48}{'calls':>6}{'total s':>16}{'median ms':>16}")
    for k in keys:
        n = rows[0]["phases"]["phases"].get(k, {}).get("n", 0)
        print(f"  {k:<48}{n:>6}{col(lambda r, k=k: ph(r, k)):>16}{col(lambda r, k=k: ph(r, k, 'median_ms')):>16}")
    print("  cProfile, main thread, top by own time (first run):")
    for line in rows[0]["phases"]["cprofile_top"][:8]:
        print(f"    {line[:150]}")
    if imports:
        print("  `-X importtime` of one CLI run, self time by package (ms, inflated by the tracing itself):")
        print("    " + ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in imports))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="an older checkout to measure side by side")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sandbox", default="bwrap")
    args = parser.parse_args()
    os.environ.setdefault("AGENTGYM_CACHE", tempfile.mkdtemp(prefix="agentgym-bench-cache-"))
    trees = ([("before", args.before.resolve())] if args.before else []) + [("after", HERE.parent)]
    stamps = Stamps()
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(stamps, model="bench") as server:
        root = Path(tmp)
        make_config(root / "long", TASKS, STEPS)
        make_config(root / "short", TASKS, SHORT)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
        measure(trees[-1][1], root, server.base_url, args.sandbox, stamps)  # warm-up: caches, page cache
        for _ in range(args.repeat):
            for name, tree in trees:  # alternating, so both see the same machine load
                results[name].append(measure(tree, root, server.base_url, args.sandbox, stamps))
        traced = {}
        for name, tree in trees:
            cfg = root / "long" / "cfg"
            run = cli_run(tree, cfg, server.base_url, root / "runs-x", args.sandbox, stamps, "-X", "importtime")
            traced[name] = import_breakdown(run["stderr"])
        http_ms, bash_ms = floor_ms(server)
    floor = http_ms + bash_ms
    print(
        f"sandbox={args.sandbox}; floor = HTTP round trip {http_ms:.2f} ms + bash -c {bash_ms:.2f} ms = {floor:.2f} ms"
    )
    for name, _ in trees:
        report(name, results[name], floor, traced[name])
    print(QUOTED)


if __name__ == "__main__":
    main()
