"""Issue 7, harness items: help texts, prompt templates and v1 prompts, console escaping, transcript
appends, cancellation cleanup, SIGTERM and dead runs. Real CLI subprocesses, real sandbox, scripted server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.results.rundir import RunDir
from agentgym.results.transcript import read_events
from agentgym.specs.result import Metrics, TaskInfo, TaskResult, Transcript
from tests.conftest import run_cli, scripted_run_args


def test_run_help_shows_every_env_var_and_default(tmp_path: Path) -> None:
    proc = run_cli("run", "--help", cwd=tmp_path, env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    text = re.sub(r"\s+", " ", proc.stdout)
    for needle in (
        "[env MODEL_NAME / OPENAI_MODEL",
        "[env BASE_URL / OPENAI_BASE_URL",
        "[env OPENAI_API_KEY",
        "[env OPENAI_TEMPERATURE; default: 0]",
        "[env OPENAI_MAX_OUTPUT_TOKENS; default: 4096",
        "[default: l1]",
        "[default: runs]",
    ):
        assert needle in text, needle
    assert "Model name ." not in text


def _run_scripted(cfg: Path, tmp: Path, server: ScriptedServer, *extra: str) -> tuple[int, str, Path | None]:
    proc = run_cli(
        *scripted_run_args(cfg, tmp / "runs", server.base_url, model="m"),
        *extra,
        cwd=tmp,
    )
    runs = sorted((tmp / "runs").glob("m-*")) if (tmp / "runs").exists() else []
    return proc.returncode, proc.stderr + proc.stdout, runs[-1] if runs else None


def test_prompt_with_a_stray_brace_renders_as_text(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    (demo_config / "prompts").mkdir()
    (demo_config / "prompts/system.md").write_text(
        'Answer as {"line": "..."}; root {{ repo_root }}, max {{ max_commands }}.'
    )
    with ScriptedServer(ScriptByTask({})) as server:
        code, out, run = _run_scripted(demo_config, tmp_path, server, "--tasks", "demo_task_002")
    assert code == 0, out
    system = server.requests[0]["messages"][0]["content"]
    assert system == 'Answer as {"line": "..."}; root /repo, max 10.'
    assert server.requests[0]["messages"][1]["content"] == TASK_README_INSTRUCTION
    config = json.loads((run / "results/run_config.json").read_text())
    assert config["prompt_profile"] == "agentgym"
    assert (
        config["prompt_files"][0]["sha256"]
        == hashlib.sha256((demo_config / "prompts/system.md").read_bytes()).hexdigest()
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [("Root: {{ nope }}", "undefined variable 'nope'"), ("Root: {repo_root}", "old-style"), ("{% if %}", "syntax")],
)
def test_bad_prompt_template_is_one_line_exit_2_before_any_model_call(
    tmp_path: Path, demo_config: Path, cache_dir: Path, text: str, needle: str
) -> None:
    (demo_config / "prompts").mkdir()
    (demo_config / "prompts/system.md").write_text(text)
    with ScriptedServer(ScriptByTask({})) as server:
        code, out, run = _run_scripted(demo_config, tmp_path, server)
    assert code == 2, out
    error_lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and needle in error_lines[0] and "system.md" in error_lines[0], out
    assert "Traceback" not in out and not server.requests and run is None


V1_SYSTEM = "You are evaluated (v1). Literal {braces} and {{ not_a_variable }} stay as they are.\n"
TASK_README_INSTRUCTION = (
    'Give the first non-empty line of README.md exactly. Write eval_artifacts/answer.json as {"line": <str>}.\n'
)
V1_USER = (
    "Repo: demo\n"
    "Task: demo_task_002\n"
    "\n"
    "Instruction:\n"
    'Give the first non-empty line of README.md exactly. Write eval_artifacts/answer.json as {"line": <str>}.\n'
    "\n"
    "Expected output keys in eval_artifacts/answer.json: line\n"
    "\n"
    "Command policy:\n"
    "- allowed: cat, head, ls\n"
    "- prohibited: rm\n"
    "- write_paths_allowed: eval_artifacts/, /tmp/"
)


@pytest.mark.parametrize("how", ["in_tree", "flag"])
def test_v1_prompt_file_is_sent_verbatim_with_the_v1_user_message(
    tmp_path: Path, demo_config: Path, cache_dir: Path, how: str
) -> None:
    if how == "in_tree":
        prompt = demo_config / "prompts/l1_system_prompt_v1.txt"
        prompt.parent.mkdir()
        extra: tuple[str, ...] = ()
    else:
        prompt = tmp_path / "elsewhere.txt"
        extra = ("--prompt-profile", "v1", "--prompt-file", str(prompt))
    prompt.write_text(V1_SYSTEM)
    with ScriptedServer(ScriptByTask({})) as server:
        code, out, run = _run_scripted(demo_config, tmp_path, server, "--tasks", "demo_task_002", *extra)
    assert code == 0, out
    messages = server.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == V1_SYSTEM
    assert messages[1]["content"] == V1_USER
    config = json.loads((run / "results/run_config.json").read_text())
    assert config["prompt_profile"] == "v1"
    assert config["prompt_files"] == [
        {"role": "system", "path": str(prompt.resolve()), "sha256": hashlib.sha256(V1_SYSTEM.encode()).hexdigest()}
    ]


def test_prompt_profile_v1_without_a_file_is_exit_2(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask({})) as server:
        code, out, _ = _run_scripted(demo_config, tmp_path, server, "--prompt-profile", "v1")
    assert code == 2 and "l1_system_prompt_v1.txt" in out and not server.requests, out


HOSTILE_NAMES = (
    "ln -s /etc/passwd \"eval_artifacts/$(printf '\\033]0;pwn\\007')\"; "
    'touch "eval_artifacts/$(printf \'\\033[2J\')" "eval_artifacts/[bold red]x"; '
    "ln -s /etc/hostname \"eval_artifacts/$(printf '\\033[2J[bold red]link')\""
)


def test_agent_chosen_names_and_endpoint_errors_never_reach_the_terminal_raw(
    tmp_path: Path, demo_config: Path, cache_dir: Path
) -> None:
    scripts = {
        "Count the entries": [
            {"tool": "run_command", "args": {"command": HOSTILE_NAMES}},
            {"content": "done"},
        ],
        "first non-empty line": [{"status": 400, "message": "\x1b]0;owned\x07\x1b[2J[bold red]boom\r\x08"}],
    }
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, out, run = _run_scripted(demo_config, tmp_path, server, "--tasks", "demo_task_00[12]")
    assert code == 4, out  # one task ended with a model error
    assert "\x1b" not in out and "\x07" not in out and "\x08" not in out and "\r" not in out
    assert "dropped symlink eval_artifacts/\\x1b]0;pwn\\x07" in out  # the warning is there, made visible
    assert "\\x1b[2J[bold red]link" in out  # rich markup in a name is shown, not interpreted
    assert "\\x1b]0;owned\\x07\\x1b[2J[bold red]boom" in out  # the endpoint's error text too
    records = (run / "transcripts/demo.jsonl").read_text()
    assert "[bold red]boom" in records  # the run folder keeps the text (JSON-escaped), for the record


def test_for_terminal_shows_controls_and_caps_length() -> None:
    from agentgym.textsafe import for_console, for_terminal

    assert for_terminal("a\x1b[2Jb\x07\x9b\u202e\u200bc\n") == "a\\x1b[2Jb\\x07\\x9b\\u202e\\u200bc\\x0a"
    assert for_terminal("x" * 50, limit=10) == "x" * 10 + "…[40 more chars]"
    assert for_console("[bold red]x") == "\\[bold red]x"


def _result(task_id: str) -> TaskResult:
    return TaskResult(
        task=TaskInfo(
            id=task_id, repo="demo", difficulty="easy", limits={}, instruction="i", policy={}, content_hash=""
        ),
        metrics=Metrics(
            success=True,
            partial_score=1,
            score_0_100=100,
            commands_used=0,
            command_valid_rate=1,
            safety_violations=0,
            hallucination_signals=0,
        ),
        output_checks=[],
        transcript=Transcript(),
    )


def test_transcript_grows_by_appending_and_survives_a_torn_line(tmp_path: Path) -> None:
    rundir = RunDir(tmp_path / "run", secrets=[])
    jsonl = tmp_path / "run/transcripts/demo.jsonl"
    rundir.record(_result("t1"), None, [{"type": "task_start", "task_id": "t1"}, {"type": "task_end", "task_id": "t1"}])
    first, inode = jsonl.read_bytes(), jsonl.stat().st_ino
    rundir.record(_result("t2"), None, [{"type": "task_start", "task_id": "t2"}])
    assert jsonl.stat().st_ino == inode  # the same file, not a rewritten copy
    assert jsonl.read_bytes().startswith(first) and len(jsonl.read_bytes()) > len(first)
    with open(jsonl, "ab") as fh:  # a crash in the middle of a line
        fh.write(b'{"type": "task_st')
    rundir.record(_result("t3"), None, [{"type": "task_start", "task_id": "t3"}])
    assert [e["task_id"] for e in read_events(jsonl)] == ["t1", "t1", "t2", "t3"]


def test_large_payloads_are_written_once_in_the_transcript(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    written, final = "W" * 5000 + "core util", "F" * 3000
    scripts = {
        "answer.md": [
            {"tool": "write_file", "args": {"path": "eval_artifacts/answer.md", "content": written}},
            {"tool": "list_dir", "args": {"path": "."}},
            {"content": final},
        ]
    }
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, out, run = _run_scripted(demo_config, tmp_path, server, "--tasks", "demo_task_003")
    assert code == 0, out
    text = (run / "transcripts/demo.jsonl").read_text()
    assert text.count("W" * 5000) == 1 and text.count("F" * 3000) == 1
    events = read_events(run / "transcripts/demo.jsonl")
    requests = [e for e in events if e["type"] == "request"]
    assert [m.get("$see") for m in requests[0]["new_messages"]] == ["task_start", "task_start"]
    assert [m.get("$see") for m in requests[1]["new_messages"]] == ["response", "tool_result"]
    result = json.loads((run / "results/demo/demo_task_003.json").read_text())  # FORMATS fields stay whole
    assert result["transcript"]["tool_calls"][0]["tool_input"]["content"] == written
    assert result["transcript"]["model_final_message"] == final


@pytest.fixture
def run_base() -> Iterator[Path]:
    """A run base for scratch mounts that sandbox uids can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="agentgym-test-run-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


