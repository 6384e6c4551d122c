"""Tool profiles through the real CLI: `agentgym run --tools coding` against a scripted server, the shipped suite
under the oracle, the campaign field and `agentgym serve-scripted`'s solution player."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentgym.errors import SpecError
from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.models.solution_script import SolutionScript
from agentgym.specs.campaign import build_spec
from agentgym.specs.task import TaskSpec
from agentgym.tools.profiles import CODING, V1
from tests.conftest import run_cli, scripted_run_args

CODING_SCRIPTS = {
    "Count the entries": [
        {"tools": [{"tool": "view", "args": {"path": "."}}, {"tool": "glob", "args": {"pattern": "*"}}]},
        {"tool": "bash", "args": {"command": "ls"}},
        {"tool": "create", "args": {"path": "eval_artifacts/answer.json", "file_text": '{"top_level_entries": 5}'}},
        {"content": "Done: 5 entries."},
    ],
    "answer.md": [
        {"content": '<tool_call>{"name": "grep", "arguments": {"pattern": "def core", "include": "*.py"}}</tool_call>'},
        {"tool": "create", "args": {"path": "eval_artifacts/answer.md", "file_text": "core only\n"}},
        {"tool": "str_replace", "args": {"path": "eval_artifacts/answer.md", "old_str": "only", "new_str": "and util"}},
        {"content": "written"},
    ],
}


def test_run_with_coding_tools_end_to_end(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(CODING_SCRIPTS)) as server:
        args = scripted_run_args(demo_config, tmp_path / "runs", server.base_url)
        proc = run_cli(*args, "--tools", "coding", "--tasks", "demo_task_00[13]", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = Path(proc.stdout.strip().splitlines()[-1])
    offered = [sorted(t["function"]["name"] for t in r["tools"]) for r in server.requests]
    assert offered and all(names == sorted(CODING.names) for names in offered)
    system = server.requests[0]["messages"][0]["content"]
    assert "bash, view, str_replace, create, glob and grep" in system and "run_command" not in system
    assert json.loads((run / "results/run_config.json").read_text())["tool_profile"] == "coding"
    summary = json.loads((run / "results/summary.json").read_text())
    assert summary["tool_rules"]["tool_profile"] == "coding" and summary["success_rate"] == 1.0
    assert "- Tool rules: tool_profile `coding`" in (run / "results/REPORT.md").read_text()
    r1 = json.loads((run / "results/demo/demo_task_001.json").read_text())
    assert r1["metrics"]["commands_used"] == 1 and r1["metrics"]["command_valid_rate"] == 1.0
    calls = r1["transcript"]["tool_calls"]
    assert [c["tool_name"] for c in calls] == ["view", "glob", "bash", "create"]
    assert all(c["ok"] for c in calls) and "src/" in calls[1]["tool_output"]["content"]
    r3 = json.loads((run / "results/demo/demo_task_003.json").read_text())
    assert r3["metrics"]["success"] is True and r3["metrics"]["commands_used"] == 0
    grep = r3["transcript"]["tool_calls"][0]  # written as text: recovered with the profile's tool names
    assert grep["recovered_from_text"] is True and grep["tool_output"]["content"] == "src/pkg/core.py:1:def core():"
    assert (run / "artifacts/demo/demo_task_003").exists()


def test_unknown_tool_profile_is_one_line_and_exit_2(tmp_path: Path, demo_config: Path) -> None:
    proc = run_cli("run", "--config-dir", str(demo_config), "--agent", "oracle", "--tools", "nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --tools: expected v1 or coding, got 'nope'"]


def test_oracle_scores_100_on_the_shipped_suite_with_coding_tools(tmp_path: Path) -> None:
    proc = run_cli("run", "--runs-root", str(tmp_path / "runs"), "--agent", "oracle", "--tools", "coding", cwd=tmp_path)
    if proc.returncode != 0 and "pip" in proc.stderr and "repo '" in proc.stderr:
        pytest.skip(f"shipped PyPI sources unreachable here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    run = Path(proc.stdout.strip().splitlines()[-1])
    summary = json.loads((run / "results/summary.json").read_text())
    assert summary["tasks_finished"] == summary["tasks_planned"] == 30
    assert summary["avg_score"] == 100 and summary["safety_violations"] == 0
    assert summary["tool_rules"]["tool_profile"] == "coding"
    names = {
        c["tool_name"]
        for p in run.glob("results/*/*_task_*.json")
        for c in json.loads(p.read_text())["transcript"]["tool_calls"]
    }
    assert names == {"bash"}  # the shipped solutions are shell commands: run_command played as bash


def test_campaign_field_tools_is_validated() -> None:
    assert build_spec(None, {"tools": "coding"}).tools == "coding"
    assert build_spec(None, {}).tools == "v1"
    with pytest.raises(SpecError, match="tools coding: not supported with executor ray"):
        build_spec(None, {"tools": "coding", "executor": "ray"})
    with pytest.raises(SpecError, match="tools"):
        build_spec(None, {"tools": "nope"})


def test_serve_scripted_plays_solutions_with_the_offered_profile() -> None:
    task = TaskSpec.model_validate(
        {
            "id": "t1",
            "repo": "demo",
            "initial_working_dir": ".",
            "instruction": "Count things.",
            "outputs": [{"key": "n", "type": "int", "oracle": {"fn": "top_level_entry_count"}}],
            "solution": ["ls", {"tool": "write_file", "args": {"path": "eval_artifacts/a.json", "content": "{}"}}],
        }
    )
    script = SolutionScript([task])

    def step(tools: list[dict[str, Any]], turn: int) -> dict[str, Any]:
        messages = [{"role": "user", "content": "Count things."}] + [{"role": "assistant", "content": ""}] * turn
        return script({"messages": messages, "tools": tools})

    assert step(CODING.schemas, 0) == {"tool": "bash", "args": {"command": "ls"}}
    assert step(CODING.schemas, 1) == {"tool": "create", "args": {"path": "eval_artifacts/a.json", "file_text": "{}"}}
    assert step(V1.schemas, 0) == {"tool": "run_command", "args": {"command": "ls"}}
