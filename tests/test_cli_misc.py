"""CLI commands besides `run`: doctor, tasks list/generate, help texts; sandbox refusals with a clear choice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentgym.errors import SandboxError, SpecError
from agentgym.runner.config import ConfigTree, TaskFilter, load_repos, load_tasks
from agentgym.sandbox import bwrap as bwrap_mod
from agentgym.sandbox import get_sandbox_factory
from agentgym.sandbox.base import SandboxSpec
from agentgym.sources.base import Snapshot
from agentgym.specs.task import ResolvedPolicy
from tests.conftest import TASK_TOP, make_git_repo, run_cli, write_config


def test_doctor_reports_isolation_features(tmp_path: Path) -> None:
    proc = run_cli("doctor", cwd=tmp_path)
    ok, _ = bwrap_mod.bwrap_available()
    assert proc.returncode == (0 if ok else 1)
    lines = proc.stderr.splitlines()
    assert any(line.startswith("ok") and "network namespace" in line for line in lines) == ok
    assert any("rlimit max_processes" in line for line in lines)


@pytest.mark.parametrize(
    "command", [["run"], ["schema"], ["tasks", "generate"], ["tasks", "list"], ["doctor"], ["serve-local"]]
)
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    proc = run_cli(*command, "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "Usage:" in proc.stdout and len(proc.stdout.splitlines()) > 5


def test_tasks_generate_then_oracle_scores_100(tmp_path: Path, cache_dir: Path) -> None:
    repo = make_git_repo(tmp_path / "origin")
    cfg = write_config(tmp_path / "cfg", str(repo), {"task_001.yaml": TASK_TOP})
    for f in (cfg / "tasks/l1/demo").glob("*.yaml"):
        f.unlink()
    gen = run_cli("tasks", "generate", "--repo-id", "demo", "--config-dir", str(cfg), cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    assert len(list((cfg / "tasks/l1/demo").glob("task_*.yaml"))) == 10
    again = run_cli("tasks", "generate", "--repo-id", "demo", "--config-dir", str(cfg), cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    listed = run_cli("tasks", "list", "--config-dir", str(cfg), cwd=tmp_path)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 10
    run = run_cli(
        "run", "--agent", "oracle", "--config-dir", str(cfg), "--runs-root", str(tmp_path / "runs"), cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert "10/10 succeeded, average score 100.00" in run.stderr


def test_policy_without_writable_path_is_refused(tmp_path: Path) -> None:
    text = TASK_TOP + "command_policy:\n  write_paths_allowed: []\n"
    cfg = write_config(tmp_path / "cfg", "/nowhere", {"task_001.yaml": text})
    tree = ConfigTree.discover(cfg)
    with pytest.raises(SpecError, match="write_paths_allowed: empty"):
        load_tasks(tree, "l1", load_repos(tree), TaskFilter())


def test_missing_bubblewrap_is_a_clear_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # bubblewrap is installed here; simulate a host without it (the only way to exercise this branch).
    monkeypatch.setattr(bwrap_mod, "bwrap_path", lambda: None)
    bwrap_mod.bwrap_available.cache_clear()
    try:
        snap = Snapshot(repo_id="x", path=tmp_path, digest="0" * 64)
        spec = SandboxSpec(policy=ResolvedPolicy(allowed=[], prohibited=[], write_paths_allowed=["eval_artifacts/"]))
        with pytest.raises(SandboxError) as info:
            asyncio.run(bwrap_mod.BwrapSandboxFactory().open(snap, spec))
        assert "bwrap not found" in str(info.value) and "--sandbox local" in str(info.value)
        with pytest.raises(SandboxError, match=r"bubblewrap cannot run.*--sandbox local"):
            get_sandbox_factory("bwrap")  # what `agentgym run` calls before any trial
    finally:
        bwrap_mod.bwrap_available.cache_clear()