SLEEPER = "sleep 30; echo agentgym-hardening-{tag}"


def _start_run(tmp: Path, cfg: Path, server: ScriptedServer, env: dict[str, str]) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MODEL_NAME", "BASE_URL"))}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentgym.cli.main",
            *scripted_run_args(cfg, tmp / "runs", server.base_url, model="m"),
            "--tasks",
            "demo_task_00[13]",
        ],
        cwd=tmp,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_9_mid_command(tmp: Path, cfg: Path, cache_dir: Path, run_base: Path, *, tag: str) -> str:
    """Start a run whose first task runs a long command in its sandbox, kill -9 the CLI while it runs.
    Returns the command's marker (to check that no process is left)."""
    marker = SLEEPER.format(tag=f"{tag}-{os.getpid()}")
    scripts = {"Count the entries": [{"tool": "run_command", "args": {"command": marker}}]}
    env = {"AGENTGYM_CACHE": str(cache_dir), "AGENTGYM_SANDBOX_RUN": str(run_base)}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        proc = _start_run(tmp, cfg, server, env)
        _wait_for_command(marker, proc)
        proc.kill()
        proc.communicate(timeout=60)
    return marker


def _wait_for_command(marker: str, proc: subprocess.Popen[str]) -> None:
    for _ in range(1200):  # until the trial's command really runs inside its sandbox
        if subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.communicate()}")
        time.sleep(0.05)
    pytest.fail("the sandboxed command never started")


