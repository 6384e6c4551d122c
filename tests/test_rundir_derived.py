"""RunDir: every trial's own files are on disk as soon as it is recorded; the derived files (index.json,
summary.json, REPORT.md) are rebuilt after the first record, then at most every 2 s, and always by
write_summary; at the end they hold every record once (a rerun replaces its key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agentgym.results.rundir as rundir_mod
from agentgym.results.rundir import RunDir
from agentgym.specs.result import Metrics, TaskInfo, TaskResult, Transcript


def _result(repo: str, task_id: str, epoch: int = 0, success: bool = True) -> TaskResult:
    info = TaskInfo(id=task_id, repo=repo, difficulty="easy", limits={}, instruction="i", policy={}, content_hash="")
    metrics = Metrics(
        success=success, partial_score=1.0 if success else 0.0, score_0_100=100.0 if success else 0.0,
        commands_used=1, command_valid_rate=1.0, safety_violations=0, hallucination_signals=0,
    )  # fmt: skip
    return TaskResult(task=info, metrics=metrics, output_checks=[], transcript=Transcript(), epoch=epoch)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _read(path: Path) -> dict[str, object]:
    return json.loads(path.read_text())


def test_records_at_once_derived_throttled_and_right_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(rundir_mod.time, "monotonic", clock)
    rundir = RunDir(tmp_path / "run", secrets=[])
    results = tmp_path / "run" / "results"
    rundir.write_summary()  # the scheduler's "running" at start
    for i in range(30):
        repo = "alpha" if i % 2 else "beta"
        rundir.record(_result(repo, f"t{i:02d}"), None, [{"type": "task_end", "task_id": f"t{i:02d}"}])
        record = _read(results / repo / f"t{i:02d}.json")  # the trial's own files: on disk at once
        assert record["task"]["id"] == f"t{i:02d}"  # type: ignore[index]
        assert (tmp_path / "run" / "artifacts" / repo / f"t{i:02d}" / "task_result.json").is_file()
        lines = (tmp_path / "run" / "transcripts" / f"{repo}.jsonl").read_text().splitlines()
        assert json.loads(lines[-1])["task_id"] == f"t{i:02d}"
        clock.now += 0.01
    # the first record rebuilt the derived files; the next 29, within 2 s, did not
    assert _read(results / "summary.json")["tasks_finished"] == 1
    assert not (results / "alpha" / "index.json").exists()
    clock.now += 2.5
    rundir.record(_result("alpha", "t01", success=False), None, [])  # a rerun of t01: replaces it
    summary = _read(results / "summary.json")
    assert summary["tasks_finished"] == 30 and summary["status"] == "running"
    rundir.record(_result("beta", "t00", epoch=1), None, [])  # within 2 s of the last rebuild: not yet counted
    assert _read(results / "summary.json")["tasks_finished"] == 30
    rundir.write_summary(status="finished")  # at the end: always
    summary = _read(results / "summary.json")
    assert summary["status"] == "finished" and summary["tasks_finished"] == 31
    alpha = _read(results / "alpha" / "index.json")["tasks"]
    beta = _read(results / "beta" / "index.json")["tasks"]
    assert sorted(t["task_id"] for t in alpha) == [f"t{i:02d}" for i in range(1, 30, 2)]  # type: ignore[index]
    assert [t["success"] for t in alpha if t["task_id"] == "t01"] == [False]  # type: ignore[index]
    assert alpha[-1]["task_id"] == "t01"  # type: ignore[index]  # a rerun moves to the end, as before
    assert sorted((t["task_id"], t["epoch"]) for t in beta) == sorted(  # type: ignore[index]
        [(f"t{i:02d}", 0) for i in range(0, 30, 2)] + [("t00", 1)]
    )
    assert "t29" in (results / "REPORT.md").read_text()
    rundir.close()


def test_reopened_folder_rewrites_stale_indexes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash may leave an index behind its records: a reopened folder rebuilds it at its first write."""
    monkeypatch.setattr(rundir_mod.time, "monotonic", FakeClock())
    first = RunDir(tmp_path / "run", secrets=[])
    for i in range(3):
        first.record(_result("alpha", f"t{i}"), None, [])
    first.close()  # t1 and t2 came within 2 s of t0: the index still lists t0 only, as after a kill -9
    index = tmp_path / "run" / "results" / "alpha" / "index.json"
    assert [t["task_id"] for t in _read(index)["tasks"]] == ["t0"]  # type: ignore[index]
    again = RunDir.open(tmp_path / "run", secrets=[])
    again.write_summary(status="finished")
    assert [t["task_id"] for t in _read(index)["tasks"]] == ["t0", "t1", "t2"]  # type: ignore[index]
    again.close()
