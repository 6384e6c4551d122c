"""The fault suite: a misbehaving model endpoint (the fault-injecting scripted server on 127.0.0.1) against the
real CLI, the real openai client and the real sandbox. Nothing crashes the run, nothing prints a traceback,
every attempt is recorded, only what cannot get better is fatal, and no secret reaches the console or a file."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from agentgym.models.base import FatalModelError, InfraModelError, ModelSettings
from agentgym.models.client import OpenAIChatClient
from agentgym.models.retry import retry_after_seconds
from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.tools.schema import TOOL_SCHEMAS
from tests.conftest import TASK_TOP, run_cli, scripted_run_args, write_config

SECRET = "sk-fault-SECRET-9876543210"
ANSWER = {"tool": "write_file", "args": {"path": "eval_artifacts/answer.json", "content": '{"top_level_entries": 5}'}}
GOOD = [ANSWER, {"content": "done"}]


def _completion(message: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }


def _call(function: Any) -> dict[str, Any]:
    return _completion(
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": function}]}
    )


def _config(root: Path, repo: Path, cases: list[str], extra: str = "") -> Path:
    """One copy of the demo counting task per case; the case name is the script key in its instruction."""
    tasks = {
        f"task_{i:03d}.yaml": TASK_TOP.replace("demo_task_001", f"demo_task_{i:03d}").replace(
            "Count the entries", f"[{case}] Count the entries"
        )
        + extra
        for i, case in enumerate(cases, start=1)
    }
    return write_config(root, str(repo), tasks)


def _cli(cfg: Path, tmp: Path, base_url: str, *extra: str, env: dict[str, str] | None = None) -> tuple[Any, Path]:
    proc = run_cli(
        *scripted_run_args(cfg, tmp / "runs", base_url),
        *extra,
        cwd=tmp,
        env={"OPENAI_API_KEY": SECRET, **(env or {})},
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    runs = sorted((tmp / "runs").glob("*"))
    return proc, runs[-1] if runs else tmp / "no-run-folder"


def _result(run: Path, n: int) -> dict[str, Any]:
    return json.loads((run / f"results/demo/demo_task_{n:03d}.json").read_text())


def _attempts(run: Path, n: int) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in (run / "transcripts/demo.jsonl").read_text().splitlines()]
    return [e for e in lines if e["type"] == "attempt" and e["task_id"] == f"demo_task_{n:03d}"]


def test_malformed_replies_fail_their_trial_with_one_line(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    faults = {
        "not-json": {"raw_text": "<html>502 Bad Gateway</html>"},
        "not-json-text": {"raw_text": "upstream error", "content_type": "text/plain"},
        "null-message": {"raw_body": _completion(None)},
        "null-function": {"raw_body": _call(None)},
        "null-name": {"raw_body": _call({"name": None, "arguments": "{}"})},
    }
    cases = [*faults, "fine"]
    cfg = _config(tmp_path / "cfg", demo_repo, cases)
    scripts = {f"[{k}]": [v] for k, v in faults.items()} | {"[fine]": GOOD}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        proc, run = _cli(cfg, tmp_path, server.base_url)
    assert proc.returncode == 4, proc.stderr
    assert "model_error" in proc.stderr
    causes = ["not valid JSON", "not JSON: 'upstream error'", "message is null", "function is null", "name is null"]
    for n, cause in enumerate(causes, start=1):
        r = _result(run, n)
        assert r["failure_reason"] == "model_error", r["error"]
        assert cause in r["error"] and "\n" not in r["error"], r["error"]
        assert [(a["attempt"], a["status"]) for a in _attempts(run, n)] == [(1, 200)]  # a bad reply is not retried
    assert _result(run, len(cases))["metrics"]["success"] is True  # the run went on


def test_drop_and_retry_after_are_retried_and_recorded(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    cfg = _config(tmp_path / "cfg", demo_repo, ["flaky"])
    flaky = {**ANSWER, "faults": [{"drop": True}, {"status": 503, "retry_after": "1"}]}
    with ScriptedServer(ScriptByTask({"[flaky]": [flaky, {"content": "done"}]})) as server:
        proc, run = _cli(cfg, tmp_path, server.base_url)
    assert proc.returncode == 0, proc.stderr
    r = _result(run, 1)
    assert r["metrics"]["success"] is True
    attempts = _attempts(run, 1)
    first_call = [a for a in attempts if a["turn"] == 0]
    assert [(a["attempt"], a["status"], a["exception"]) for a in first_call] == [
        (1, None, "APIConnectionError"),
        (2, 503, None),
        (3, 200, None),
    ]
    assert first_call[1]["retry_after_s"] == 1.0 and first_call[1]["wait_s"] >= 1.0  # Retry-After honoured
    assert first_call[0]["wait_s"] > 0 and first_call[2]["wait_s"] == 0
    m = r["metrics"]
    assert m["model_retries"] == 2 and m["model_calls"] == 2
    assert m["retry_wait_ms"] == pytest.approx(sum(a["wait_s"] for a in attempts) * 1000, abs=0.01)
    assert m["model_latency_ms"] == pytest.approx(sum(a["duration_ms"] for a in attempts), abs=0.01)  # no sleeps
    summary = json.loads((run / "results/summary.json").read_text())
    assert summary["model_retries"] == 2 and summary["infra_errors"] == 0


def test_dropped_connection_fails_only_its_trial_as_infra_error(
    tmp_path: Path, demo_repo: Path, cache_dir: Path
) -> None:
    cfg = _config(tmp_path / "cfg", demo_repo, ["first", "dropping", "last"])
    scripts = {"[first]": GOOD, "[dropping]": [{"drop": True}], "[last]": GOOD}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        proc, run = _cli(cfg, tmp_path, server.base_url)
    assert proc.returncode == 4, proc.stderr
    assert "infra_error" in proc.stderr
    r = _result(run, 2)
    assert r["failure_reason"] == "infra_error" and "4 attempt(s)" in r["error"]
    assert [a["exception"] for a in _attempts(run, 2)] == ["APIConnectionError"] * 4
    assert r["metrics"]["model_retries"] == 3 and r["metrics"]["retry_wait_ms"] > 0
    assert _result(run, 1)["metrics"]["success"] and _result(run, 3)["metrics"]["success"]  # the run went on
    summary = json.loads((run / "results/summary.json").read_text())
    assert summary["status"] == "finished" and summary["infra_errors"] == 1
    assert summary["failure_reasons"] == {"infra_error": 1}
    assert summary["avg_score"] < summary["avg_score_excluding_infra"] == 100
    assert "infrastructure errors" in (run / "results/REPORT.md").read_text()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_request_timeout_makes_a_slow_reply_an_infra_error(
    tmp_path: Path, demo_repo: Path, cache_dir: Path, how: str
) -> None:
    cfg = _config(tmp_path / "cfg", demo_repo, ["slow"])
    extra, env = (["--request-timeout", "1"], {}) if how == "flag" else ([], {"AGENTGYM_REQUEST_TIMEOUT": "1"})
    with ScriptedServer(ScriptByTask({"[slow]": [{**ANSWER, "sleep": 3}]})) as server:
        proc, run = _cli(cfg, tmp_path, server.base_url, *extra, env=env)
    assert proc.returncode == 4, proc.stderr
    config = json.loads((run / "results/run_config.json").read_text())
    assert config["model"]["request_timeout"] == 1.0
    r = _result(run, 1)
    assert r["failure_reason"] == "infra_error" and "within 1 s" in r["error"]
    assert [a["exception"] for a in _attempts(run, 1)] == ["APITimeoutError"] * 4


def test_attempt_cut_by_the_trial_clock_is_recorded(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    cfg = write_config(
        tmp_path / "cfg",
        str(demo_repo),
        {"task_001.yaml": TASK_TOP.replace("timeout_seconds: 60", "timeout_seconds: 1")},
    )
    with ScriptedServer(ScriptByTask({"Count the entries": [{**ANSWER, "sleep": 20}]})) as server:
        proc, run = _cli(cfg, tmp_path, server.base_url)
    assert proc.returncode == 0, proc.stderr
    r = _result(run, 1)
    assert r["failure_reason"] == "timeout"
    attempts = _attempts(run, 1)
    assert [(a["attempt"], a["exception"]) for a in attempts] == [(1, "CancelledError")]
    assert r["metrics"]["model_latency_ms"] == pytest.approx(attempts[0]["duration_ms"], abs=0.01)


def test_bad_request_timeout_is_bad_input(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    proc, _ = _cli(demo_config, tmp_path, "http://127.0.0.1:9/v1", "--request-timeout", "0")
    assert proc.returncode == 2 and "--request-timeout" in proc.stderr


@pytest.mark.parametrize(("status", "words"), [(403, "permission denied"), (404, "404 not found")])
def test_what_cannot_get_better_stops_the_run(
    tmp_path: Path, demo_repo: Path, cache_dir: Path, status: int, words: str
) -> None:
    cfg = _config(tmp_path / "cfg", demo_repo, ["first", "denied", "never"])
    scripts = {"[first]": GOOD, "[denied]": [{"status": status}], "[never]": GOOD}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        proc, run = _cli(cfg, tmp_path, server.base_url)
    assert proc.returncode == 3 and words in proc.stderr
    assert _result(run, 1)["metrics"]["success"] is True
    assert len(_attempts(run, 2)) == 1  # not retried
    assert not (run / "results/demo/demo_task_003.json").exists()
    assert json.loads((run / "results/summary.json").read_text())["status"] == "aborted"


def _assert_nowhere(run: Path, console: str, *secrets: str) -> None:
    files = [f for f in run.rglob("*") if f.is_file()]
    assert len(files) > 5
    for secret in secrets:
        assert secret not in console
        for f in files:
            assert secret not in f.read_text(errors="replace"), f


def test_secrets_never_reach_console_or_run_folder(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    """The key (read via --api-key-env, echoed by the server) and the value of a variable passed to the task:
    scrubbed from stdout, stderr and every file of the run folder, artifacts included."""
    env_value = "env-value-for-the-task-42"
    extra = "command_policy:\n  env_allowed: [TASK_VISIBLE]\n"
    cfg = _config(tmp_path / "cfg", demo_repo, ["echo", "leak", "retry-echo"], extra)
    leak = {"tool": "run_command", "args": {"command": "env; echo $TASK_VISIBLE > eval_artifacts/answer.md"}}
    scripts = {
        "[echo]": [{"status": 400, "echo_auth": True, "message": "invalid request"}],
        "[leak]": [leak, {"content": f"the variable is {env_value}"}],
        "[retry-echo]": [{**ANSWER, "faults": [{"status": 500, "echo_auth": True}]}, {"content": "done"}],
    }
    with ScriptedServer(ScriptByTask(scripts)) as server:
        proc, run = _cli(
            cfg,
            tmp_path,
            server.base_url,
            "--api-key-env",
            "MY_ENDPOINT_KEY",
            env={"OPENAI_API_KEY": "", "MY_ENDPOINT_KEY": SECRET, "TASK_VISIBLE": env_value},
        )
    assert proc.returncode == 4, proc.stderr
    assert all(h == f"Bearer {SECRET}" for h in server.auth_headers)  # the key came from --api-key-env
    tool_reply = next(m for r in server.requests for m in r["messages"] if m["role"] == "tool")["content"]
    assert f"TASK_VISIBLE={env_value}" in tool_reply  # the task did receive the variable
    assert "(you sent Bearer ***)" in proc.stderr  # the echoed key was printed, scrubbed
    assert (run / "artifacts/demo/demo_task_002/answer.md").read_text() == "***\n"
    _assert_nowhere(run, proc.stdout + proc.stderr, SECRET, env_value)
    config = json.loads((run / "results/run_config.json").read_text())
    assert config["model"]["api_key_env"] == "MY_ENDPOINT_KEY" and config["model"]["api_key_set"] is True
    assert _result(run, 3)["metrics"]["model_retries"] == 1  # the 500 echo was retried, then it worked


def test_credentials_in_the_base_url_are_scrubbed(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    password = "hunter2-url-pass"
    cfg = _config(tmp_path / "cfg", demo_repo, ["echo"])
    with ScriptedServer(ScriptByTask({"[echo]": [{"status": 400, "echo_auth": True}]})) as server:
        url = server.base_url.replace("http://", f"http://agent:{password}@")
        proc, run = _cli(cfg, tmp_path, url)
    assert proc.returncode == 4, proc.stderr
    basic = server.auth_headers[0].removeprefix("Basic ")  # httpx turns user:pass@ into Basic auth
    assert base64.b64decode(basic).decode() == f"agent:{password}"
    assert "(you sent Basic ***)" in proc.stderr
    _assert_nowhere(run, proc.stdout + proc.stderr, password, basic)
    config = json.loads((run / "results/run_config.json").read_text())
    assert config["model"]["base_url"].startswith("http://***@127.0.0.1:")


def test_error_text_from_the_server_is_printed_literally(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    """An error body with console markup (`[/x]` made rich raise MarkupError: a traceback at the end of the run)."""
    cfg = _config(tmp_path / "cfg", demo_repo, ["markup"])
    body = "bad [/x] request [bold]loud"
    with ScriptedServer(ScriptByTask({"[markup]": [{"status": 400, "message": body}]})) as server:
        proc, run = _cli(cfg, tmp_path, server.base_url)
    assert proc.returncode == 4, proc.stderr
    assert body in proc.stderr and _result(run, 1)["failure_reason"] == "model_error"


def test_api_key_env_that_is_not_set_is_bad_input(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    proc, _ = _cli(demo_config, tmp_path, "http://127.0.0.1:9/v1", "--api-key-env", "NO_SUCH_KEY_VARIABLE")
    assert proc.returncode == 2 and "NO_SUCH_KEY_VARIABLE" in proc.stderr


def _settings(base_url: str, **kw: Any) -> ModelSettings:
    return ModelSettings(model="scripted-model", base_url=base_url, api_key=SECRET, **kw)


async def _complete(client: OpenAIChatClient) -> Any:
    messages = [{"role": "user", "content": "[x] hello"}]
    try:
        return await client.complete(messages, TOOL_SCHEMAS)
    finally:
        await client.aclose()


def test_connection_errors_are_fatal_only_before_any_reply() -> None:
    messages = [{"role": "user", "content": "[x] hello"}]

    async def scenario() -> tuple[Any, BaseException, BaseException]:
        server = ScriptedServer(ScriptByTask({"[x]": [{"content": "hi"}]})).start()
        client = OpenAIChatClient(_settings(server.base_url, max_retries=1))
        first = await client.complete(messages, TOOL_SCHEMAS)
        server.stop()  # gone now: for the client that was answered before, the refused connection is retried
        with pytest.raises(InfraModelError) as later:
            await client.complete(messages, TOOL_SCHEMAS)
        await client.aclose()
        with pytest.raises(FatalModelError) as fresh:  # a client that never reached it: fatal at once
            await _complete(OpenAIChatClient(_settings(server.base_url)))
        return first, later.value, fresh.value

    first, later, fresh = asyncio.run(scenario())
    assert first.content == "hi" and [a["status"] for a in first.attempts] == [200]
    assert isinstance(later, InfraModelError) and isinstance(fresh, FatalModelError)
    assert [a["exception"] for a in later.attempts] == ["APIConnectionError"] * 2
    assert "cannot reach" in str(fresh) and len(fresh.attempts) == 1


def test_retry_after_beyond_the_budget_is_not_slept() -> None:
    scripts = {"[x]": [{"faults": [{"status": 429, "retry_after": "3600"}], "content": "late"}]}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        client = OpenAIChatClient(_settings(server.base_url, retry_budget_s=5.0))
        with pytest.raises(InfraModelError) as exc:
            asyncio.run(_complete(client))
    assert "retry budget of 5 s" in str(exc.value)
    assert exc.value.attempts[0]["retry_after_s"] == 3600 and exc.value.attempts[0]["wait_s"] == 0


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after": "2.5"}) == 2.5
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    date = {"retry-after": "Wed, 02 Dec 2026 06:00:10 GMT"}
    assert retry_after_seconds(date, now=1796191200.0) == pytest.approx(10.0)  # 06:00:00 UTC
    assert retry_after_seconds(date, now=1796191300.0) == 0.0  # a date in the past: no wait
    assert retry_after_seconds({"retry-after": "soon"}) is None and retry_after_seconds({}) is None


def test_help_lists_the_new_options(tmp_path: Path) -> None:
    proc = run_cli("run", "--help", cwd=tmp_path)
    out = " ".join(proc.stdout.split())
    assert "--request-timeout" in out and "--api-key-env" in out


def test_console_log_lines_are_scrubbed_and_have_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import logging

    from agentgym import scrub

    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(scrub, "SCRUBBER", scrub.Scrubber())
    root = logging.getLogger()
    before = list(root.handlers)
    scrub.register([SECRET, "abc"])  # too short to scrub: left alone
    scrub.install_console_logging()
    try:
        try:
            raise ValueError(f"server said {SECRET}")
        except ValueError:
            logging.getLogger("agentgym.runner.trial").exception("harness error in %s (key %s, abc)", "t1", SECRET)
    finally:
        for handler in set(root.handlers) - set(before):
            root.removeHandler(handler)
    out = stream.getvalue()
    assert out.count("\n") == 1 and "Traceback" not in out and SECRET not in out
    assert "error: harness error in t1 (key ***, abc) (ValueError: server said ***)" in out


def test_scrubber_catches_json_escaped_forms_and_url_credentials() -> None:
    from agentgym.scrub import Scrubber, url_secrets

    key = 'sk-"quoted\\key'
    scrubber = Scrubber([key, "abc", *url_secrets("https://bob:p%40ss-word@host/v1?api-key=qkey-1234&x=visible")])
    text = json.dumps({"k": key, "url": "https://bob:p%40ss-word@host/v1?api-key=qkey-1234", "short": "abc"})
    out = scrubber(text)
    assert "quoted" not in out and "p%40ss" not in out and "qkey-1234" not in out
    assert '"short": "abc"' in out  # under 4 characters: never scrubbed
    assert scrubber("p@ss-word and " + base64.b64encode(b"bob:p@ss-word").decode()) == "*** and ***"
