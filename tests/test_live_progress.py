"""Live progress of `agentgym run` (cli/live.py): the pure ProgressState, and the real CLI against a scripted
server on 127.0.0.1 under a real pseudo-terminal (live table, Ctrl-C) and piped (plain lines, no ANSI)."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from agentgym.cli.live import COLUMNS, Display, LiveDisplay, ProgressState, cells, resolve, status_line
from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.runner.campaign import Hooks, evaluate
from agentgym.specs.campaign import ModelEntry
from agentgym.specs.result import Metrics, TaskInfo, TaskResult, Transcript
from tests.conftest import run_cli, scripted_run_args
from tests.test_campaign import SCRIPTS, _slow

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HOSTILE = "\x1b[31mevil\x07[bold red]boom[/]\u202e"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _result(success: bool = True, *, failure: str | None = None, retries: int = 0, tokens: int = 0) -> TaskResult:
    metrics = Metrics(
        success=success,
        partial_score=1.0 if success else 0.0,
        score_0_100=100.0 if success else 0.0,
        commands_used=1,
        command_valid_rate=1.0,
        safety_violations=0,
        hallucination_signals=0,
        model_retries=retries,
        prompt_tokens=tokens,
        completion_tokens=tokens // 10,
    )
    task = TaskInfo(id="t", repo="demo", difficulty="easy", limits={}, instruction="", policy={}, content_hash="h")
    return TaskResult(task=task, metrics=metrics, output_checks=[], transcript=Transcript(), failure_reason=failure)


def test_counts_retries_infra_tokens_and_cost() -> None:
    clock = FakeClock()
    state = ProgressState(clock)
    state.start("alpha", 4, ModelEntry(id="alpha", price_per_million_input=1000, price_per_million_output=2000))
    state.start("beta", 2, ModelEntry(id="beta"))
    for _ in range(3):
        state.begin("alpha")
    state.finish("alpha", _result(retries=2, tokens=1000))
    state.finish("alpha", _result(False, failure="infra_error", retries=3, tokens=500))
    clock.now += 20  # 2 done in 20 s: the 2 left take 20 s
    alpha, beta = state.rows()
    assert (alpha.total, alpha.done, alpha.succeeded, alpha.in_flight) == (4, 2, 1, 1)
    assert (alpha.retries, alpha.infra_errors, alpha.prompt_tokens, alpha.completion_tokens) == (5, 1, 1500, 150)
    assert alpha.cost == 1.8  # 1500 x 1000 / 1e6 + 150 x 2000 / 1e6
    row = dict(zip(COLUMNS, cells(alpha, clock.now), strict=True))
    assert row == {
        "model": "alpha", "done/total": "2/4", "success": "1/2", "in flight": "1", "retries": "5",
        "infra errors": "1", "tokens in/out": "1500/150", "cost": "$1.8000", "ETA": "20s",
    }  # fmt: skip
    assert dict(zip(COLUMNS, cells(beta, clock.now), strict=True))["cost"] == "n/a"  # no price: n/a, not $0
    everything = state.overall()
    assert (everything.total, everything.done, everything.in_flight, everything.cost) == (6, 2, 1, 1.8)


def test_eta_from_the_rate_of_finished_trials() -> None:
    clock = FakeClock()
    state = ProgressState(clock)
    state.start("m", 10)
    m = state.rows()[0]
    clock.now += 30
    assert m.eta(clock.now) is None and cells(m, clock.now)[-1] == "-"  # nothing finished yet: no rate
    for _ in range(2):
        state.finish("m", _result())
    clock.now += 10  # 2 done in 40 s: 8 left take 160 s
    assert m.eta(clock.now) == 160.0 and cells(m, clock.now)[-1] == "2m40s"
    state.start("m", 2)  # a --retry-infra round adds to the total
    assert m.total == 12 and m.eta(clock.now) == 200.0
    for _ in range(10):
        state.finish("m", _result())
    assert m.eta(clock.now) == 0.0
    assert ProgressState(clock).overall().cost is None  # no model priced: n/a


def test_hostile_model_names_are_escaped() -> None:
    clock = FakeClock()
    state = ProgressState(clock)
    state.start(HOSTILE, 1)
    state.finish(HOSTILE, _result(False, failure="model_error"))
    line = status_line(state.rows()[0], clock.now)
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
    console = Console(record=True, width=300, color_system=None)
    console.print(line)
    printed = console.export_text()
    assert "\\x1b[31mevil\\x07[bold red]boom[/]\\u202e" in printed  # shown literally, markup not applied
    assert printed.startswith("status ") and "done/total 1/1, success 0/1" in printed


def test_plain_status_lines_at_each_tenth() -> None:
    clock = FakeClock()
    console = Console(record=True, width=300, color_system=None)
    display = Display(console, single=False, state=ProgressState(clock))
    hooks = display.hooks()
    hooks.on_start("m", 20, ModelEntry(id="m"))

    class _Rec:
        result = _result()

    for _ in range(20):
        hooks.on_trial("m", _Rec())  # type: ignore[arg-type]
    lines = console.export_text().splitlines()
    assert sum(1 for ln in lines if ln.startswith("status m:")) == 10 and len(lines) == 30
    assert lines[-1].startswith("status m: done/total 20/20, success 20/20")


def test_plain_status_line_every_30_s_while_trials_are_left() -> None:
    clock = FakeClock()
    console = Console(record=True, width=300, color_system=None)
    display = Display(console, single=True, state=ProgressState(clock))
    display.on_start("m", 2, ModelEntry(id="m"))
    display.on_begin("m", None)  # type: ignore[arg-type]
    clock.now += 29
    display.tick()
    assert console.export_text() == ""  # nothing is due yet
    clock.now += 2
    display.tick()
    display.tick()  # once per 30 s
    assert console.export_text() == "status m: done/total 0/2, success -, in flight 1, retries 0, infra errors 0, " \
        "tokens in/out 0/0, cost n/a, ETA -\n"  # fmt: skip
    display.state.finish("m", _result())
    display.state.finish("m", _result())
    clock.now += 60
    display.tick()
    assert console.export_text() == ""  # all done: no more status lines


def test_auto_is_live_only_on_a_terminal() -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(os.dup(slave), "w") as tty, open(os.devnull, "w") as null:
            assert resolve("auto", null) == "plain" and resolve("live", null) == "live"
            assert resolve("auto", tty) == ("plain" if os.environ.get("TERM") in ("dumb", "unknown") else "live")
    finally:
        os.close(master)
        os.close(slave)


# --- the real CLI ---------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    drop = ("OPENAI_", "MODEL_NAME", "BASE_URL", "FORCE_COLOR", "NO_COLOR", "TTY_", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "TERM": "xterm-256color"}


def _on_pty(
    args: list[str], cwd: Path, *, interrupt_when: Callable[[], bool] | None = None, timeout: float = 60
) -> tuple[int, str]:
    """Run the CLI with stdin/stdout/stderr on a pty slave (120x40); read the master until it exits. With
    `interrupt_when`, send SIGINT once it is true. Returns (exit code, everything written)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentgym.cli.main", *args],
        cwd=cwd, env=_env(), stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    out, deadline, sent = bytearray(), time.monotonic() + timeout, False
    try:
        while time.monotonic() < deadline:
            if interrupt_when is not None and not sent and interrupt_when():
                proc.send_signal(signal.SIGINT)
                sent = True
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every slave end closed (the CLI exited)
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_live_table_on_a_pseudo_terminal(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    runs = tmp_path / "runs"
    with ScriptedServer(ScriptByTask(_slow(0.15))) as one, ScriptedServer(ScriptByTask(SCRIPTS)) as two:
        models = tmp_path / "models.yaml"
        models.write_text(
            f"- {{id: alpha, model: scripted-model, base_url: '{one.base_url}', price_per_million_input: 100}}\n"
            f"- {{id: beta, model: scripted-model, base_url: '{two.base_url}'}}\n"
        )
        args = ["run", "--config-dir", str(demo_config), "--runs-root", str(runs), "--models", str(models)]
        code, out = _on_pty([*args, "--progress", "auto", "--sandbox", "local"], tmp_path)
    assert code == 0, out
    assert "\x1b[?25l" in out and out.rstrip().endswith(str(next(runs.iterdir())))  # cursor hidden, then stdout
    assert "\x1b[?25h" in out[out.rindex("\x1b[?25l") :]  # ... and shown again at the end
    for column in ("done/total", "in flight", "infra errors", "tokens in/out", "ETA"):
        assert column in out
    final = out[out.rindex("agentgym run") :]  # the last table drawn
    alpha = next(ln for ln in final.splitlines() if "alpha" in ln)
    assert "3/3" in alpha and "$0.0" in alpha and "n/a" in next(ln for ln in final.splitlines() if "beta" in ln)
    assert "alpha: 3/3 succeeded" in ANSI.sub("", out) and "Traceback" not in out


def test_piped_output_is_plain_lines(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as server:
        args = scripted_run_args(demo_config, tmp_path / "runs", server.base_url)
        proc = run_cli(*args, "--sandbox", "local", cwd=tmp_path, env={"TERM": "xterm-256color"})
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert sum(1 for ln in lines if ln.startswith("  ✓ demo/demo_task_00")) == 3
    final = "status scripted-model: done/total 3/3, success 3/3, in flight 0, retries 0, infra errors 0, tokens"
    assert sum(1 for ln in lines if ln.startswith(final)) == 1 and lines[-1].startswith("3/3 succeeded")
    assert "agentgym run" not in proc.stderr  # no table


def test_quiet_prints_only_the_summary(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as server:
        args = scripted_run_args(demo_config, tmp_path / "runs", server.base_url)
        proc = run_cli(*args, "--progress", "quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("3/3 succeeded, average score 100.00")  # nothing before the summary
    assert "✓" not in proc.stderr and "status" not in proc.stderr and "run folder" not in proc.stderr


def test_ctrl_c_under_the_live_display(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    runs = tmp_path / "runs"
    with ScriptedServer(ScriptByTask(_slow(0.6))) as server:
        args = [*scripted_run_args(demo_config, runs, server.base_url), "--progress", "live"]
        code, out = _on_pty(args, tmp_path, interrupt_when=lambda: any(runs.glob("*/results/demo/demo_task_001.json")))
    assert code == 130, out
    assert "\x1b[?25l" in out and out.rindex("\x1b[?25h") > out.rindex("\x1b[?25l")  # the cursor is back
    assert "interrupted" in out[out.rindex("\x1b[?25h") :] and "Traceback" not in out  # after the table stopped
    run = next(runs.glob("scripted-model-*"))
    assert json.loads((run / "results/demo/demo_task_001.json").read_text())["metrics"]["success"] is True
    assert json.loads((run / "results/summary.json").read_text())["status"] == "interrupted"
    assert not (run / "results/demo/demo_task_003.json").exists()


def test_live_table_escapes_hostile_names() -> None:
    console = Console(record=True, width=200, color_system=None)
    display = LiveDisplay(console, single=False, state=ProgressState(FakeClock()))
    display.on_start(HOSTILE, 2, ModelEntry(id="x"))
    display.on_start("plain-model", 1, ModelEntry(id="y", price_per_million_output=3))
    console.print(display.table())
    text = console.export_text()
    assert "\x1b" not in text and "\u202e" not in text and "\\x1b[31mevil\\x07[bold red]boom[/]" in text
    assert "all" in text and "0/3" in text and "$0.0000" in text  # the 'all' row sums the one priced model


def test_hooks_of_a_campaign_and_of_its_resume(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    """Through the Python API (real planning, sandbox, run folders): on_start counts the trials to run (on
    resume only the pending ones), each trial begins before it finishes."""
    events: list[tuple[str, ...]] = []
    hooks = Hooks(
        on_start=lambda m, n, e: events.append(("start", m, str(n), e.display_id())),
        on_begin=lambda m, t: events.append(("begin", m, t.task.spec.id)),
        on_trial=lambda m, r: events.append(("end", m, r.result.task.id)),
    )
    models = [{"id": name, "model": "unused", "base_url": "http://127.0.0.1:9/v1"} for name in ("a", "b")]
    spec = {"models": models, "dry_run": True, "sandbox": "local", "config_dir": str(demo_config)}
    result = evaluate({**spec, "runs_root": str(tmp_path / "runs"), "campaign_id": "c"}, hooks=hooks)
    assert events[:2] == [("start", "a", "3", "a"), ("start", "b", "3", "b")]
    for model in ("a", "b"):
        mine = [e for e in events[2:] if e[1] == model]
        assert len(mine) == 6 and all(
            mine.index(("begin", model, t)) < mine.index(("end", model, t)) for _, _, t in mine
        )
    (result.models["b"].run_dir / "results" / "demo" / "demo_task_002.json").unlink()
    events.clear()
    evaluate(None, resume=result.root, hooks=hooks)  # in the same process: the first one's locks are released
    begin, end = ("begin", "b", "demo_task_002"), ("end", "b", "demo_task_002")
    assert events == [("start", "a", "0", "a"), ("start", "b", "1", "b"), begin, end]


def test_table_fits_80_columns_with_wide_values() -> None:
    console = Console(record=True, width=80, color_system=None)
    display = LiveDisplay(console, single=False, state=ProgressState(FakeClock()))
    for name, price in (("qwen2.5-coder-7b-instruct", 10.0), ("b", None)):
        display.on_start(name, 1000, ModelEntry(id="x", price_per_million_input=price))
        m = display.state.models[name]
        m.done, m.prompt_tokens, m.completion_tokens, m.started = 999, 98_765_432, 234_567, -1e5
    console.print(display.table())
    lines = console.export_text().splitlines()
    assert all(len(ln) <= 80 for ln in lines) and "…" not in "".join(lines)
    assert any("98.8M/234k" in ln and "$987.6543" in ln for ln in lines)


def test_live_off_a_terminal_leaves_the_log_handlers_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)  # as in the CLI: Live does not redirect off a terminal
    handler = logging.StreamHandler(sys.__stderr__)
    logging.getLogger().addHandler(handler)
    try:
        with LiveDisplay(Console(file=io.StringIO(), width=100), single=True):
            pass
        assert handler.stream is sys.__stderr__
    finally:
        logging.getLogger().removeHandler(handler)
