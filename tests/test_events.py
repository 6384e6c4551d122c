"""Issue 8, the trial event stream: typed lines, the per-trial file written as the trial goes (kill -9 keeps
it), and the per-task JSON's transcript derived from it. Real CLI, real sandbox, scripted server over HTTP."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.results.transcript import TrialEventFile, read_events, read_trial_stream
from agentgym.specs.events import EventLog, Request, SafetyEvent, TaskStart, ToolCall, ToolResult, parse_event
from tests.conftest import run_cli, scripted_run_args
from tests.test_e2e_scripted import SCRIPTS
from tests.test_harness_hardening import _gone, kill_9_mid_command

BIG = "B" * 3000
STREAM_SCRIPTS = {
    **SCRIPTS,
    "answer.md": [  # a large write (payload references) and a recovered text call
        {"tool": "write_file", "args": {"path": "eval_artifacts/answer.md", "content": BIG}},
        {
            "content": '<tool_call>{"name": "write_file", "arguments": {"path": "eval_artifacts/answer.md", '
            '"content": "core and util"}}</tool_call>'
        },
        {"content": "written"},
    ],
}
EVERY_REPO_TYPE = {"task_start", "request", "attempt", "response", "tool_result", "safety_event", "task_end"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of the three demo tasks (a module fixture: parsed by several tests)."""
    from tests.conftest import make_git_repo, write_config

    tmp = tmp_path_factory.mktemp("events")
    cfg = write_config(tmp / "cfg", str(make_git_repo(tmp / "origin")))
    with ScriptedServer(ScriptByTask(STREAM_SCRIPTS)) as server:
        proc = run_cli(
            *scripted_run_args(cfg, tmp / "runs", server.base_url),
            cwd=tmp,
            env={"AGENTGYM_CACHE": str(tmp / "cache")},
        )
    assert proc.returncode == 0, proc.stderr
    return next((tmp / "runs").glob("scripted-model-*"))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_transcript_line_round_trips_through_the_typed_union(finished_run: Path) -> None:
    files = [finished_run / "transcripts/demo.jsonl", *sorted(finished_run.glob("transcripts/demo/*.events.jsonl"))]
    assert len(files) == 4  # the repo JSONL and one event file per trial
    seen: Counter[str] = Counter()
    for path in files:
        for line in _lines(path):
            event = parse_event(line)  # raises on an unknown type or field
            assert event.model_dump(mode="json") == line, line["type"]
            assert event.at and event.task_id.startswith("demo_task_")
            seen[f"{path.suffixes[0]}:{event.type}"] += 1
    assert {k.split(":")[1] for k in seen if k.startswith(".jsonl")} == EVERY_REPO_TYPE
    assert seen[".jsonl:tool_call"] == 0 and seen[".events:tool_call"] == seen[".events:tool_result"] > 0


def test_the_task_result_transcript_is_what_the_stream_says(finished_run: Path) -> None:
    for n in (1, 2, 3):
        result = json.loads((finished_run / f"results/demo/demo_task_00{n}.json").read_text())
        stream = [parse_event(e) for e in read_events(finished_run / f"transcripts/demo/demo_task_00{n}.events.jsonl")]
        kinds = [e.type for e in stream]
        assert kinds[0] == "task_start" and kinds[-1] == "task_end" and kinds.count("task_start") == 1
        transcript, metrics = result["transcript"], result["metrics"]
        results = [e for e in stream if isinstance(e, ToolResult)]
        assert [r.tool_name for r in results] == [c["tool_name"] for c in transcript["tool_calls"]]
        assert [r.ok for r in results] == [c["ok"] for c in transcript["tool_calls"]]
        safety = [(e.event, e.penalized) for e in stream if isinstance(e, SafetyEvent)]
        assert safety == [(e["type"], e["penalized"]) for e in transcript["safety_events"]]
        assert kinds.count("response") == len(transcript["model_calls"]) == metrics["model_calls"]
        assert sum(1 for e in stream if isinstance(e, ToolCall) and e.counted) == metrics["commands_used"]
        assert stream[-1].metrics == metrics  # type: ignore[union-attr]
        first = next(e for e in stream if isinstance(e, Request))
        assert first.new_messages == transcript["prompt_messages"]  # the prompt is written once, there
    r2 = json.loads((finished_run / "results/demo/demo_task_002.json").read_text())
    assert r2["transcript"]["safety_events"] and r2["metrics"]["commands_used"] == 3