def _gone(marker: str) -> bool:
    for _ in range(200):
        if subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1:
            return True
        time.sleep(0.05)
    return False


def _mounts_under(path: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(path) in line]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_trial_cleans_up_everything(
    tmp_path: Path, demo_config: Path, cache_dir: Path, run_base: Path, sig: signal.Signals, code: int
) -> None:
    marker = SLEEPER.format(tag=f"{sig.name}-{os.getpid()}")
    scripts = {"Count the entries": [{"tool": "run_command", "args": {"command": marker}}]}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        proc = _start_run(
            tmp_path, demo_config, server, {"AGENTGYM_CACHE": str(cache_dir), "AGENTGYM_SANDBOX_RUN": str(run_base)}
        )
        _wait_for_command(marker, proc)
        assert list((cache_dir / "workspaces").iterdir())  # the trial's workspace exists while it runs
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "interrupted" in err and "Traceback" not in err
    run = next((tmp_path / "runs").glob("m-*"))
    assert json.loads((run / "results/summary.json").read_text())["status"] == "interrupted"
    assert not list((cache_dir / "workspaces").iterdir())  # no workspace left
    assert not _mounts_under(run_base)  # no scratch mount left
    assert _gone(marker)  # no process left


def test_a_killed_run_is_marked_interrupted_by_the_next_run(
    tmp_path: Path, demo_config: Path, cache_dir: Path, run_base: Path
) -> None:
    marker = kill_9_mid_command(tmp_path, demo_config, cache_dir, run_base, tag="kill9")
    env = {"AGENTGYM_CACHE": str(cache_dir), "AGENTGYM_SANDBOX_RUN": str(run_base)}
    dead = next((tmp_path / "runs").glob("m-*"))
    assert json.loads((dead / "results/summary.json").read_text())["status"] == "running"
    assert _gone(marker)
    later = run_cli(
        "run",
        "--config-dir",
        str(demo_config),
        "--runs-root",
        str(tmp_path / "runs"),
        "--dry-run",
        cwd=tmp_path,
        env=env,
    )
    assert later.returncode == 0, later.stderr
    summary = json.loads((dead / "results/summary.json").read_text())
    assert summary["status"] == "interrupted" and "died" in summary["error"]
    finished = next((tmp_path / "runs").glob("nop-*"))
    assert json.loads((finished / "results/summary.json").read_text())["status"] == "finished"


