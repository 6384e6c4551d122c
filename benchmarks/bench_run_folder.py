"""Run-folder size for large replies: one task whose model writes a 10 MB file with write_file, then gives a
10 MB final reply (real CLI, scripted server, real sandbox). Each payload should be stored once in the
transcript JSONL and once in the per-task JSON (FORMATS.md fields), plus the artifact copy.

    python benchmarks/bench_run_folder.py [--mb 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from tests.conftest import TASK_MD, make_git_repo, write_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=10)
    big = "x" * (parser.parse_args().mb * 1_000_000)
    scripts = {
        "answer.md": [
            {"tool": "write_file", "args": {"path": "eval_artifacts/answer.md", "content": "core util " + big}},
            {"content": "final " + big},
        ]
    }
    tmp = Path(tempfile.mkdtemp(prefix="agentgym-bench-"))
    cfg = write_config(tmp / "cfg", str(make_git_repo(tmp / "origin")), {"task_003.yaml": TASK_MD})
    env = {**os.environ, "AGENTGYM_CACHE": str(tmp / "cache")}
    cmd = [sys.executable, "-m", "agentgym.cli.main", "run", "--config-dir", str(cfg), "--runs-root", str(tmp / "runs")]
    with ScriptedServer(ScriptByTask(scripts)) as server:
        proc = subprocess.run([*cmd, "--model", "m", "--base-url", server.base_url], env=env, capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-500:]}")
    run = next((tmp / "runs").glob("m-*"))
    total = 0
    for f in sorted(p for p in run.rglob("*") if p.is_file()):
        total += f.stat().st_size
        print(f"{f.stat().st_size:>14,d}  {f.relative_to(run)}")
    print(f"{total:>14,d}  total ({len(big) * 2:,d} bytes of payload)")


if __name__ == "__main__":
    main()
