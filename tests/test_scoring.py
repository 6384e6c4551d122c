"""Scoring on worked examples, both profiles; checks of hostile answers; plan-time expectations; REPORT.md."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from agentgym.errors import SpecError
from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.oracles import Expected, ExpectedCache, run_oracle
from agentgym.results.report import render_report, summarize
from agentgym.scoring import ScoreInputs, efficiency_points, score_task
from agentgym.scoring.checks import (
    MAX_RECORDED_ACTUAL,
    MAX_RECORDED_DEPTH,
    CheckOutcome,
    evaluate_outputs,
    plan_expected,
)
from agentgym.sources.base import Snapshot
from agentgym.specs.result import Metrics, OutputCheck, TaskInfo, TaskResult, Transcript
from agentgym.specs.task import OracleCall, OutputSpec, TaskSpec
from agentgym.specs.weights import Weights
from tests.conftest import make_git_repo, run_cli, write_config

V1 = Weights(profile="v1")
V2 = Weights(profile="v2")


def test_efficiency_bonus_threshold_and_decay() -> None:
    assert efficiency_points(0, V1) == 10
    assert efficiency_points(5, V1) == 10
    assert efficiency_points(8, V1) == pytest.approx(6.25)
    assert efficiency_points(20, V1) == pytest.approx(2.5)


def test_perfect_run_scores_100_in_both_profiles() -> None:
    for w in (V1, V2):
        s = score_task(ScoreInputs(2, 2, 3, 3, 0), w)
        assert s.success and s.score == 100  # 60 + 20 + 10 + 10


def test_v1_worked_example_partial_with_violation() -> None:
    # partial 1/2 -> 10; valid 6/8 -> 7.5; efficiency 10*5/8 = 6.25; one violation -> -10
    s = score_task(ScoreInputs(1, 2, 8, 6, 1), V1)
    assert not s.success
    assert s.score == pytest.approx(13.75)


def test_v1_worked_example_quarter_credit() -> None:
    # partial 1/4 -> 5; valid 3/4 -> 7.5; efficiency (4 <= 5) -> 10: 22.5
    assert score_task(ScoreInputs(1, 4, 4, 3, 0), V1).score == pytest.approx(22.5)


def test_do_nothing_scores_20_under_v1_and_0_under_v2() -> None:
    nothing = ScoreInputs(passed_weight=0, total_weight=3, commands_used=0, valid_commands=0, safety_violations=0)
    assert score_task(nothing, V1).score == 20  # the original's flaw, reproduced on purpose
    assert score_task(nothing, V2).score == 0


def test_v2_keeps_process_points_when_partial_positive() -> None:
    inputs = ScoreInputs(1, 2, 8, 6, 0)
    assert score_task(inputs, V2).score == score_task(inputs, V1).score == pytest.approx(23.75)


def test_clamped_to_0_and_100() -> None:
    assert score_task(ScoreInputs(0, 1, 30, 0, 9), V1).score == 0
    generous = Weights(profile="v1", success_points=90, partial_points=20)
    assert score_task(ScoreInputs(1, 1, 1, 1, 0), generous).score == 100


def test_weights_and_success_threshold() -> None:
    # weighted partial: 2.997/3 = 0.999 counts as success
    assert score_task(ScoreInputs(2.997, 3, 1, 1, 0), V2).success
    assert not score_task(ScoreInputs(2.99, 3, 1, 1, 0), V2).success


def test_both_scores_always_and_the_profile_picks_score() -> None:
    nothing = ScoreInputs(passed_weight=0, total_weight=3, commands_used=0, valid_commands=0, safety_violations=0)
    for weights, picked in ((V1, 20), (V2, 0)):
        s = score_task(nothing, weights)
        assert (s.score_v1, s.score_v2, s.score) == (20, 0, picked)
    partial = score_task(ScoreInputs(1, 2, 8, 6, 1), V2)
    assert partial.score_v1 == partial.score_v2 == partial.score == pytest.approx(13.75)


# ----------------------------------------------------------------------------------------------- checks


def _out(key: str, type_: str | None, fn: str = "top_level_entry_count", **args: Any) -> OutputSpec:
    data: dict[str, Any] = {"key": key, "oracle": {"fn": fn, "args": args}}
    if type_ is not None:
        data["type"] = type_
    return OutputSpec.model_validate(data)


def _answer(root: Path, content: str | bytes) -> Path:
    path = root / "eval_artifacts" / "answer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _check(root: Path, out: OutputSpec, expected: Any) -> tuple[CheckOutcome, OutputCheck]:
    outcome = evaluate_outputs([out], [expected], root)
    return outcome, outcome.checks[0]


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("[" * 200_000, "answer.json is nested too deeply to parse"),
        ('{"n": ' + "[" * 5000 + "]" * 5000 + "}", "answer.json is nested too deeply to parse"),
        ('{"n": 5', "answer.json is not valid JSON: Expecting ',' delimiter"),
        ('{"n": ' + "9" * 5000 + "}", "answer.json is not valid JSON: Exceeds the limit"),
        ("[5]", "answer.json is not a JSON object (got list)"),
        (b'\xff\xfe{"n": 5}', "answer.json is not valid JSON"),
    ],
)
def test_malformed_answer_is_invalid_never_an_exception(tmp_path: Path, content: str | bytes, detail: str) -> None:
    _answer(tmp_path, content)
    outcome, check = _check(tmp_path, _out("n", "int"), 5)
    assert outcome.answer_status == "invalid" and not check.ok
    assert outcome.answer_detail is not None and outcome.answer_detail.startswith(detail)
    assert check.error == outcome.answer_detail


def test_oversized_answer_is_refused_unread_with_its_size(tmp_path: Path) -> None:
    with _answer(tmp_path, "").open("wb") as handle:
        handle.truncate(5 * 1024 * 1024)  # sparse: 5 MiB on paper
    outcome, check = _check(tmp_path, _out("n", "int"), 5)
    assert outcome.answer_status == "invalid"
    assert check.error == "answer.json is 5.0 MiB, over the 1.0 MiB limit; not read"


def test_answer_planted_as_fifo_or_behind_a_link_is_missing(tmp_path: Path) -> None:
    (tmp_path / "eval_artifacts").mkdir()
    os.mkfifo(tmp_path / "eval_artifacts" / "answer.json")  # opening it for reading would block forever
    assert _check(tmp_path, _out("n", "int"), 5)[0].answer_status == "missing"
    outside = tmp_path / "outside"
    _answer(outside, '{"n": 5}')
    root = tmp_path / "ws"
    root.mkdir()
    (root / "eval_artifacts").symlink_to(outside / "eval_artifacts")  # a folder link leaving the tree
    outcome, check = _check(root, _out("n", "int"), 5)
    assert outcome.answer_status == "missing" and check.error == "answer.json missing"


def test_huge_or_deep_actual_values_are_capped_in_the_record_but_compared_in_full(tmp_path: Path) -> None:
    big = "x" * 900_000
    _answer(tmp_path, json.dumps({"s": big, "deep": json.loads("[" * 500 + "]" * 500), "nan": float("nan")}))
    _, check = _check(tmp_path, _out("s", "str"), big)
    assert check.ok and check.actual_elided
    assert check.actual.startswith('"xxx') and check.actual.endswith("[… 895906 of 900002 bytes elided …]")
    assert len(json.dumps(check.model_dump(mode="json")["actual"])) < 2 * MAX_RECORDED_ACTUAL
    _, deep = _check(tmp_path, _out("deep", "json"), [])
    assert not deep.ok and deep.actual == f"[… a list nested deeper than {MAX_RECORDED_DEPTH} levels, elided …]"
    json.dumps(deep.model_dump(mode="json"))  # the record can be written
    _, nan = _check(tmp_path, _out("nan", "float"), 1.0)
    assert not nan.ok and nan.actual_elided and "nan" in nan.actual
    json.dumps(nan.model_dump(mode="json"), allow_nan=False)
    small = _check(tmp_path, _out("missing", "str"), "a")[1]
    assert small.model_dump(mode="json") == {
        "key": "missing",
        "ok": False,
        "expected": "a",
        "actual": None,
        "weight": 1.0,
        "error": "key missing",
    }  # the v1 record shape when no extension field has something to say


@pytest.mark.parametrize(
    ("declared", "expected", "actual", "error"),
    [
        ("int", 5, 5, None),
        ("int", 5, 5.0, "expected int, got float"),
        ("int", 5, "5", "expected int, got str"),
        ("int", 1, True, "expected int, got bool"),
        ("float", 5.0, 5, None),
        ("float", 2.5, 2.5, None),
        ("float", 1.0, True, "expected float, got bool"),
        ("str", "5", 5, "expected str, got int"),
        ("str", "a", "a", None),
        ("json", {"a": [1]}, {"a": [1.0]}, None),
        ("json", True, 1, "wrong"),
    ],
)
def test_declared_type_is_enforced_on_the_answer(
    tmp_path: Path, declared: str, expected: Any, actual: Any, error: str | None
) -> None:
    _answer(tmp_path, json.dumps({"k": actual}))
    _, check = _check(tmp_path, _out("k", declared), expected)
    assert check.ok is (error is None)
    assert check.error == (None if error in (None, "wrong") else error)


def test_any_accepted_answer_passes_and_the_alternatives_are_recorded(tmp_path: Path) -> None:
    a, b = {"path": "a/x.bin", "size": 9}, {"path": "b/y.bin", "size": 9}
    exp = Expected(a, accepted=[a, b])
    _answer(tmp_path, json.dumps({"largest_file": b}))
    _, check = _check(tmp_path, _out("largest_file", "json", "largest_file"), exp)
    assert check.ok and check.expected == a and check.accepted == [a, b]
    _answer(tmp_path, json.dumps({"largest_file": {"path": "c.bin", "size": 9}}))
    assert not _check(tmp_path, _out("largest_file", "json", "largest_file"), exp)[1].ok


# ----------------------------------------------------------------------------------------------- plan time


def _snapshot(root: Path) -> Snapshot:
    return Snapshot(repo_id="demo", path=root, digest=f"sha256:{root.name}")


def _task(*outputs: dict[str, Any]) -> TaskSpec:
    return TaskSpec.model_validate(
        {"id": "demo_task_009", "repo": "demo", "initial_working_dir": ".", "instruction": "x", "outputs": outputs}
    )


def test_plan_warns_about_ties_and_checks_declared_types(tmp_path: Path) -> None:
    root = tmp_path / "tied"
    for rel in ("b/same.bin", "a/same.bin", "small.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("123456" if rel.endswith(".bin") else "1")
    cache = ExpectedCache(tmp_path / "cache")
    largest = {"key": "largest_file", "type": "json", "oracle": {"fn": "largest_file"}}
    untyped = {"key": "count", "oracle": {"fn": "top_level_entry_count"}}
    warnings: list[str] = []
    outputs, expected = plan_expected(_task(largest, untyped), _snapshot(root), cache, warnings.append)
    assert expected[0].value == {"path": "a/same.bin", "size": 6}
    assert expected[0].accepted == [{"path": "a/same.bin", "size": 6}, {"path": "b/same.bin", "size": 6}]
    assert warnings[0] == (
        "warning: task demo_task_009, output 'largest_file': largest_file has 2 equally right answers on this "
        'snapshot ("a/same.bin", "b/same.bin"); any of them passes'
    )
    assert [o.type for o in outputs] == ["json", "json"]  # defaulted `str` but the oracle gives an int
    assert "output 'count': no type given and oracle top_level_entry_count gives int" in warnings[1]
    # the alternatives come from the cache file too (format 2), not only from a fresh computation
    again = ExpectedCache(tmp_path / "cache").expected(_snapshot(root), OracleCall(fn="largest_file"))
    assert again == expected[0]
    entry = json.loads(cache.path_for(_snapshot(root), OracleCall(fn="largest_file")).read_text())
    assert entry["format"] == 2 and len(entry["accepted"]) == 2
    with pytest.raises(SpecError, match="output 'count': type str but oracle top_level_entry_count gives int"):
        plan_expected(_task({**untyped, "type": "str"}), _snapshot(root), cache)


def test_kv_answer_counts_come_from_the_pristine_snapshot(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    for rel in ("LICENSE", "a.py", "src/x.py"):
        (pristine / rel).parent.mkdir(parents=True, exist_ok=True)
        (pristine / rel).write_text("x")
    final = tmp_path / "final"
    shutil.copytree(pristine, final)
    (final / "harness_tmp").mkdir()  # a folder the harness (or the agent) made in the final tree
    (final / "LICENSE").unlink()  # and a file the agent removed
    (final / "eval_artifacts").mkdir()
    (final / "eval_artifacts" / "answer.md").write_text("repo_id: demo\ntop_level_entries: 3\nhas_license: yes\n")
    kv = {
        "key": "kv",
        "type": "oracle_bool",
        "oracle": {
            "fn": "answer_md_kv_matches",
            "args": {"path": "eval_artifacts/answer.md", "repo_id": "demo", "exclude_top_level": [".git"]},
        },
    }
    task = _task(kv)
    outputs, expected = plan_expected(task, _snapshot(pristine), ExpectedCache(tmp_path / "cache"))
    assert expected[0].facts == {"top_level_entries": 3, "has_license": True}
    outcome = evaluate_outputs(outputs, expected, final)
    assert outcome.checks[0].ok, outcome.checks[0]
    assert run_oracle(task.outputs[0].oracle, final) is False  # judged on the final tree alone (4, no LICENSE)


def test_answer_md_oracles_read_bounded_and_in_tree(tmp_path: Path) -> None:
    md = tmp_path / "eval_artifacts" / "answer.md"
    md.parent.mkdir(parents=True)
    contains = _out("md", "oracle_bool", "answer_md_contains", path="eval_artifacts/answer.md", must_contain=["a"])
    with md.open("wb") as handle:
        handle.write(b"a")
        handle.truncate(2 * 1024 * 1024)
    check = evaluate_outputs([contains], [None], tmp_path).checks[0]
    assert not check.ok and check.error is not None
    assert check.error.endswith("eval_artifacts/answer.md is 2.0 MiB, over the 1.0 MiB limit; not read")
    md.unlink()
    os.mkfifo(md)
    assert evaluate_outputs([contains], [None], tmp_path).checks[0].ok is False  # not opened, no hang
    md.unlink()
    os.mknod(md, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # a device node (/dev/zero's numbers): never opened
    assert evaluate_outputs([contains], [None], tmp_path).checks[0].ok is False
    md.unlink()
    md.symlink_to("/etc/hostname")
    assert evaluate_outputs([contains], [None], tmp_path).checks[0].ok is False
    md.unlink()
    md.write_text("a")
    assert evaluate_outputs([contains], [None], tmp_path).checks[0].ok is True


# ----------------------------------------------------------------------------------------------- report


def _result(task_id: str, check: str | None, v1: float, v2: float) -> TaskResult:
    metrics = Metrics(
        success=False,
        partial_score=0,
        score_0_100=v2,
        score_v1=v1,
        score_v2=v2,
        commands_used=0,
        command_valid_rate=1.0,
        safety_violations=0,
        hallucination_signals=0,
    )
    info = TaskInfo(
        id=task_id, repo="demo", difficulty="easy", limits={}, instruction="", policy={}, content_hash="0" * 16
    )
    return TaskResult(
        task=info,
        metrics=metrics,
        output_checks=[],
        transcript=Transcript(),
        failure_reason="wrong_answer",
        first_failing_check=check,
    )


def test_report_shows_both_averages_and_escapes_cells() -> None:
    results = [_result("demo_task_001", "a|b\nc", 20, 0), _result("demo_task_002", None, 30, 10)]
    config = {"run_id": "r", "scoring": {"profile": "v2"}, "tasks_planned": 2}
    summary = summarize(results, config, status="finished")
    assert (summary["avg_score"], summary["avg_score_v1"], summary["avg_score_v2"]) == (5, 25, 5)
    report = render_report(summary, results)
    assert "average score: 5.00 (v1 formula: 25.00, v2: 5.00)" in report
    assert summary["per_repo"]["demo"]["avg_score_v1"] == 25 and "| demo | 2 | 0.0% | 5.00 | 25.00 | 5.00 |" in report
    row = next(line for line in report.splitlines() if "demo_task_001" in line)
    assert row.endswith("| wrong_answer | a\\|b\\nc |") and row.count(" | ") == 11
    assert "| 0.00 | 20.00 | 0.00 |" in row


# ----------------------------------------------------------------------------------------------- end to end

NESTED = "import os; os.makedirs('eval_artifacts', exist_ok=True); open('eval_artifacts/answer.json', 'w').write('[' * 200000)"
BIG_MD = "open('eval_artifacts/answer.md', 'w').write('core util ' + 'x' * 3000000)"
HOSTILE = {
    "Count the entries": [{"tool": "run_command", "args": {"command": f'python3 -c "{NESTED}"'}}, {"content": "ok"}],
    "answer.md": [{"tool": "run_command", "args": {"command": f'python3 -c "{BIG_MD}"'}}, {"content": "ok"}],
}


def test_hostile_answers_are_agent_failures_with_both_scores(
    tmp_path: Path, demo_config: Path, cache_dir: Path
) -> None:
    with ScriptedServer(ScriptByTask(HOSTILE)) as server:
        proc = run_cli(
            *("run", "--config-dir", str(demo_config), "--runs-root", str(tmp_path / "runs")),
            *("--model", "scripted-model", "--base-url", server.base_url),
            cwd=tmp_path,
            env={"OPENAI_API_KEY": "sk-test-0123456789"},
        )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    run = next((tmp_path / "runs").iterdir())
    nested = json.loads((run / "results/demo/demo_task_001.json").read_text())
    assert nested["failure_reason"] == "invalid_answer_json" and nested["error"] is None
    assert nested["output_checks"][0]["error"] == "answer.json is nested too deeply to parse"
    md = json.loads((run / "results/demo/demo_task_003.json").read_text())
    assert md["failure_reason"] == "wrong_answer"
    assert md["output_checks"][0]["error"].endswith("answer.md is 2.9 MiB, over the 1.0 MiB limit; not read")
    art = run / "artifacts/demo/demo_task_003"
    assert (art / "answer.md").stat().st_size == 1024 * 1024
    assert "only the first 1048576 were copied" in (art / "answer.md.truncated.txt").read_text()
    assert (run / "artifacts/demo/demo_task_001/answer.json").stat().st_size == 200_000  # under the cap: whole
    for result in (nested, md):
        metrics = result["metrics"]
        assert metrics["score_0_100"] == metrics["score_v2"] == 0 and metrics["score_v1"] == 20
    summary = json.loads((run / "results/summary.json").read_text())
    assert summary["avg_score"] == 0 and summary["avg_score_v2"] == 0 and summary["avg_score_v1"] == 20
    assert "(v1 formula: 20.00, v2: 0.00)" in (run / "results/REPORT.md").read_text()


TASK_LARGEST = """\
id: demo_task_004
repo: demo
initial_working_dir: .
instruction: |
  Write eval_artifacts/answer.json as {"largest_file": {"path": <str>, "size": <int>}}.