def test_a_live_run_is_never_marked_interrupted(tmp_path: Path) -> None:
    alive = RunDir.create(tmp_path, "alive", secrets=[])
    alive.write_summary()
    RunDir.create(tmp_path, "other", secrets=[]).close()
    assert json.loads((alive.root / "results/summary.json").read_text())["status"] == "running"
    alive.close()  # as if its process had died: the kernel drops the lock
    RunDir.create(tmp_path, "third", secrets=[]).close()
    assert json.loads((alive.root / "results/summary.json").read_text())["status"] == "interrupted"


def test_shielded_work_finishes_although_the_waiter_is_cancelled_twice() -> None:
    from agentgym.runner.interrupt import shielded

    async def scenario() -> list[str]:
        steps: list[str] = []
        release = asyncio.Event()

        async def cleanup() -> None:
            await release.wait()
            steps.append("cleaned")

        waiter = asyncio.ensure_future(shielded(cleanup()))
        for _ in range(2):
            await asyncio.sleep(0)
            waiter.cancel()
        await asyncio.sleep(0)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return steps

    assert asyncio.run(scenario()) == ["cleaned"]


def test_a_large_call_written_as_text_is_stored_once(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    body = "T" * 4000 + " core util"
    call = json.dumps({"name": "write_file", "arguments": {"path": "eval_artifacts/answer.md", "content": body}})
    scripts = {"answer.md": [{"content": f"<tool_call>{call}</tool_call>"}, {"content": "ok"}]}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, out, run = _run_scripted(demo_config, tmp_path, server, "--tasks", "demo_task_003")
    assert code == 0, out
    assert (run / "transcripts/demo.jsonl").read_text().count("T" * 4000) == 1
    response = next(e for e in read_events(run / "transcripts/demo.jsonl") if e["type"] == "response")
    assert response["message"]["tool_calls"][0]["function"]["arguments"] == {"$see": "content"}


def test_report_md_carries_no_control_characters(tmp_path: Path) -> None:
    rundir = RunDir(tmp_path / "run", secrets=[])
    rundir.write_summary(status="aborted", error="run stopped: \x1b]0;owned\x07\x1b[2J")
    report = (tmp_path / "run/results/REPORT.md").read_text()
    assert "\x1b" not in report and "\x07" not in report
    assert "run stopped: \\x1b]0;owned\\x07\\x1b[2J" in report and report.count("\n") > 3
    rundir.close()
