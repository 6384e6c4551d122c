"""Where a run's fixed cost goes, measured inside one process (run by bench_fixed_costs.py as a subprocess
with PYTHONPATH set to the tree under test, so two trees are measured side by side).

Wall time of each phase is taken by wrapping the harness's own functions (they run in the event loop and in
worker threads, which cProfile does not follow); cProfile over the main thread names the top functions.

    python benchmarks/fixed_phases.py CONFIG_DIR BASE_URL RUNS_ROOT SANDBOX  -> one JSON line on stdout
"""

from __future__ import annotations

import cProfile
import functools
import inspect
import io
import json
import pstats
import sys
import time
from collections import defaultdict
from typing import Any

T0 = time.perf_counter()
import agentgym.runner.campaign as campaign  # noqa: E402  (the import is what is measured)

T_IMPORT_HARNESS = time.perf_counter() - T0
T1 = time.perf_counter()
import agentgym.models.client  # noqa: E402,F401

T_IMPORT_OPENAI = time.perf_counter() - T1

SPENT: dict[str, list[float]] = defaultdict(list)


def wrap(owner: Any, attr: str, phase: str) -> None:
    """Replace owner.attr by a wrapper adding its wall time to SPENT[phase] (coroutines awaited inside)."""
    if not hasattr(owner, attr):
        return
    orig = getattr(owner, attr)
    if inspect.iscoroutinefunction(orig):

        @functools.wraps(orig)
        async def timed_async(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return await orig(*a, **k)
            finally:
                SPENT[phase].append(time.perf_counter() - t)

        setattr(owner, attr, timed_async)
    else:

        @functools.wraps(orig)
        def timed(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                SPENT[phase].append(time.perf_counter() - t)

        setattr(owner, attr, timed)


def instrument() -> None:
    from agentgym.models import client
    from agentgym.results.rundir import RunDir
    from agentgym.runner import settings
    from agentgym.sandbox import bwrap, cgroup, local, process, workspace

    wrap(campaign, "make_client", "client construction")
    wrap(settings, "make_client", "client construction")
    wrap(campaign, "load_plan", "planning")
    for mod in (bwrap, local):
        wrap(mod, "create_workspace", "workspace create")
        wrap(mod, "prepare_scratch", "scratch (tmpfs) set-up")
        wrap(mod, "copy_back", "copy-back")
        wrap(mod, "release_scratch", "scratch release")
    wrap(cgroup, "create", "cgroup create/destroy")
    wrap(cgroup.TrialCgroup, "destroy", "cgroup create/destroy")
    wrap(workspace.Workspace, "remove", "workspace remove")
    wrap(workspace.Workspace, "diff_against_snapshot", "diff vs snapshot")
    wrap(process.ExecutorClient, "start", "sandbox spawn (launcher+bwrap+executor ready)")
    wrap(process.ExecutorClient, "close", "executor stop")
    wrap(bwrap.BwrapSandboxFactory, "open", "sandbox open (total)")
    wrap(local.LocalSandboxFactory, "open", "sandbox open (total)")
    wrap(process.ExecutorSandbox, "stop", "sandbox stop (total)")
    wrap(process.ExecutorSandbox, "cleanup", "sandbox clean-up (total)")
    wrap(process.ExecutorSandbox, "run", "tool: command in sandbox")
    wrap(client.OpenAIChatClient, "complete", "model call (SDK)")
    wrap(RunDir, "record", "writing: per-trial record")
    wrap(RunDir, "write_summary", "writing: summary/index/report")


def main() -> None:
    cfg, base_url, runs_root, sandbox = sys.argv[1:5]
    instrument()
    spec = {"models": [{"model": "bench", "base_url": base_url}], "config_dir": cfg, "runs_root": runs_root,
            "sandbox": sandbox}  # fmt: skip
    t = time.perf_counter()
    result = campaign.evaluate(spec, single_run=True)  # timed phases, no profiler (it slows the main thread)
    wall = time.perf_counter() - t
    records = [r for m in result.models.values() for r in m.records]
    phases = {k: {"n": len(v), "total_s": sum(v), "median_ms": sorted(v)[len(v) // 2] * 1000} for k, v in SPENT.items()}
    profiler = cProfile.Profile()
    profiler.enable()
    campaign.evaluate(spec, single_run=True)  # the same run again, under cProfile, for its top functions
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    top = [line.strip() for line in out.getvalue().splitlines() if line.strip()[:1].isdigit()][:12]
    print(json.dumps({"import_harness_s": T_IMPORT_HARNESS, "import_openai_s": T_IMPORT_OPENAI, "evaluate_s": wall,
                      "trials": len(records), "phases": phases, "cprofile_top": top}))  # fmt: skip


if __name__ == "__main__":
    main()
