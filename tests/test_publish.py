"""`agentgym publish`: the original's published layout (FORMATS.md) from a run folder."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.test_leaderboard import _record, _run_folder


def test_publish_writes_run_aggregate_report_and_raw_copy(tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "runs", "alpha-20261201T101500Z", [
        _record("r1", "t1", success=True, score=100, commands=3, valid=1.0),
        _record("r2", "t1", success=False, score=10, commands=1, valid=1.0, failing="x"),
    ])  # fmt: skip
    (run / "results" / "run_config.json").write_text('{"model_id": "alpha", "api_key_set": true}')
    (run / "results" / "REPORT.md").write_text("# Report\n")
    (run / "transcripts").mkdir()
    (run / "transcripts" / "r1.jsonl").write_text("{}\n")
    done = run_cli("publish", str(run), "--out-root", str(tmp_path / "results"), "--raw", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    target = tmp_path / "results" / "20261201" / "alpha"
    agg = json.loads((target / "run_aggregate.json").read_text())
    assert agg["run_config"] == {"model_id": "alpha", "api_key_set": True}
    assert agg["report_markdown"] == "# Report\n" == (target / "REPORT.md").read_text()
    assert sorted(agg["repos"]) == ["r1", "r2"]
    assert [t["metrics"]["score_0_100"] for t in agg["repos"]["r2"]["tasks"]] == [10]
    assert (target / "20261201T101500Z" / "transcripts" / "r1.jsonl").read_text() == "{}\n"
    assert (target / "20261201T101500Z" / "results" / "r1" / "t1.json").is_file()


def test_leaderboard_over_published_results_equals_the_one_over_the_runs(tmp_path: Path) -> None:
    from tests.test_leaderboard import _two_runs

    _two_runs(tmp_path / "runs")
    done = run_cli("publish", str(tmp_path / "runs"), "--out-root", str(tmp_path / "results"), "--raw", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    boards = []
    for src in ("runs", "results"):
        out = tmp_path / f"board-{src}"
        assert run_cli("leaderboard", str(tmp_path / src), "--out", str(out), cwd=tmp_path).returncode == 0
        boards.append((out / "L1-leaderboard.md").read_text())
    assert boards[0] == boards[1] and "| `beta` | 60.00 |" in boards[1]  # raw copies are not counted twice