outputs:
  - key: largest_file
    type: json
    oracle:
      fn: largest_file
      args: {exclude_dirs: [".git", "eval_artifacts"]}
"""


def test_run_warns_the_task_author_about_a_tie_and_accepts_either_path(tmp_path: Path, cache_dir: Path) -> None:
    files = {"README.md": "hi\n", "[/dim]x.bin": "123456\n", "b/x.bin": "654321\n"}  # a name rich would misread
    cfg = write_config(
        tmp_path / "cfg", str(make_git_repo(tmp_path / "origin", files)), {"task_004.yaml": TASK_LARGEST}
    )
    write = {
        "path": "eval_artifacts/answer.json",
        "content": json.dumps({"largest_file": {"path": "b/x.bin", "size": 7}}),
    }
    with ScriptedServer(
        ScriptByTask({"largest_file": [{"tool": "write_file", "args": write}, {"content": "ok"}]})
    ) as srv:
        proc = run_cli(
            *("run", "--config-dir", str(cfg), "--runs-root", str(tmp_path / "runs")),
            *("--model", "scripted-model", "--base-url", srv.base_url),
            cwd=tmp_path,
            env={"OPENAI_API_KEY": "sk-test-0123456789"},
        )
    assert proc.returncode == 0, proc.stderr
    assert (
        "warning: task demo_task_004, output 'largest_file': largest_file has 2 equally right answers on this "
        'snapshot ("[/dim]x.bin", "b/x.bin"); any of them passes'
    ) in " ".join(proc.stderr.split())
    result = json.loads(next((tmp_path / "runs").glob("*/results/demo/demo_task_004.json")).read_text())
    check = result["output_checks"][0]
    assert check["ok"] and check["expected"] == {"path": "[/dim]x.bin", "size": 7}
    assert [a["path"] for a in check["accepted"]] == ["[/dim]x.bin", "b/x.bin"]
