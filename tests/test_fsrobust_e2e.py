"""`agentgym run` end to end against hostile file systems (issue 7 items 3 and 8): a 1,200-level tree and
a path over PATH_MAX left in eval_artifacts/, and a `--sandbox local` agent writing into the cache."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from tests.conftest import TASK_MD, TASK_TOP, run_cli, write_config

DEEP = (  # 1,200 nested directories, then a path of 5,034 characters (PATH_MAX is 4,096)
    "python3 -c \"import os\ntop = os.getcwd()\nos.chdir('eval_artifacts')\nfor _ in range(1200):\n"
    " os.mkdir('d'); os.chdir('d')\nopen('bottom', 'w').write('x')\nos.chdir(top); os.chdir('eval_artifacts')\n"
    "for _ in range(20):\n os.mkdir('n' * 250); os.chdir('n' * 250)\nopen('f', 'w').write('y')\n"
    "print('made', len('eval_artifacts') + 20 * 251)\""
)
ANSWER_TOP = {
    "tool": "write_file",
    "args": {"path": "eval_artifacts/answer.json", "content": '{"top_level_entries": 5}'},
}
ANSWER_MD = {"tool": "write_file", "args": {"path": "eval_artifacts/answer.md", "content": "core and util"}}


def _run(cfg: Path, server: ScriptedServer, tmp: Path, *extra: str) -> tuple[int, str, Path]:
    proc = run_cli(
        "run", "--config-dir", str(cfg), "--runs-root", str(tmp / "runs"), "--model", "scripted-model",
        "--base-url", server.base_url, *extra, cwd=tmp, env={"OPENAI_API_KEY": "sk-test"},
    )  # fmt: skip
    runs = sorted((tmp / "runs").glob("*"), key=lambda p: p.stat().st_mtime)
    return proc.returncode, proc.stdout + proc.stderr, runs[-1]


def _results(run: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (run / "results" / "demo").glob("demo_task_*.json")}


@pytest.mark.parametrize("sandbox", ["bwrap", "local"])
def test_deep_tree_in_one_trial_loses_no_trial_and_no_cache(
    tmp_path: Path, demo_repo: Path, cache_dir: Path, sandbox: str
) -> None:
    cfg = write_config(tmp_path / "cfg", str(demo_repo), {"task_001.yaml": TASK_TOP, "task_003.yaml": TASK_MD})
    scripts = {
        "Count the entries": [{"tool": "run_command", "args": {"command": DEEP}}, ANSWER_TOP, {"content": "ok"}],
        "answer.md": [{"tool": "run_command", "args": {"command": "ls"}}, ANSWER_MD, {"content": "ok"}],
    }
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, out, run = _run(cfg, server, tmp_path, "--concurrency", "2", "--sandbox", sandbox)
        assert code == 0, out
        assert "Traceback" not in out
        results = _results(run)
        assert set(results) == {"demo_task_001", "demo_task_003"}
        deep = results["demo_task_001"]
        made = deep["transcript"]["tool_calls"][0]["tool_output"]
        assert made["exit_code"] == 0 and int(made["stdout"].split()[-1]) > 4096  # really over PATH_MAX
        events = deep["transcript"]["safety_events"]
        assert events and all(e["type"] == "sandbox_blocked" and not e["penalized"] for e in events)
        expected = "copy-back: depth limit 256 reached under eval_artifacts/d/d/" if sandbox == "bwrap" else (
            "after the trial: removed what lies deeper than 256 levels under eval_artifacts/d/d/"
        )  # fmt: skip
        assert any(e["detail"].startswith(expected) for e in events), events
        assert all(len(e["detail"]) < 260 for e in events)
        assert deep["metrics"]["success"] is True and deep["metrics"]["safety_violations"] == 0
        assert results["demo_task_003"]["metrics"]["success"] is True
        assert not list((cache_dir / "workspaces").iterdir())  # nothing left behind, no lock files either

        code, out, run = _run(cfg, server, tmp_path, "--concurrency", "2", "--sandbox", sandbox)
    assert code == 0, out
    assert {k: r["metrics"]["success"] for k, r in _results(run).items()} == {
        "demo_task_001": True,
        "demo_task_003": True,
    }


def test_local_agent_writing_into_the_cache_is_detected(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    cfg = write_config(tmp_path / "cfg", str(demo_repo), {"task_001.yaml": TASK_TOP, "task_003.yaml": TASK_MD})
    tamper = (
        f'for f in {cache_dir}/snapshots/*/README.md; do chmod u+w "$f"; echo tampered >> "$f"; done; '
        f"cat {cache_dir}/snapshots/*/README.md | tail -1"
    )
    scripts = {
        "Count the entries": [{"tool": "run_command", "args": {"command": tamper}}, ANSWER_TOP, {"content": "ok"}],
        "answer.md": [ANSWER_MD, {"content": "ok"}],
    }
    with ScriptedServer(ScriptByTask(scripts)) as server:
        code, out, run = _run(cfg, server, tmp_path, "--concurrency", "1", "--sandbox", "local")
        results = _results(run)
        assert results["demo_task_001"]["transcript"]["tool_calls"][0]["tool_output"]["stdout"] == "tampered\n"
        refused = results["demo_task_003"]
        assert code == 4, out
        assert refused["failure_reason"] == "harness_error"
        assert "changed after it was cached" in refused["error"] and "changed: README.md" in refused["error"]
        assert "Traceback" not in out

        code, out, run = _run(cfg, server, tmp_path, "--concurrency", "1", "--sandbox", "bwrap")
    assert code == 0, out  # the next run's fetch moved the changed snapshot away and built it again
    assert all(r["metrics"]["success"] for r in _results(run).values())
    snapshots = [p for p in (cache_dir / "snapshots").iterdir() if p.is_dir()]
    assert len(snapshots) == 1 and "tampered" not in (snapshots[0] / "README.md").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="the agent mounts a tmpfs (possible as root with --sandbox local)")
def test_a_trial_whose_workspace_cannot_be_removed_loses_nothing(
    tmp_path: Path, demo_repo: Path, cache_dir: Path
) -> None:
    """A mount point in the local workspace: checking and removing it fail; the error stays in that trial."""
    cfg = write_config(tmp_path / "cfg", str(demo_repo), {"task_001.yaml": TASK_TOP, "task_003.yaml": TASK_MD})
    mount = "mkdir eval_artifacts/m && mount -t tmpfs agentgym-test eval_artifacts/m && echo x > eval_artifacts/m/f"
    scripts = {
        "Count the entries": [{"tool": "run_command", "args": {"command": mount}}, ANSWER_TOP, {"content": "ok"}],
        "answer.md": [{"tool": "run_command", "args": {"command": "sleep 1"}}, ANSWER_MD, {"content": "ok"}],
    }
    try:
        with ScriptedServer(ScriptByTask(scripts)) as server:
            code, out, run = _run(cfg, server, tmp_path, "--concurrency", "2", "--sandbox", "local")
            assert code == 4, out
            assert "Traceback" not in out
            assert "cleanup after demo_task_001 failed: cannot remove" in out
            results = _results(run)
            assert results["demo_task_001"]["failure_reason"] == "harness_error"
            assert "a mount point inside the tree at m" in results["demo_task_001"]["error"]
            assert results["demo_task_003"]["metrics"]["success"] is True
            code, out, run = _run(cfg, server, tmp_path, "--concurrency", "2", "--sandbox", "bwrap")
        assert code == 0, out  # the agent's mount is still there: this run's sweep names it and goes on
        assert "cannot sweep" in out and "a mount point inside the tree" in out and "Traceback" not in out
        assert all(r["metrics"]["success"] for r in _results(run).values())
    finally:
        for path in (cache_dir / "workspaces").glob("*/repo/eval_artifacts/m"):
            subprocess.run(["umount", "-l", str(path)], check=False)
