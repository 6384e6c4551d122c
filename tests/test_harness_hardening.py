"""Issue 7, harness items: help texts, prompt templates and v1 prompts, console escaping, transcript
appends, cancellation cleanup, SIGTERM and dead runs. Real CLI subprocesses, real sandbox, scripted server."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import run_cli


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
