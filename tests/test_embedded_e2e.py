"""The real embedded model end to end: `agentgym run` with no model configured starts the local llama.cpp
server, the model acts through real tool calls in the bwrap sandbox, the result is written, the server is gone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def _server_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "llama_cpp.server"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def test_embedded_model_runs_one_task_in_the_sandbox(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="the embedded model needs agentgym[local] (scripts/setup.sh installs it)")
    before = _server_pids()
    proc = run_cli(
        "run",
        "--repos",
        "mmengine",
        "--tasks",
        "mmengine_task_003",
        "--runs-root",
        str(tmp_path / "runs"),
        cwd=tmp_path,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert "starting the embedded local model" in proc.stderr
    run = Path(proc.stdout.strip().splitlines()[-1])
    result = json.loads((run / "results/mmengine/mmengine_task_003.json").read_text())
    calls = result["transcript"]["tool_calls"]
    assert any(c["ok"] for c in calls), (calls, result["failure_reason"], result["error"], result["metrics"])
    assert result["sandbox"] == "bwrap" and result["metrics"]["model_calls"] >= 1
    assert result["metrics"]["prompt_tokens"] > 0 and result["metrics"]["completion_tokens"] > 0
    card = json.loads((run / "results/run_config.json").read_text())["model"]["model_card"]
    assert card["sha256"] == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert {"quantisation", "context_size", "threads", "server", "startup_seconds"} <= set(card)
    assert _server_pids() <= before  # no server process outlived the run
