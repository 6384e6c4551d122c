"""`agentgym serve-scripted`: a real server process playing the tasks' reference solutions, evaluated by the real
CLI; the skill decides which tasks it solves, the same way every time; a resumed embedded model keeps its key."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from agentgym.models.solution_script import solves
from agentgym.runner.manifest import config_hash
from tests.conftest import TASK_TOP, run_cli, scripted_run_args, write_config

SOLVED = (
    TASK_TOP
    + """\
solution:
  - tool: write_file
    args: {path: eval_artifacts/answer.json, content: '{"top_level_entries": 5}'}
"""
)


def _serve(cfg: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentgym.cli.main", "serve-scripted", "--config-dir", str(cfg), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _run(cfg: Path, tmp: Path, url: str) -> list[dict[str, object]]:
    done = run_cli(*scripted_run_args(cfg, tmp / "runs", url, model="scripted"), cwd=tmp)
    assert done.returncode == 0, done.stderr
    folder = next((tmp / "runs").iterdir())
    return [json.loads(p.read_text()) for p in sorted((folder / "results" / "demo").glob("demo_*.json"))]


def test_full_skill_plays_every_solution_and_zero_skill_none(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    demo_config = write_config(tmp_path / "cfg", str(demo_repo), {"task_001.yaml": SOLVED})
    for skill, want in (("1", True), ("0", False)):
        proc, url = _serve(demo_config, "--skill", skill)
        try:
            assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
            (tmp_path / skill).mkdir()
            records = _run(demo_config, tmp_path / skill, url)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "stopped" in err
        assert len(records) == 1
        assert [r["metrics"]["success"] for r in records] == [want]  # type: ignore[index]


def test_skill_is_a_share_decided_per_task_and_seed() -> None:
    ids = [f"t{n}" for n in range(2000)]
    share = sum(solves("s", t, 0.4) for t in ids) / len(ids)
    assert 0.35 < share < 0.45
    assert [solves("s", t, 0.4) for t in ids] == [solves("s", t, 0.4) for t in ids]
    assert [solves("s", t, 0.4) for t in ids] != [solves("other", t, 0.4) for t in ids]


def test_bad_skill_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = run_cli("serve-scripted", "--skill", "1.5", cwd=tmp_path)
    assert proc.returncode == 2
    assert [x for x in proc.stderr.splitlines() if x.strip()] == ["error: --skill: must be between 0 and 1, got 1.5"]


def test_embedded_model_key_ignores_port_and_load_time() -> None:
    card = {"sha256": "ab", "quantisation": "Q4_K_M", "file": "/a", "threads": 2, "startup_seconds": 7.5}
    one = {"model": "q", "base_url": "http://127.0.0.1:1/v1", "model_card": card}
    two = {**one, "base_url": "http://127.0.0.1:2/v1", "model_card": {**card, "startup_seconds": 3.0, "file": "/b"}}
    assert config_hash(one) == config_hash(two)
    assert config_hash(one) != config_hash({**one, "model_card": {**card, "sha256": "cd"}})
    remote = {"model": "q", "base_url": "http://127.0.0.1:1/v1"}
    assert config_hash(remote) != config_hash({**remote, "base_url": "http://127.0.0.1:2/v1"})
