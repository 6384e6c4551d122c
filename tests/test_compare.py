"""`agentgym compare`: paired deltas, flips, verdicts and the regression gate over synthetic run folders."""

from __future__ import annotations

import json
from pathlib import Path

from scipy.stats import binomtest

from tests.conftest import run_cli
from tests.test_leaderboard import _record, _run_folder


def _run(root: Path, name: str, scores: list[float]) -> Path:
    return _run_folder(root, name, [
        _record("r1", f"t{i:02d}", success=s >= 100, score=s, commands=2, valid=1.0, failing=None if s >= 100 else "x")
        for i, s in enumerate(scores)
    ])  # fmt: skip


def test_a_clear_regression_trips_the_gate_and_lists_flips(tmp_path: Path) -> None:
    base = _run(tmp_path, "base-20261201T000000Z", [100.0] * 30)
    cand = _run(tmp_path, "cand-20261202T000000Z", [0.0] * 12 + [100.0] * 18)
    out = tmp_path / "cmp.json"
    done = run_cli("compare", str(base), str(cand), "--fail-on", "regression", "--json", str(out), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "verdict: regression" in done.stdout and "gate:" in done.stderr
    assert done.stdout.count("solved → failed") == 12 + 1  # 12 task rows plus the summary line
    data = json.loads(out.read_text())
    assert data["verdict"] == "regression" and data["shared_tasks"] == 30
    assert abs(data["difference"] - (-40.0)) < 1e-9 and data["interval"]["high"] < 0
    assert run_cli("compare", str(base), str(cand), cwd=tmp_path).returncode == 0  # no gate asked for


def test_success_comparison_uses_exact_mcnemar(tmp_path: Path) -> None:
    base = _run(tmp_path, "base-20261201T000000Z", [100.0] * 10 + [0.0] * 10)
    cand = _run(tmp_path, "cand-20261202T000000Z", [0.0] * 3 + [100.0] * 7 + [100.0] * 1 + [0.0] * 9)
    out = tmp_path / "cmp.json"
    done = run_cli("compare", str(base), str(cand), "--quantity", "success", "--json", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["method"].startswith("mcnemar")
    assert abs(data["p_value"] - binomtest(1, 4, 0.5).pvalue) < 1e-12  # 3 lost, 1 won
    assert data["solved_to_failed"] == ["r1/t00", "r1/t01", "r1/t02"] and data["failed_to_solved"] == ["r1/t10"]


def test_identical_runs_show_no_change_and_few_tasks_are_insufficient(tmp_path: Path) -> None:
    scores = [100.0, 0.0, 50.0, 100.0, 20.0, 100.0]
    base, cand = _run(tmp_path, "a-20261201T000000Z", scores), _run(tmp_path, "b-20261201T000000Z", scores)
    done = run_cli("compare", str(base), str(cand), "--fail-on", "change", cwd=tmp_path)
    assert done.returncode == 0 and "verdict: no detectable change" in done.stdout
    cand2 = _run(tmp_path, "c-20261201T000000Z", [90.0, 0.0, 40.0, 100.0, 20.0, 95.0])
    done = run_cli("compare", str(base), str(cand2), "--min-effect", "2", "--fail-on", "regression", cwd=tmp_path)
    assert done.returncode == 0 and "verdict: insufficient data" in done.stdout, done.stdout


def test_two_models_of_one_campaign_and_an_ambiguous_side(tmp_path: Path) -> None:
    camp = tmp_path / "camp"
    _run(camp, "m1-20261201T000000Z", [100.0] * 5)
    _run(camp, "m2-20261201T000000Z", [100.0] * 5)
    (camp / "campaign.json").write_text("{}")
    done = run_cli("compare", f"{camp}#m1", f"{camp}#m2", cwd=tmp_path)
    assert done.returncode == 0 and "candidate: " in done.stdout and "(m2, 5 record(s))" in done.stdout
    done = run_cli("compare", str(camp), f"{camp}#m2", cwd=tmp_path)
    assert done.returncode == 2 and "say which as" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = run_cli("compare", f"{camp}#nope", f"{camp}#m2", cwd=tmp_path)
    assert done.returncode == 2 and "no model 'nope'" in done.stderr


def test_several_runs_of_one_model_all_count_as_the_leaderboard_counts_them(tmp_path: Path) -> None:
    base_root = tmp_path / "base"
    _run(base_root, "m-20261201T000000Z", [100.0] * 5)
    _run(base_root, "m-20261202T000000Z", [0.0] * 5)  # a second run of m: its trials are extra epochs
    cand = _run(tmp_path, "m-20261203T000000Z", [50.0] * 5)
    out = tmp_path / "cmp.json"
    done = run_cli("compare", str(base_root), str(cand), "--json", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(m, 10 record(s))" in done.stdout  # both runs, not the last one only
    data = json.loads(out.read_text())
    assert data["base_mean"] == 50.0 and all(d["base_trials"] == 2 for d in data["deltas"])
