"""Campaign benchmarks (issue 8).

(a) Concurrency efficiency: 2 models × 16 tasks = 32 trials of 10 model calls each (9 sandboxed `echo`s and a
    final answer), two scripted servers (own processes) answering every request in 200 ms, 16 trials at once
    (`agentgym.evaluate`, max_sandboxes=16, concurrency=16). Ideal wall: 32/16 × 10 × 0.2 s = 4 s.
    Target: trial span (first trial start → last trial end) ≤ 1.25 × ideal.
(b) Scale: N trials (default 1,000) of 5 model calls against a zero-latency scripted server, by the real CLI
    in a subprocess, `--sandbox local` and bwrap: peak RSS of the CLI process (VmHWM) ≤ 300 MB, and the time
    per finished trial over the 100th–200th vs the last 100 (record file mtimes) flat.

    python benchmarks/bench_campaign.py [--part a|b|all] [--trials N] [--repeat 2] [--sandbox local,bwrap]
                                        [--before OLD_CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchlib import ExternalServer, make_config, spread

HERE = Path(__file__).resolve().parent
LATENCY, STEPS_A, TASKS_A, CONCURRENT = 0.2, 10, 16, 16


def concurrency_child(root: Path, url_one: str, url_two: str) -> None:
    """Part (a) in this process (started by `concurrency_once` with the tree under test on PYTHONPATH)."""
    import agentgym

    cfg = make_config(root, TASKS_A, STEPS_A)
    spec = {
        "models": [{"id": "one", "model": "m1", "base_url": url_one}, {"id": "two", "model": "m2", "base_url": url_two}],
        "config_dir": str(cfg), "runs_root": str(root / "runs"), "sandbox": "bwrap",
        "max_sandboxes": CONCURRENT, "concurrency": CONCURRENT,
    }  # fmt: skip
    t0 = time.perf_counter()
    result = agentgym.evaluate(spec)
    wall = time.perf_counter() - t0
    records = [r for m in result.models.values() for r in m.records]
    assert len(records) == 2 * TASKS_A, len(records)
    bad = [r.error for r in records if r.metrics.commands_used != STEPS_A - 1]
    assert not bad, bad[:3]
    start = min(datetime.fromisoformat(r.started_at) for r in records)
    end = max(datetime.fromisoformat(r.finished_at) for r in records)
    print(json.dumps({"wall": wall, "span": (end - start).total_seconds()}))


def concurrency_once(root: Path, tree: Path) -> tuple[float, float, int]:
    """(evaluate wall, trial span, peak in flight at the two servers): the servers run this tree's code, the
    harness is `tree`'s, in a subprocess."""
    with ExternalServer(LATENCY, "m1") as one, ExternalServer(LATENCY, "m2") as two:
        args = [sys.executable, __file__, "--child-a", str(root), one.base_url, two.base_url]
        done = subprocess.run(args, env=_env(tree), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["wall"], out["span"], one.max_in_flight + two.max_in_flight


def _env(tree: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MODEL_NAME", "BASE_URL"))}
    return {**base, "PYTHONPATH": str(tree)}


def part_a(repeat: int, trees: list[tuple[str, Path]]) -> None:
    ideal = 2 * TASKS_A / CONCURRENT * STEPS_A * LATENCY
    rows: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _ in trees}
    for _ in range(repeat):
        for name, tree in trees:  # alternating: both see the same machine load
            with tempfile.TemporaryDirectory() as tmp:
                rows[name].append(concurrency_once(Path(tmp), tree))
    print(f"(a) concurrency: 32 trials × {STEPS_A} calls, {LATENCY * 1000:.0f} ms per reply, {CONCURRENT} at once, "
          f"ideal {ideal:.2f} s")  # fmt: skip
    for name, _ in trees:
        walls, spans, peaks = ([r[i] for r in rows[name]] for i in range(3))
        print(f"    {name:<6} trial span {spread(spans)} s, ratio {spread([s / ideal for s in spans])} (target ≤ 1.25); "
              f"evaluate() incl. planning {spread(walls)} s; peak in flight (sum of the two servers' peaks) {peaks}")  # fmt: skip


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


def _cpu_s(pid: int) -> float:
    """utime + stime of the process itself (children not included), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _per_trial(samples: list[tuple[int, float]], lo: int, hi: int) -> float:
    """CPU ms per trial between the samples where `lo` and `hi` trials were done (load-independent)."""
    a = next((s for s in samples if s[0] >= lo), samples[-1])
    b = next((s for s in samples if s[0] >= hi), samples[-1])
    return (b[1] - a[1]) * 1000 / max(1, b[0] - a[0])


def scale_once(root: Path, cfg: Path, sandbox: str, base_url: str, tree: Path) -> tuple[float, ...]:
    """(wall s, peak RSS MB, ms per trial over the 100th–200th and over the last 100 (record mtimes), and the
    CLI process's own CPU ms per trial over the same windows: the harness's share, which load does not move)."""
    runs = root / f"runs-{sandbox}-{time.monotonic_ns()}"
    args = [sys.executable, "-m", "agentgym.cli.main", "run", "--config-dir", str(cfg), "--runs-root", str(runs),
            "--model", "bench", "--base-url", base_url, "--sandbox", sandbox, "--concurrency", "2"]  # fmt: skip
    log = root / f"{runs.name}.stderr"  # a file, not a pipe: a pipe nobody reads fills up and blocks the CLI
    samples: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    with log.open("wb") as err:
        proc = subprocess.Popen(args, env=_env(tree), stdout=subprocess.DEVNULL, stderr=err)
        hwm = 0
        while proc.poll() is None:
            hwm = max(hwm, _vm_hwm_kib(proc.pid))
            cpu = _cpu_s(proc.pid)
            done = sum(len(list(d.glob("bench_*.json"))) for d in runs.glob("*/results/bench"))
            samples.append((done, cpu))
            time.sleep(0.2)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, log.read_text(errors="replace")[-2000:]
    folder = next(p for p in runs.iterdir() if p.is_dir())
    mtimes = sorted(p.stat().st_mtime for p in (folder / "results" / "bench").glob("bench_*.json"))
    n = len(mtimes)
    early = (mtimes[min(199, n - 1)] - mtimes[min(99, n - 1)]) / max(1, min(199, n - 1) - min(99, n - 1))
    late = (mtimes[-1] - mtimes[max(0, n - 101)]) / max(1, min(100, n - 1))
    cpu_early, cpu_late = _per_trial(samples, 100, 200), _per_trial(samples, n - 150, n - 50)
    return wall, hwm / 1024, early * 1000, late * 1000, cpu_early, cpu_late


def part_b(trials: int, repeat: int, sandboxes: list[str], trees: list[tuple[str, Path]]) -> None:
    print(f"(b) scale: {trials} trials × 5 calls, zero latency, real CLI, --concurrency 2")
    with tempfile.TemporaryDirectory() as tmp, ExternalServer(0.0, "bench") as server:
        cfg = make_config(Path(tmp), trials, 5)
        for sandbox in sandboxes:
            rows: dict[str, list[tuple[float, ...]]] = {name: [] for name, _ in trees}
            for _ in range(repeat):
                for name, tree in trees:  # alternating: both see the same machine load
                    rows[name].append(scale_once(Path(tmp), cfg, sandbox, server.base_url, tree))
            for name, _ in trees:
                walls, rss, early, late, cpu_early, cpu_late = ([r[i] for r in rows[name]] for i in range(6))
                ratio = spread([b / a for a, b in zip(early, late, strict=True)])
                cpu_ratio = spread([b / a for a, b in zip(cpu_early, cpu_late, strict=True)])
                print(f"    {sandbox:<5} {name:<6} wall {spread(walls)} s; peak RSS {spread(rss)} MB (target ≤ 300); "
                      f"ms/trial 100th–200th {spread(early)}, last 100 {spread(late)}, late/early {ratio} (target ~1); "
                      f"CLI CPU ms/trial {spread(cpu_early)} → {spread(cpu_late)}, late/early {cpu_ratio}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["a", "b", "all"], default="all")
    parser.add_argument("--trials", type=int, default=1000, help="trials of part (b)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measurement (the spread is printed)")
    parser.add_argument("--sandbox", default="local,bwrap", help="sandboxes of part (b)")
    parser.add_argument("--before", type=Path, help="an older checkout, measured side by side")
    parser.add_argument("--child-a", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("AGENTGYM_CACHE", tempfile.mkdtemp(prefix="agentgym-bench-cache-"))
    if args.child_a:
        concurrency_child(Path(args.child_a[0]), args.child_a[1], args.child_a[2])
        return
    trees = ([("before", args.before.resolve())] if args.before else []) + [("after", HERE.parent)]
    if args.part in ("a", "all"):
        part_a(args.repeat, trees)
    if args.part in ("b", "all"):
        part_b(args.trials, args.repeat, args.sandbox.split(","), trees)


if __name__ == "__main__":
    main()
