"""Regrade, replay and the response cache, end to end: real CLI, real scripted HTTP server, real git repo,
real sandbox and oracles (issue 8 items 5, 7, 9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.specs.events import EVENT_ADAPTER
from tests.conftest import TASK_TOP, run_cli, scripted_run_args, write_config
from tests.test_e2e_scripted import SCRIPTS


def _records(run: Path) -> dict[str, dict[str, Any]]:
    return {
        p.stem: json.loads(p.read_text()) for p in sorted((run / "results").glob("*/*.json")) if p.name != "index.json"
    }


def _scripted_run(
    cfg: Path, tmp: Path, *extra: str, server: ScriptedServer | None = None
) -> tuple[Path, ScriptedServer]:
    if server is None:
        with ScriptedServer(ScriptByTask(SCRIPTS)) as own:
            return _scripted_run(cfg, tmp, *extra, server=own)
    proc = run_cli(*scripted_run_args(cfg, tmp / "runs", server.base_url), *extra, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1]), server


def _regrade(run: Path, tmp: Path, *extra: str) -> Path:
    proc = run_cli("regrade", str(run), *extra, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def test_regrade_reproduces_scores_exactly(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    run, _ = _scripted_run(demo_config, tmp_path, "--epochs", "2")
    new = _regrade(run, tmp_path)
    assert new != run and new.parent == run.parent and new.name.startswith("scripted-model-regrade-")
    before, after = _records(run), _records(new)
    assert set(before) == set(after) and len(after) == 6 and "demo_task_002.epoch1" in after
    for stem, old in before.items():
        assert after[stem]["metrics"] == old["metrics"], stem
        assert after[stem]["output_checks"] == old["output_checks"], stem
        assert after[stem]["failure_reason"] == old["failure_reason"], stem
    config = json.loads((new / "results/run_config.json").read_text())
    assert config["regraded_from"] == str(run.resolve()) and config["regrade"]["kept_from_original"] == []
    assert json.loads((new / "results/summary.json").read_text())["status"] == "finished"
    assert (new / "artifacts/demo/demo_task_003/answer.md").read_text() == "core and util"
    kinds = [json.loads(x)["type"] for x in (new / "transcripts/demo.jsonl").read_text().splitlines()]
    assert kinds.count("regrade") == 6 and kinds.count("task_end") == 6 and "response" in kinds
    for line in (new / "transcripts/demo.jsonl").read_text().splitlines():  # still the typed event stream
        EVENT_ADAPTER.validate_python(json.loads(line))


def test_regrade_with_other_profile_follows_the_formula(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    run, _ = _scripted_run(demo_config, tmp_path)
    before = _records(run)
    assert json.loads((run / "results/run_config.json").read_text())["scoring"]["profile"] == "v2"
    after = _records(_regrade(run, tmp_path, "--scoring-profile", "v1"))
    for stem, old in before.items():
        assert after[stem]["metrics"]["score_0_100"] == old["metrics"]["score_v1"], stem
        assert after[stem]["metrics"]["success"] == old["metrics"]["success"], stem
    # task 002 failed every check: v2 gives it no process points, v1 does
    old2, new2 = before["demo_task_002"]["metrics"], after["demo_task_002"]["metrics"]
    assert old2["partial_score"] == 0 and new2["score_0_100"] > old2["score_0_100"]


def test_regrade_reads_the_stored_artifacts(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    run, _ = _scripted_run(demo_config, tmp_path)
    (run / "artifacts/demo/demo_task_003/answer.md").write_text("only core")
    (run / "artifacts/demo/demo_task_001/answer.json").write_text('{"top_level_entries": 6}')
    after = _records(_regrade(run, tmp_path))
    assert after["demo_task_003"]["metrics"]["success"] is False
    assert after["demo_task_003"]["failure_reason"] == "wrong_answer"
    assert after["demo_task_001"]["output_checks"][0]["actual"] == 6
    assert after["demo_task_001"]["first_failing_check"] == "top_level_entries"


def test_regrade_refuses_a_changed_or_missing_task(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    run, _ = _scripted_run(demo_config, tmp_path)
    task = demo_config / "tasks/l1/demo/task_001.yaml"
    task.write_text(task.read_text().replace("Count the entries", "Count all the entries"))
    proc = run_cli("regrade", str(run), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "task demo_task_001 changed since the run" in proc.stderr
    task.unlink()
    proc = run_cli("regrade", str(run), cwd=tmp_path)
    assert proc.returncode == 2 and "demo_task_001 (demo) is no longer in the config tree" in proc.stderr
    assert sorted(p.name for p in run.parent.iterdir()) == [run.name]  # nothing written when refused


TASK_LICENSE = """\
id: demo_task_009
repo: demo
initial_working_dir: .
instruction: |
  Keep the LICENSE file.
