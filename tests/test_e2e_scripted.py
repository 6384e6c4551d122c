"""`agentgym run` end to end: real CLI subprocess, real openai client over HTTP to a scripted server,
real git repo, real sandbox, real oracles. Checks the FORMATS.md run-folder shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from tests.conftest import run_cli, scripted_run_args

SECRET = "sk-test-SECRET-0123456789"

SCRIPTS = {
    "Count the entries": [
        {"tool": "run_command", "args": {"command": "ls"}},
        {"tool": "write_file", "args": {"path": "eval_artifacts/answer.json", "content": '{"top_level_entries": 5}'}},
        {"content": "Done: 5 entries."},
    ],
    "first non-empty line": [
        {"tools": [{"tool": "run_command", "raw_arguments": "{not json"}, {"tool": "teleport", "args": {}}]},
        {"tool": "run_command", "args": {"command": "rm -rf src"}},
        {"tool": "run_command", "args": {"command": "head -3 README.md"}},
        {"tool": "write_file", "args": {"path": "eval_artifacts/answer.json", "content": '{"line": "# Demo Project"}'}},
        {"content": "done"},
    ],
    "answer.md": [
        {
            "content": '<tool_call>{"name": "write_file", "arguments": {"path": "eval_artifacts/answer.md", '
            '"content": "core and util"}}</tool_call>'
        },
        {"content": "written"},
    ],
}


def _run(cfg: Path, server: ScriptedServer, tmp: Path, *extra: str) -> tuple[int, str, Path | None]:
    proc = run_cli(
        *scripted_run_args(cfg, tmp / "runs", server.base_url),
        *extra,
        cwd=tmp,
        env={"OPENAI_API_KEY": SECRET},
    )
    folders = sorted((tmp / "runs").glob("*")) if (tmp / "runs").exists() else []
    return proc.returncode, proc.stderr, folders[-1] if folders else None


def test_full_run_writes_formats_shaped_folder(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as server:
        code, stderr, run = _run(demo_config, server, tmp_path)
    assert code == 0, stderr
    assert run is not None and run.name.startswith("scripted-model-")
    # every request carried the tool schema (server answers 400 otherwise) and the key as a bearer token
    assert server.requests and all(len(r["tools"]) == 4 for r in server.requests)
    assert all(h == f"Bearer {SECRET}" for h in server.auth_headers)

    r1 = json.loads((run / "results/demo/demo_task_001.json").read_text())
    assert set(r1) >= {"task", "metrics", "output_checks", "transcript", "failure_reason"}
    assert r1["metrics"]["success"] is True and r1["metrics"]["score_0_100"] == 100
    assert r1["metrics"]["commands_used"] == 1 and r1["metrics"]["command_valid_rate"] == 1.0
    assert r1["output_checks"] == [
        {"key": "top_level_entries", "ok": True, "expected": 5, "actual": 5, "weight": 1.0, "error": None}
    ]
    calls = r1["transcript"]["tool_calls"]
    assert [c["tool_name"] for c in calls] == ["run_command", "write_file"]
    assert "README.md" in calls[0]["tool_output"]["stdout"] and calls[0]["tool_output"]["exit_code"] == 0
    assert r1["transcript"]["prompt_messages"][0]["role"] == "system"
    assert r1["transcript"]["model_final_message"] == "Done: 5 entries."
    assert r1["metrics"]["prompt_tokens"] == 30 and r1["metrics"]["model_calls"] == 3
    assert r1["task"]["limits"]["max_commands"] == 5 and r1["sandbox"] == "bwrap"

    r2 = json.loads((run / "results/demo/demo_task_002.json").read_text())
    assert r2["metrics"]["success"] is False and r2["failure_reason"] == "policy_violation"
    assert r2["first_failing_check"] == "line"
    assert r2["output_checks"][0]["expected"] == "  # Demo Project  "
    events = [e["type"] for e in r2["transcript"]["safety_events"]]
    assert events == ["prohibited_command"] and r2["metrics"]["safety_violations"] == 1
    errors = [c["error"] for c in r2["transcript"]["tool_calls"] if not c["ok"]]
    assert any("not valid JSON" in e for e in errors) and any("unknown tool 'teleport'" in e for e in errors)
    assert r2["metrics"]["commands_used"] == 3  # malformed + refused + head
    assert r2["metrics"]["command_valid_rate"] == pytest.approx(1 / 3, abs=1e-3)

    r3 = json.loads((run / "results/demo/demo_task_003.json").read_text())
    assert r3["metrics"]["success"] is True
    assert r3["transcript"]["tool_calls"][0]["recovered_from_text"] is True
    after = next(
        r["messages"] for r in server.requests if "answer.md" in r["messages"][1]["content"] and len(r["messages"]) > 3
    )
    declared = after[2]["tool_calls"][0]  # the recovered call is sent back as a standard tool call
    assert declared["function"]["name"] == "write_file" and after[3]["tool_call_id"] == declared["id"]

    index = json.loads((run / "results/demo/index.json").read_text())
    assert [t["task_id"] for t in index["tasks"]] == ["demo_task_001", "demo_task_002", "demo_task_003"]
    assert json.loads((run / "artifacts/demo/demo_task_001/answer.json").read_text()) == {"top_level_entries": 5}
    assert (run / "artifacts/demo/demo_task_003/answer.md").read_text() == "core and util"
    assert (run / "artifacts/demo/demo_task_001/task_result.json").is_file()
    lines = [json.loads(x) for x in (run / "transcripts/demo.jsonl").read_text().splitlines()]
    kinds = {e["type"] for e in lines}
    assert {"task_start", "request", "response", "tool_result", "safety_event", "task_end"} <= kinds
    config = json.loads((run / "results/run_config.json").read_text())
    assert config["model"]["api_key_set"] is True and config["model"]["model"] == "scripted-model"
    assert len(config["repos"]["demo"]["commit"]) == 40
    summary = json.loads((run / "results/summary.json").read_text())
    assert summary["status"] == "finished" and summary["tasks_finished"] == 3
    assert summary["success_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert "demo_task_002" in (run / "results/REPORT.md").read_text()
    for f in run.rglob("*"):
        if f.is_file():
            assert SECRET not in f.read_text(errors="replace"), f


def test_unreachable_endpoint_is_one_line(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    proc = run_cli(
        "run",
        "--config-dir",
        str(demo_config),
        "--runs-root",
        str(tmp_path / "runs"),
        "--model",
        "m",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--limit",
        "1",
        cwd=tmp_path,
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr and "cannot reach http://127.0.0.1:9/v1" in proc.stderr


def test_401_stops_run_and_keeps_finished_tasks(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    scripts = {"Count the entries": SCRIPTS["Count the entries"], "first non-empty line": [{"status": 401}]}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, stderr, run = _run(demo_config, server, tmp_path)
    assert code == 3 and "unauthorized" in stderr and "Traceback" not in stderr
    assert run is not None
    assert json.loads((run / "results/demo/demo_task_001.json").read_text())["metrics"]["success"] is True
    summary = json.loads((run / "results/summary.json").read_text())
    assert summary["status"] == "aborted" and "unauthorized" in summary["error"]
    assert not (run / "results/demo/demo_task_003.json").exists()


def test_no_choices_is_model_error_and_429_storm_is_infra_error(
    tmp_path: Path, demo_config: Path, cache_dir: Path
) -> None:
    scripts = {
        "Count the entries": [{"raw_body": {"id": "x", "object": "chat.completion", "choices": []}}],
        "first non-empty line": [{"status": 429, "retry_after": 0}] * 10,
    }
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, stderr, run = _run(demo_config, server, tmp_path, "--tasks", "demo_task_00[12]")
    assert code == 4, stderr
    assert "model_error" in stderr and "Traceback" not in stderr
    assert run is not None
    r1 = json.loads((run / "results/demo/demo_task_001.json").read_text())
    assert r1["failure_reason"] == "model_error" and "no choices" in r1["error"]
    r2 = json.loads((run / "results/demo/demo_task_002.json").read_text())
    assert r2["failure_reason"] == "infra_error" and "429" in r2["error"]  # issue 7 item 11: kept apart
    # bounded retries: 1 try + 3 retries for the 429 task
    assert sum(1 for r in server.requests if "first non-empty" in r["messages"][1]["content"]) == 4


def test_nop_and_dry_run(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    proc = run_cli(
        "run", "--config-dir", str(demo_config), "--runs-root", str(tmp_path / "runs"), "--dry-run", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    run = next((tmp_path / "runs").glob("nop-*"))
    summary = json.loads((run / "results/summary.json").read_text())
    assert summary["avg_score"] == 0 and summary["tasks_finished"] == 3
    assert summary["failure_reasons"] == {"missing_answer": 3}


def test_repeated_call_ends_trial_and_output_is_elided_explicitly(
    tmp_path: Path, demo_config: Path, cache_dir: Path
) -> None:
    big = {"tool": "run_command", "args": {"command": "python3 -c \"print('x' * 20000)\""}}
    scripts = {"Count the entries": [big, big, big, big, big]}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, stderr, run = _run(
            demo_config,
            server,
            tmp_path,
            "--tasks",
            "demo_task_001",
            "--tool-output-bytes",
            "1024",
            "--repeat-limit",
            "3",  # opt-in since issue 7 item 23 (off by default, as in v1)
        )
    assert code == 0, stderr
    assert run is not None
    assert json.loads((run / "results/run_config.json").read_text())["repeat_limit"] == 3
    r = json.loads((run / "results/demo/demo_task_001.json").read_text())
    assert r["failure_reason"] == "step_limit" and "3 times in a row" in r["error"]
    assert r["metrics"]["commands_used"] == 2  # the third identical call is not executed
    stdout = r["transcript"]["tool_calls"][0]["tool_output"]["stdout"]
    assert "[… 18977 bytes elided …]" in stdout and len(stdout) < 1100  # 20001 - 1024 kept


@pytest.mark.parametrize("flag", [True, False])
def test_reasoning_content_passthrough(tmp_path: Path, demo_config: Path, cache_dir: Path, flag: bool) -> None:
    scripts = {
        "Count the entries": [
            {"tool": "run_command", "args": {"command": "ls"}, "reasoning_content": "I should list the root."},
            {"content": "done"},
        ]
    }
    extra = ["--include-reasoning-content"] if flag else []
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, stderr, _ = _run(demo_config, server, tmp_path, "--tasks", "demo_task_001", *extra)
    assert code == 0, stderr
    second = server.requests[1]["messages"]
    assistant = next(m for m in second if m["role"] == "assistant")
    assert assistant.get("reasoning_content") == ("I should list the root." if flag else None)


def test_repo_that_cannot_be_fetched_is_one_line(tmp_path: Path, cache_dir: Path) -> None:
    from tests.conftest import write_config

    cfg = write_config(tmp_path / "cfg", str(tmp_path / "no-such-repo"))
    proc = run_cli(
        "run", "--agent", "nop", "--config-dir", str(cfg), "--runs-root", str(tmp_path / "runs"), cwd=tmp_path
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("snapshot ")]
    assert len(lines) == 1 and "repo 'demo'" in lines[0], proc.stderr


def test_api_key_never_enters_the_sandbox_even_if_allow_listed(
    tmp_path: Path, demo_repo: Path, cache_dir: Path
) -> None:
    from tests.conftest import TASK_TOP, write_config

    leaky = TASK_TOP + "command_policy:\n  env_allowed: [OPENAI_API_KEY, MY_TOKEN_COPY, HARMLESS]\n"
    cfg = write_config(tmp_path / "cfg", str(demo_repo), {"task_001.yaml": leaky})
    scripts = {
        "Count the entries": [
            {"tool": "run_command", "args": {"command": "env; cat /proc/*/environ"}},
            {"content": "done"},
        ]
    }
    with ScriptedServer(ScriptByTask(scripts)) as server:
        proc = run_cli(
            "run",
            "--config-dir",
            str(cfg),
            "--runs-root",
            str(tmp_path / "runs"),
            "--model",
            "m",
            "--base-url",
            server.base_url,
            cwd=tmp_path,
            env={"OPENAI_API_KEY": SECRET, "MY_TOKEN_COPY": SECRET, "HARMLESS": "visible-value"},
        )
        assert proc.returncode == 0, proc.stderr
        tool_reply = next(m for m in server.requests[1]["messages"] if m["role"] == "tool")["content"]
    assert "HARMLESS=visible-value" in tool_reply  # allow-listing works for ordinary variables
    assert SECRET not in tool_reply and "OPENAI_API_KEY" not in tool_reply


def test_concurrent_trials_and_local_sandbox_warning(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as server:
        code, stderr, run = _run(
            demo_config, server, tmp_path, "--concurrency", "3", "--epochs", "2", "--sandbox", "local"
        )
    assert code == 0, stderr
    assert "WITHOUT isolation" in stderr
    assert run is not None
    summary = json.loads((run / "results/summary.json").read_text())
    assert summary["tasks_finished"] == 6 and summary["success_rate"] == pytest.approx(4 / 6, abs=1e-3)
    index = json.loads((run / "results/demo/index.json").read_text())
    assert sorted((t["task_id"], t["epoch"]) for t in index["tasks"]) == [
        (f"demo_task_00{i}", e) for i in (1, 2, 3) for e in (0, 1)
    ]
    for t in index["tasks"]:  # every epoch keeps its own result and artifacts
        saved = json.loads((run / "results/demo" / t["file"]).read_text())
        assert (saved["task"]["id"], saved["epoch"]) == (t["task_id"], t["epoch"])
    assert (run / "results/demo/demo_task_001.json").is_file()
    assert (run / "results/demo/demo_task_001.epoch1.json").is_file()
    assert (run / "artifacts/demo/demo_task_001.epoch1/answer.json").is_file()
    assert "WITHOUT isolation" in (run / "results/REPORT.md").read_text()


def test_interrupt_keeps_finished_tasks_and_leaves_no_process(
    tmp_path: Path, demo_config: Path, cache_dir: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    marker = "sleep 30; echo agentgym-interrupt-marker"
    scripts = {**SCRIPTS, "answer.md": [{"tool": "run_command", "args": {"command": marker}}]}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentgym.cli.main",
                "run",
                "--config-dir",
                str(demo_config),
                "--runs-root",
                str(tmp_path / "runs"),
                "--model",
                "m",
                "--base-url",
                server.base_url,
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            "answer.md" in r["messages"][1]["content"] for r in server.requests
        ):
            time.sleep(0.05)
        for _ in range(100):  # wait until task 3's command really runs inside its sandbox
            if subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the sandboxed command never started")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    run = next((tmp_path / "runs").glob("m-*"))
    assert json.loads((run / "results/demo/demo_task_001.json").read_text())["metrics"]["success"] is True
    assert (run / "results/demo/demo_task_002.json").is_file()
    assert not (run / "results/demo/demo_task_003.json").exists()
    assert json.loads((run / "results/summary.json").read_text())["status"] == "interrupted"
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1  # nothing survived


def test_settings_precedence_cli_over_env_over_dotenv(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    """The original's rule, with the config found in the current directory (repos/ and tasks/ there)."""
    with ScriptedServer(ScriptByTask(SCRIPTS)) as server:
        (demo_config / ".env").write_text(
            f"BASE_URL={server.base_url}\nMODEL_NAME=from-dotenv\nOPENAI_API_KEY={SECRET}\nOPENAI_TEMPERATURE=0.5\n"
        )
        base = ["run", "--tasks", "demo_task_003", "--runs-root", str(tmp_path / "runs")]
        seen = []
        for extra, env in (
            ([], {}),
            ([], {"MODEL_NAME": "from-env"}),
            (["--model", "from-cli"], {"MODEL_NAME": "from-env"}),
        ):
            proc = run_cli(*base, *extra, cwd=demo_config, env=env)
            assert proc.returncode == 0, proc.stderr
            run = Path(proc.stdout.strip().splitlines()[-1])
            config = json.loads((run / "results/run_config.json").read_text())
            seen.append((config["model"]["model"], config["model"]["temperature"], config["model"]["api_key_set"]))
            assert config["config_dir"] == str(demo_config)
    assert seen == [("from-dotenv", 0.5, True), ("from-env", 0.5, True), ("from-cli", 0.5, True)]
    assert {r["model"] for r in server.requests} == {"from-dotenv", "from-env", "from-cli"}
    assert all(h == f"Bearer {SECRET}" for h in server.auth_headers)


def test_broken_text_tool_call_is_a_counted_format_error(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    scripts = {
        "Count the entries": [
            {"content": '<tool_call>{"name": "run_command", "arguments": {"command": "ls"</tool_call>'},
            {"content": "giving up"},
        ]
    }
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, stderr, run = _run(demo_config, server, tmp_path, "--tasks", "demo_task_001")
    assert code == 0, stderr
    assert run is not None
    r = json.loads((run / "results/demo/demo_task_001.json").read_text())
    assert r["metrics"]["format_errors"] == 1 and r["metrics"]["model_calls"] == 2
    assert r["transcript"]["tool_calls"] == [] and r["failure_reason"] == "missing_answer"
    hint = server.requests[1]["messages"][-1]
    assert hint["role"] == "user" and "could not be used" in hint["content"]
