"""Original-format files load unchanged; bad ones fail with one line naming file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentgym.errors import SpecError
from agentgym.runner.config import ConfigTree, TaskFilter, load_repos, load_tasks
from agentgym.specs.loader import load_model
from agentgym.specs.repo import RepoSpec
from agentgym.specs.task import TaskSpec
from tests.conftest import TASK_TOP, run_cli, write_config

ORIGINAL_TASK = """\
id: opencompass_task_001
repo: opencompass
difficulty: easy
initial_working_dir: .
instruction: |
  Count the top-level entries (exclude .git and eval_artifacts). Write eval_artifacts/answer.json as
  {"top_level_entries": <int>}.
command_policy:
  allowed: [ls, pwd, cd, cat, head, tail, wc, grep, rg, sed, python, python3, pytest]
  prohibited: [rm, sudo, curl, wget, ssh, scp, dd, mkfs, mount, umount, chmod, chown]
  write_paths_allowed: [eval_artifacts/, /tmp/]
outputs:
  - key: top_level_entries
    type: int
    weight: 1.0
    comparator: equals
    oracle:
      fn: top_level_entry_count
      args:
        exclude: [".git", "eval_artifacts"]
        exclude_hidden: true
max_commands: 10
timeout_seconds: 120
"""


def test_original_task_file_loads_unchanged(tmp_path: Path) -> None:
    f = tmp_path / "task_001.yaml"
    f.write_text(ORIGINAL_TASK)
    task = load_model(f, TaskSpec)
    assert task.id == "opencompass_task_001" and task.outputs[0].oracle.args["exclude_hidden"] is True
    assert task.command_policy.resolved().write_paths_allowed == ["eval_artifacts/", "/tmp/"]
    assert len(task.content_hash()) == 16


def test_defaults_match_formats(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text("id: a\nrepo: r\ninitial_working_dir: .\ninstruction: x\noutputs: [{key: k, oracle: {fn: f}}]\n")
    t = load_model(f, TaskSpec)
    assert (t.difficulty, t.max_commands, t.timeout_seconds) == ("easy", 10, 120)
    assert (t.outputs[0].type, t.outputs[0].weight, t.outputs[0].comparator) == ("str", 1.0, "equals")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("id: a\nrepo: [unclosed\n", "malformed YAML"),
        (ORIGINAL_TASK.replace("max_commands", "max_comands"), "field max_comands: unknown key"),
        (ORIGINAL_TASK.replace("      fn: top", "      fnn: top"), "field outputs[0].oracle.fnn: unknown key"),
        (ORIGINAL_TASK.replace("instruction: |", "instructions: |"), "field instruction: required field is missing"),
        (ORIGINAL_TASK.replace("difficulty: easy", "difficulty: trivial"), "field difficulty:"),
        (ORIGINAL_TASK.replace("type: int", "type: integer"), "field outputs[0].type:"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_bad_task_files_name_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "task_bad.yaml"
    f.write_text(text)
    with pytest.raises(SpecError) as info:
        load_model(f, TaskSpec)
    message = str(info.value)
    assert str(f) in message and needle in message and "\n" not in message


def test_repo_needs_exactly_one_source(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("id: r\nurl: https://x\npath: /y\n")
    with pytest.raises(SpecError, match="exactly one of url, path, archive, pypi"):
        load_model(f, RepoSpec)
    f.write_text("id: r\npypi: mmengine==0.10.7\n")
    with pytest.raises(SpecError, match="need sha256"):
        load_model(f, RepoSpec)


def _load(cfg: Path) -> None:
    tree = ConfigTree.discover(cfg)
    load_tasks(tree, "l1", load_repos(tree), TaskFilter())


def test_unknown_oracle_and_unknown_repo(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c1", "/nowhere", {"task_001.yaml": TASK_TOP.replace("top_level_entry_count", "no_such")}
    )
    with pytest.raises(SpecError, match=r"task_001.yaml: field outputs\[0\].oracle: .*unknown oracle 'no_such'"):
        _load(cfg)
    cfg = write_config(tmp_path / "c2", "/nowhere", {"task_001.yaml": TASK_TOP.replace("repo: demo", "repo: ghost")})
    with pytest.raises(SpecError, match="field repo: unknown repo id 'ghost'"):
        _load(cfg)


def test_shipped_defaults_load() -> None:
    tree = ConfigTree(None)
    repos = load_repos(tree)
    tasks = load_tasks(tree, "l1", repos, TaskFilter())
    assert {"mmengine", "opencompass", "xtuner"} <= {t.spec.repo for t in tasks}
    oracles = {o.oracle.fn for t in tasks for o in t.spec.outputs}
    assert len(oracles) >= 9
    assert all(t.spec.solution for t in tasks)


@pytest.mark.parametrize("kind", ["task", "repo", "result", "weights"])
def test_schema_command(kind: str, tmp_path: Path) -> None:
    proc = run_cli("schema", kind, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["type"] == "object" and schema["properties"]


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "cfg", "/nowhere", {"task_001.yaml": "id: x\nrepo: [\n"})
    proc = run_cli("run", "--agent", "nop", "--config-dir", str(cfg), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "task_001.yaml" in lines[0] and "malformed YAML" in lines[0]