def test_large_payloads_stay_single_in_the_per_trial_file(finished_run: Path) -> None:
    text = (finished_run / "transcripts/demo/demo_task_003.events.jsonl").read_text()
    assert text.count(BIG) == 1  # in the reply; the tool_call and tool_result refer to it
    result = json.loads((finished_run / "results/demo/demo_task_003.json").read_text())
    assert result["transcript"]["tool_calls"][0]["tool_input"]["content"] == BIG  # whole in the per-task JSON
    assert result["transcript"]["tool_calls"][1]["recovered_from_text"] is True


@pytest.fixture
def run_base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="agentgym-test-run-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_kill_9_mid_trial_leaves_the_trials_story_on_disk(
    tmp_path: Path, demo_config: Path, cache_dir: Path, run_base: Path
) -> None:
    marker = kill_9_mid_command(tmp_path, demo_config, cache_dir, run_base, tag="events-kill9")
    assert _gone(marker)
    run = next((tmp_path / "runs").glob("m-*"))
    stream = [parse_event(e) for e in read_events(run / "transcripts/demo/demo_task_001.events.jsonl")]
    kinds = [e.type for e in stream]
    assert kinds[:2] == ["task_start", "request"] and {"attempt", "response"} <= set(kinds)
    assert kinds[-1] == "tool_call" and "tool_result" not in kinds and "task_end" not in kinds
    call = stream[-1]
    assert isinstance(call, ToolCall) and call.tool_input == {"command": marker} and call.counted
    assert all(e.task_id == "demo_task_001" for e in stream)
    assert not (run / "results/demo/demo_task_001.json").exists()  # not finished: no record, only its story


class _FullDisk:
    def __init__(self) -> None:
        self.writes = 0

    def write(self, event: object) -> None:
        self.writes += 1
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        pass


def test_a_failing_event_file_never_stops_the_trial() -> None:
    sink = _FullDisk()
    log = EventLog("t", 0, sink)
    log.emit(Request(turn=0, new_messages=[]))
    log.emit(Request(turn=1, new_messages=[]))
    assert sink.writes == 1 and log.sink is None  # dropped after the first failure, one log line
    assert [e.type for e in log.events] == ["request", "request"]


def test_event_file_appends_after_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "demo/t.events.jsonl"
    path.parent.mkdir()
    path.write_bytes(b'{"type": "task_start", "task_id": "t", "epoch": 0, "at": "x"}\n{"type": "requ')
    sink = TrialEventFile(path, clean=lambda text: text.replace("SECRET", "***"))
    EventLog("t", 0, sink).emit(Request(turn=0, new_messages=[{"role": "user", "content": "SECRET"}]))
    sink.close()
    events = read_events(path)
    assert [e["type"] for e in events] == ["task_start", "request"]
    assert events[1]["new_messages"] == [{"role": "user", "content": "***"}]
    again = TrialEventFile(path)  # the trial run again (resume): a new segment, the reader takes the last
    log = EventLog("t", 0, again)
    log.emit(TaskStart(trial_key="k2"))
    log.emit(Request(turn=0, new_messages=[{"role": "user", "content": "lone \ud800 surrogate"}]))
    log.close()
    last = read_trial_stream(path)
    assert [e.type for e in last] == ["task_start", "request"] and last[0].trial_key == "k2"  # type: ignore[union-attr]
    assert last[1].new_messages[0]["content"] == "lone ? surrogate"  # type: ignore[union-attr]


def test_schema_event_prints_the_discriminated_union(tmp_path: Path) -> None:
    proc = run_cli("schema", "event", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["discriminator"]["propertyName"] == "type"
    assert {"task_start", "tool_call", "limit", "error", "task_end"} <= set(schema["discriminator"]["mapping"])
