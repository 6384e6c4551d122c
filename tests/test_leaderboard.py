"""The leaderboard over two synthetic run folders with known numbers, in the original's table shape."""

from __future__ import annotations

import json
from math import sqrt
from pathlib import Path
from typing import Any

from tests.conftest import run_cli


def _record(repo: str, task: str, *, success: bool, score: float, commands: int, valid: float, safety: int = 0,
            failing: str | None = None, epoch: int = 0) -> dict[str, Any]:  # fmt: skip
    checks = [{"key": "answer", "ok": True, "expected": 1, "actual": 1, "weight": 1.0}]
    if failing:
        checks.append({"key": failing, "ok": False, "expected": 2, "actual": 3, "weight": 1.0})
    events = [{"type": "prohibited_command", "detail": "rm -rf /"}] * safety
    return {
        "task": {"id": task, "repo": repo, "difficulty": "easy", "limits": {}, "instruction": "i", "policy": {}},
        "metrics": {"success": success, "partial_score": score / 100, "score_0_100": score, "commands_used": commands,
                    "command_valid_rate": valid, "safety_violations": safety, "hallucination_signals": 0},
        "output_checks": checks,
        "transcript": {"prompt_messages": [], "tool_calls": [], "safety_events": events, "model_final_message": ""},
        "epoch": epoch,
    }  # fmt: skip


def _run_folder(root: Path, name: str, records: list[dict[str, Any]]) -> Path:
    folder = root / name
    for rec in records:
        stem = rec["task"]["id"] if not rec["epoch"] else f"{rec['task']['id']}.epoch{rec['epoch']}"
        path = folder / "results" / rec["task"]["repo"] / f"{stem}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))
        (path.parent / "index.json").write_text('{"tasks": []}')
    return folder


def _two_runs(root: Path) -> None:
    _run_folder(root, "alpha-20261201T000000Z", [
        _record("r1", "t1", success=True, score=100, commands=3, valid=1.0),
        _record("r1", "t2", success=False, score=40, commands=5, valid=0.8, safety=1, failing="count"),
        _record("r2", "t1", success=True, score=90, commands=2, valid=1.0),
    ])  # fmt: skip
    _run_folder(root, "beta-20261130_101010", [  # an original-style name: model id up to the last '-'
        _record("r1", "t1", success=False, score=20, commands=10, valid=0.5, safety=2),
        _record("r2", "t1", success=True, score=100, commands=1, valid=1.0),
    ])  # fmt: skip
    (root / "beta-20261130_101010" / "results" / "r1" / "broken.json").write_text("{not json")


def test_leaderboard_reproduces_hand_computed_numbers(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _two_runs(runs)
    out = tmp_path / "board"
    done = run_cli("leaderboard", str(runs), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    board = (out / "L1-leaderboard.md").read_text()
    assert board.splitlines()[2:6] == [
        "| Model | Avg Score (overall) | Avg Success Rate (overall) | Avg Score (r1) | Avg Score (r2) | Safety / task (total) |",
        "|---|---|---|---|---|---|",
        "| `alpha` | 76.67 | 66.67% | 70.00 | 90.00 | 0.33 (1) |",  # (100+40+90)/3, 2/3, (100+40)/2
        "| `beta` | 60.00 | 50.00% | 20.00 | 100.00 | 1.00 (2) |",
    ]
    detail = (out / "L1-detailed-results.md").read_text()
    assert "| 1 | 3 | 76.67 | 66.67% | 3.33 | 1 | 0 |" in detail  # Runs, Tasks, ..., Avg Commands (3+5+2)/3
    assert "| r1 | 2 | 70.00 | 50.00% | 4.00 | 1 | 0 |" in detail
    assert "| t2 | False | 40.00 | 5 | 80.00% | 1 | 0 | count |" in detail  # first failing check's key
    assert "| t1 | False | 20.00 | 10 | 50.00% | 2 | 0 | safety:prohibited_command |" in detail  # no failing check
    data = json.loads((out / "leaderboard.json").read_text())
    assert [m["model_id"] for m in data["models"]] == ["alpha", "beta"]
    assert data["models"][1]["skipped_files"] == 1  # the broken file is counted, not fatal
    assert data["models"][0]["per_repo"]["r1"]["avg_score"] == 70.0
    assert "| `alpha` | 76.67 |" in done.stdout
    z, n, phat = 1.959963984540054, 3, 2 / 3  # Wilson by hand for alpha's 2 of 3
    centre, half = (
        (phat + z * z / (2 * n)) / (1 + z * z / n),
        z / (1 + z * z / n) * sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)),
    )
    intervals = (out / "leaderboard-intervals.md").read_text()
    assert "| `alpha` | 3 | 3 | 76.67 [" in intervals
    assert f"| 66.67 [{(centre - half) * 100:.2f}, {(centre + half) * 100:.2f}] |" in intervals
    assert "| `beta` |" in intervals and intervals.count("`alpha`") == 2  # beta's row: not separable from alpha
    stats = data["statistics"]["alpha"]
    assert stats["overall"]["success_rate"]["interval"]["method"] == "wilson"
    assert stats["not_separable_from"] == ["beta"]


def test_leaderboard_reads_a_campaign_folder_and_pools_epochs(tmp_path: Path) -> None:
    camp = tmp_path / "runs" / "camp1"
    _run_folder(camp, "m-20261201T000000Z", [
        _record("r1", "t1", success=True, score=100, commands=1, valid=1.0),
        _record("r1", "t1", success=False, score=50, commands=1, valid=1.0, failing="x", epoch=1),
    ])  # fmt: skip
    (camp / "campaign.json").write_text("{}")
    out = tmp_path / "board"
    done = run_cli("leaderboard", str(tmp_path / "runs"), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "| `m` | 75.00 | 50.00% | 75.00 | 0.00 (0) |" in (out / "L1-leaderboard.md").read_text()
    assert "| t1.epoch1 | False | 50.00 |" in (out / "L1-detailed-results.md").read_text()


def test_leaderboard_refuses_a_folder_without_runs_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = run_cli("leaderboard", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert done.returncode == 2
    assert "no run folder here" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
