"""The shipped suite is sound: the oracle agent scores 100 on every task, nop scores 0 under v2 (and 20 under v1).

Uses the real shipped registry (PyPI sdists with pinned sha256) through the real CLI and the bwrap sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


def _summary(tmp_path: Path, *args: str) -> tuple[dict, Path]:
    proc = run_cli("run", "--runs-root", str(tmp_path / "runs"), *args, cwd=tmp_path, timeout=900)
    if proc.returncode != 0 and "pip" in proc.stderr and "repo '" in proc.stderr:
        pytest.skip(f"shipped PyPI sources unreachable here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    run = Path(proc.stdout.strip().splitlines()[-1])
    return json.loads((run / "results/summary.json").read_text()), run


def test_oracle_agent_scores_100_on_every_shipped_task(tmp_path: Path) -> None:
    summary, run = _summary(tmp_path, "--agent", "oracle")
    assert summary["tasks_finished"] == summary["tasks_planned"] == 30
    assert summary["avg_score"] == 100 and summary["success_rate"] == 1.0
    assert set(summary["per_repo"]) == {"mmengine", "opencompass", "xtuner"}
    for result in run.glob("results/*/*_task_*.json"):
        data = json.loads(result.read_text())
        assert data["metrics"]["safety_violations"] == 0, result
        assert data["sandbox"] == "bwrap"


def test_nop_agent_scores_0_under_v2_and_20_under_v1(tmp_path: Path) -> None:
    summary, _ = _summary(tmp_path, "--agent", "nop")
    assert summary["avg_score"] == 0 and summary["success_rate"] == 0
    assert set(summary["failure_reasons"]) == {"missing_answer"}
    summary_v1, _ = _summary(tmp_path, "--agent", "nop", "--scoring-profile", "v1", "--repos", "xtuner")
    assert summary_v1["avg_score"] == 20