outputs:
  - key: license_kept
    type: oracle_bool
    oracle:
      fn: has_license_file
      args: {paths: [LICENSE]}
"""


def test_regrade_keeps_checks_on_unstored_agent_files(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    cfg = write_config(tmp_path / "cfg", str(demo_repo), {"task_001.yaml": TASK_TOP, "task_009.yaml": TASK_LICENSE})
    run, _ = _scripted_run(cfg, tmp_path)
    proc = run_cli("regrade", str(run), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "kept from the original record: demo_task_009:license_kept" in " ".join(proc.stderr.split())
    new = Path(proc.stdout.strip().splitlines()[-1])
    before, after = _records(run), _records(new)
    assert after["demo_task_009"]["output_checks"] == before["demo_task_009"]["output_checks"]
    assert after["demo_task_009"]["metrics"]["success"] is True  # the artifacts alone have no LICENSE
    kept = json.loads((new / "results/run_config.json").read_text())["regrade"]["kept_from_original"]
    assert kept == [{"task_id": "demo_task_009", "epoch": "0", "key": "license_kept"}]


def test_regrade_of_a_broken_folder_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "m-20260101T000000Z"
    (bad / "results/demo").mkdir(parents=True)
    proc = run_cli("regrade", str(bad), cwd=tmp_path)
    assert proc.returncode == 2 and "run_config.json missing" in proc.stderr and "Traceback" not in proc.stderr
    (bad / "results/run_config.json").write_text("{}")
    (bad / "results/demo/t.json").write_text('{"task": [')
    proc = run_cli("regrade", str(bad), cwd=tmp_path)
    assert proc.returncode == 2 and "per-task result cannot be read" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------ response cache


def test_cache_responses_second_run_makes_no_request(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as server:  # one endpoint: the base URL is part of the key
        first, _ = _scripted_run(demo_config, tmp_path, "--cache-responses", server=server)
        sent = len(server.requests)
        second, _ = _scripted_run(demo_config, tmp_path, "--cache-responses", server=server)
    assert sent > 0 and len(server.requests) == sent  # the second run made no HTTP request
    assert any((cache_dir / "responses").rglob("*.json"))
    assert json.loads((second / "results/run_config.json").read_text())["cache_responses"] is True
    lines = [json.loads(x) for x in (second / "transcripts/demo.jsonl").read_text().splitlines()]
    responses = [e for e in lines if e["type"] == "response"]
    assert responses and all(e.get("cached") is True for e in responses)
    first_lines = (first / "transcripts/demo.jsonl").read_text().splitlines()
    assert all(not json.loads(x).get("cached") for x in first_lines if json.loads(x)["type"] == "response")
    before, after = _records(first), _records(second)
    for stem, old in before.items():
        assert after[stem]["output_checks"] == old["output_checks"], stem
        for key in ("success", "score_0_100", "commands_used", "prompt_tokens", "model_calls"):
            assert after[stem]["metrics"][key] == old["metrics"][key], (stem, key)


def test_cache_is_off_by_default_and_keyed_by_settings(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as server:
        _scripted_run(demo_config, tmp_path, server=server)
        assert not (cache_dir / "responses").exists()
        _scripted_run(demo_config, tmp_path, "--cache-responses", server=server)
        sent = len(server.requests)
        _scripted_run(demo_config, tmp_path, "--cache-responses", "--temperature", "0.5", server=server)
    assert len(server.requests) > sent  # other settings: other keys


# ------------------------------------------------------------------------------------------ replay


def _replay(run: Path, cfg: Path, tmp: Path) -> tuple[int, str, Path]:
    proc = run_cli("run", "--config-dir", str(cfg), "--runs-root", str(tmp / "replays"), "--replay", str(run), cwd=tmp)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stderr, Path(proc.stdout.strip().splitlines()[-1])


def _calls(record: dict[str, Any]) -> list[tuple[str, Any, bool]]:
    return [(c["tool_name"], c["tool_input"], c["ok"]) for c in record["transcript"]["tool_calls"]]


def test_replay_repeats_tool_calls_and_scores(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    run, _ = _scripted_run(demo_config, tmp_path)
    code, stderr, replayed = _replay(run, demo_config, tmp_path)
    assert code == 0, stderr
    assert replayed.name.startswith("scripted-model-replay-")
    config = json.loads((replayed / "results/run_config.json").read_text())
    assert config["agent"] == "replay" and config["model"]["replay_of"] == str(run.resolve())
    before, after = _records(run), _records(replayed)
    assert set(after) == set(before)
    for stem, old in before.items():
        assert _calls(after[stem]) == _calls(old), stem
        assert after[stem]["metrics"]["score_0_100"] == old["metrics"]["score_0_100"], stem
        assert after[stem]["output_checks"] == old["output_checks"], stem
        assert after[stem]["error"] is None, stem
        assert after[stem]["transcript"]["model_final_message"] == old["transcript"]["model_final_message"]


def test_replay_from_per_task_json_only(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    """An original-style folder without our transcripts: turns rebuilt from transcript.tool_calls."""
    run, _ = _scripted_run(demo_config, tmp_path)
    (run / "transcripts/demo.jsonl").unlink()
    code, stderr, replayed = _replay(run, demo_config, tmp_path)
    assert code == 0, stderr
    before, after = _records(run), _records(replayed)
    for stem, old in before.items():
        assert _calls(after[stem]) == _calls(old), stem
        assert after[stem]["metrics"]["success"] == old["metrics"]["success"], stem
        assert after[stem]["metrics"]["commands_used"] == old["metrics"]["commands_used"], stem


def test_replay_after_task_change_says_so(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    run, _ = _scripted_run(demo_config, tmp_path)
    top = demo_config / "tasks/l1/demo/task_001.yaml"
    top.write_text(top.read_text().replace("Count the entries", "Please count the entries"))
    readme = demo_config / "tasks/l1/demo/task_002.yaml"
    readme.write_text(readme.read_text().replace("allowed: [cat, head, ls]", "allowed: [cat, ls]"))
    code, stderr, replayed = _replay(run, demo_config, tmp_path)
    assert code == 0, stderr
    after = _records(replayed)
    assert "replay: task demo_task_001 changed since the recording (content hash" in after["demo_task_001"]["error"]
    assert after["demo_task_001"]["metrics"]["success"] is True  # same actions, still right
    error = after["demo_task_002"]["error"]
    assert "replay: recorded turn 3 no longer fits: run_command refused" in error, error
    assert after["demo_task_003"]["error"] is None


def test_replay_that_runs_out_of_turns_says_so(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    run, _ = _scripted_run(demo_config, tmp_path)
    path = run / "transcripts/demo.jsonl"
    events = [json.loads(x) for x in path.read_text().splitlines()]
    turns = [e for e in events if e["type"] == "response" and e["task_id"] == "demo_task_001"]
    kept = [e for e in events if e not in turns[1:]]  # only its first turn (ls) stays recorded
    path.write_text("".join(json.dumps(e) + "\n" for e in kept))
    code, _, replayed = _replay(run, demo_config, tmp_path)
    assert code == 4
    result = _records(replayed)["demo_task_001"]
    assert result["failure_reason"] == "model_error"
    assert "replay: recorded turn 2 does not exist (the recording of demo_task_001 has 1 turn(s))" in result["error"]
    assert _calls(result) == [("run_command", {"command": "ls"}, True)]
    assert _records(replayed)["demo_task_003"]["metrics"]["success"] is True


def test_replay_of_a_folder_without_results_is_one_line(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = run_cli("run", "--config-dir", str(demo_config), "--replay", str(tmp_path / "empty"), cwd=tmp_path)
    assert proc.returncode == 2 and "no per-task results" in proc.stderr and "Traceback" not in proc.stderr


def test_replay_source_tolerates_hostile_recordings(tmp_path: Path) -> None:
    from agentgym.models.replay import ReplaySource

    run = tmp_path / "m-20260101T000000Z"
    (run / "results/demo").mkdir(parents=True)
    (run / "transcripts").mkdir()
    record = {"task": {"id": "t1", "content_hash": 5}, "epoch": "1", "transcript": {"tool_calls": {"a": 1}}}
    (run / "results/demo/t1.json").write_text(json.dumps(record))
    lines = [
        {"type": "response", "task_id": "t1", "epoch": "x", "turn": "y", "message": {"tool_calls": {"k": "v"}}},
        {"type": "response", "task_id": "t1", "turn": 1, "message": {"tool_calls": [{"function": "str"}, 7]}},
        {"type": "response", "task_id": "t1", "turn": 2, "message": "text", "format_errors": "e"},
    ]
    (run / "transcripts/demo.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + "{partial")
    source = ReplaySource(run)
    trial = source.next_for("t1")
    assert trial is not None and trial.content_hash is None and len(trial.turns) == 3
    assert [len(t.tool_calls) for t in trial.turns] == [0, 1, 0]
    assert source.model_id == "m-replay" and source.next_for("other") is None
