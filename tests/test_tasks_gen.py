"""The L1 task generator: ten valid tasks covering all nine oracles, whose solutions produce the right answers."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentgym.oracles import BUILTIN_ORACLES, run_oracle, validate_call
from agentgym.specs.task import OracleCall, TaskSpec
from agentgym.tasks_gen import generate_l1_tasks, tie_warnings
from agentgym.tasks_yaml import KEY_ORDER, write_tasks
from agentgym.tools.policy import PathView, check_command

ALLOWED = [
    *["ls", "pwd", "cd", "cat", "head", "tail", "wc", "grep", "rg", "sed", "python", "python3", "pytest"],
    *[
        "find",
        "echo",
        "mkdir",
        "sort",
        "uniq",
        "du",
        "stat",
        "tr",
        "cut",
        "awk",
        "xargs",
        "basename",
        "dirname",
        "file",
        "git",
        "tree",
        "printf",
        "test",
    ],
]
PROHIBITED = ["rm", "sudo", "curl", "wget", "ssh", "scp", "dd", "mkfs", "mount", "umount", "chmod", "chown"]
COUNTING = {"glob_count", "repo_token_count", "largest_file"}


def write(root: Path, rel: str, data: bytes | str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def git(cwd: Path, *args: str) -> None:
    base = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run([*base, *args], cwd=cwd, capture_output=True, check=True)


def make_git_repo(base: Path) -> Path:
    root = base / "demo"
    write(root, "README.md", "\n\n   \n  Demo — a small library  \n\nMore text.\n")
    write(root, "LICENSE.md", "Apache\n")
    write(root, "setup.cfg", "[metadata]\nname = demo\n")
    for i in range(4):
        write(root, f"demo/mod{i}.py", f"def handler_{i}(request):\n    return request.handler\n")
    write(root, "demo/sub/__init__.py", "")
    write(root, "tests/test_mod.py", "from demo.mod0 import handler_0\n\ndef test_handler():\n    assert handler_0\n")
    write(root, "docs/index.md", "# Handler docs\n")
    write(root, "docs/conf.yaml", "handler: yes\n")
    write(root, ".github/workflows/ci.yml", "on: push\n")
    write(root, ".hidden.py", "handler = None\n")
    write(root, "assets/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00handler" * 40)
    write(root, "assets/notes-latin1.txt", b"r\xe9sum\xe9 handler\n")
    write(root, "data/big.csv", "a,b\n" * 700)
    write(root, "data/same.csv", "a,b\n" * 700)
    (root / "demo" / "alias.py").symlink_to("mod1.py")
    (root / "docs_link").symlink_to("docs")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def copy_of_this_project(base: Path) -> Path:
    here = Path(__file__).resolve().parent.parent
    skip = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", "runs", ".venv", "*.gguf")
    return Path(shutil.copytree(here, base / "agentgym", symlinks=True, ignore=skip, ignore_dangling_symlinks=True))


@pytest.fixture(scope="module", params=["git_repo", "this_project"])
def repo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, list[dict]]:
    base = tmp_path_factory.mktemp(request.param)
    root = make_git_repo(base) if request.param == "git_repo" else copy_of_this_project(base)
    repo_id = "demo" if request.param == "git_repo" else "agentgym"
    return repo_id, root, generate_l1_tasks(repo_id, root)


def policy_problem(command: str) -> str | None:
    """A deliberately simple check: first word allowed, no prohibited word anywhere as a word."""
    first = shlex.split(command)[0]
    if first not in ALLOWED:
        return f"first word {first!r} not allowed"
    words = set(re.findall(r"[A-Za-z0-9_]+", command))
    bad = words & set(PROHIBITED)
    return f"prohibited {sorted(bad)}" if bad else None


def run_solution(task: dict[str, Any], pristine: Path, workspace: Path) -> None:
    shutil.copytree(pristine, workspace, symlinks=True)
    for step in task["solution"]:
        if isinstance(step, str):
            done = subprocess.run(["bash", "-c", step], cwd=workspace, capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
        else:
            assert step["tool"] == "write_file"
            write(workspace, step["args"]["path"], step["args"]["content"])


def test_ten_valid_tasks_covering_all_oracles(repo: tuple[str, Path, list[dict]]) -> None:
    repo_id, _root, tasks = repo
    assert [t["id"] for t in tasks] == [f"{repo_id}_task_{i:03d}" for i in range(1, 11)]
    specs = [TaskSpec.model_validate(t) for t in tasks]
    used = {o.oracle.fn for s in specs for o in s.outputs}
    assert used == set(BUILTIN_ORACLES)
    assert {s.difficulty for s in specs} == {"easy", "medium", "hard"}
    for spec in specs:
        assert spec.repo == repo_id and spec.initial_working_dir == "."
        assert spec.command_policy.allowed == ALLOWED and spec.command_policy.prohibited == PROHIBITED
        assert spec.command_policy.write_paths_allowed == ["eval_artifacts/", "/tmp/"]
        for out in spec.outputs:
            validate_call(out.oracle)
            where = "eval_artifacts/answer.md" if out.type == "oracle_bool" else "eval_artifacts/answer.json"
            assert where in spec.instruction
            if out.type != "oracle_bool":
                assert f'"{out.key}"' in spec.instruction


def test_every_count_leaves_out_git_and_eval_artifacts(repo: tuple[str, Path, list[dict]]) -> None:
    for task in repo[2]:
        for out in task["outputs"]:
            fn, args = out["oracle"]["fn"], out["oracle"]["args"]
            excluded = {
                **{name: args.get("exclude_dirs", []) for name in COUNTING},
                "top_level_entry_count": args.get("exclude", []),
                "answer_md_kv_matches": args.get("exclude_top_level", []),
            }.get(fn, [".git", "eval_artifacts"])
            assert {".git", "eval_artifacts"} <= set(excluded), task["id"]


def test_arguments_point_at_real_things(repo: tuple[str, Path, list[dict]]) -> None:
    _repo_id, root, tasks = repo
    calls = {o["oracle"]["fn"]: o["oracle"]["args"] for t in tasks for o in t["outputs"]}
    assert (root / calls["dir_top_entry_count"]["path"]).is_dir()
    assert (root / calls["readme_first_nonempty_line"]["path"]).is_file()
    token_call = OracleCall(fn="repo_token_count", args=calls["repo_token_count"])
    assert run_oracle(token_call, root) > 0
    globs = [o["oracle"]["args"]["glob"] for t in tasks for o in t["outputs"] if o["oracle"]["fn"] == "glob_count"]
    assert len(globs) == 2 and any("{" in g for g in globs) and all(g.startswith("**/") for g in globs)


def test_solutions_pass_a_simple_policy_check(repo: tuple[str, Path, list[dict]]) -> None:
    for task in repo[2]:
        commands = [s for s in task["solution"] if isinstance(s, str)]
        assert 1 <= len(commands) <= 3
        for command in commands:
            assert policy_problem(command) is None, (task["id"], command)


def test_solutions_pass_the_toolbox_policy(repo: tuple[str, Path, list[dict]]) -> None:
    for task in repo[2]:
        resolved = TaskSpec.model_validate(task).command_policy.resolved()
        view = PathView(repo_root="/repo", workdir="/repo")
        for command in (s for s in task["solution"] if isinstance(s, str)):
            assert check_command(command, None, resolved, view) is None, task["id"]


def test_solutions_produce_the_expected_answers(repo: tuple[str, Path, list[dict]], tmp_path: Path) -> None:
    _repo_id, pristine, tasks = repo
    for number, task in enumerate(tasks, start=1):
        workspace = tmp_path / f"ws{number}"
        run_solution(task, pristine, workspace)
        answer_file = workspace / "eval_artifacts" / "answer.json"
        for out in task["outputs"]:
            call = OracleCall.model_validate(out["oracle"])
            if out["type"] == "oracle_bool":
                assert run_oracle(call, workspace) is True, task["id"]
                assert run_oracle(call, pristine) is False, task["id"]  # nothing written there
                continue
            answer = json.loads(answer_file.read_text())
            expected = run_oracle(call, pristine)
            assert answer[out["key"]] == expected, task["id"]
            assert type(answer[out["key"]]) is type(expected)
            assert isinstance(expected, {"int": int, "str": str, "json": bool | dict}[out["type"]])


def test_wrong_answers_fail(repo: tuple[str, Path, list[dict]], tmp_path: Path) -> None:
    _repo_id, pristine, tasks = repo
    kv_task = next(t for t in tasks if t["outputs"][0]["oracle"]["fn"] == "answer_md_kv_matches")
    run_solution(kv_task, pristine, tmp_path / "ws")
    answer = tmp_path / "ws" / "eval_artifacts" / "answer.md"
    answer.write_text(answer.read_text().replace("top_level_entries: ", "top_level_entries: 1"))
    assert run_oracle(OracleCall.model_validate(kv_task["outputs"][0]["oracle"]), tmp_path / "ws") is False


def test_generated_values_on_the_git_repo(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path)
    calls = {o["oracle"]["fn"]: o["oracle"] for t in generate_l1_tasks("demo", root) for o in t["outputs"]}
    value = {fn: run_oracle(OracleCall.model_validate(c), root) for fn, c in calls.items() if "answer_md" not in fn}
    assert value["readme_first_nonempty_line"] == "  Demo — a small library  "
    assert value["top_level_entry_count"] == len([n for n in os.listdir(root) if not n.startswith(".")])
    assert value["has_license_file"] is True
    assert calls["dir_top_entry_count"]["args"]["path"] == "demo"
    assert value["dir_top_entry_count"] == 6  # four modules, sub/, alias.py
    assert calls["glob_count"]["args"]["glob"] in ("**/*.py", "**/*.{csv,md}", "**/*.{md,csv}")
    assert value["largest_file"] == {"path": "data/big.csv", "size": 2800}  # tie with data/same.csv
    assert calls["repo_token_count"]["args"]["token"] == "request"  # most frequent identifier
    assert calls["answer_md_contains"]["args"]["must_contain"][1:] == ["assets", "data", "demo", "docs", "tests"]


def test_write_tasks_round_trips_in_readable_order(repo: tuple[str, Path, list[dict]], tmp_path: Path) -> None:
    tasks = repo[2]
    paths = write_tasks(tasks, tmp_path / "out")
    assert [p.name for p in paths] == [f"task_{i:03d}.yaml" for i in range(1, 11)]
    for path, task in zip(paths, tasks, strict=True):
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert loaded == task
        assert list(loaded) == [k for k in KEY_ORDER if k in task]
        assert list(loaded)[:5] == ["id", "repo", "difficulty", "initial_working_dir", "instruction"]


def test_awkward_repo_id_and_names_stay_within_policy(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path)
    write(root, "mount/x.rm", "chmod me\n")  # prohibited words as a folder name, an extension and a token
    write(root, "it's here/a.dd", "x\n")
    repo_id = "rm-dd_mount's"
    tasks = generate_l1_tasks(repo_id, root)
    for task in tasks:
        TaskSpec.model_validate(task)
        for command in task["solution"]:
            assert policy_problem(command) is None, command
    calls = {o["oracle"]["fn"]: o["oracle"]["args"] for t in tasks for o in t["outputs"]}
    assert calls["dir_top_entry_count"]["path"] not in ("mount", "it's here")
    assert "rm" not in calls["glob_count"]["glob"] and "dd" not in calls["glob_count"]["glob"]
    kv_task = next(t for t in tasks if t["outputs"][0]["oracle"]["fn"] == "answer_md_kv_matches")
    run_solution(kv_task, root, tmp_path / "ws")
    assert run_oracle(OracleCall.model_validate(kv_task["outputs"][0]["oracle"]), tmp_path / "ws") is True


def test_tasks_generate_warns_about_a_largest_file_tie(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path)
    warnings = tie_warnings(generate_l1_tasks("demo", root), root)
    assert warnings == [
        "warning: task demo_task_009, output 'largest_file': largest_file has 2 equally right answers on this "
        'snapshot ("data/big.csv", "data/same.csv"); any of them passes'
    ]
    (root / "data" / "same.csv").write_text("a,b\n")
    assert tie_warnings(generate_l1_tasks("demo", root), root) == []


def test_tasks_generate_cli_prints_the_tie_warning(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path)
    (tmp_path / "cfg" / "repos").mkdir(parents=True)
    (tmp_path / "cfg" / "repos" / "demo.yaml").write_text(f"id: demo\npath: {root}\ninitial_working_dir: .\n")
    env = {**os.environ, "AGENTGYM_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "agentgym.cli.main", "tasks", "generate", "--repo-id", "demo"],
        cwd=tmp_path / "cfg",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stderr.split())  # rich wraps long lines
    assert "largest_file has 2 equally right answers" in text and "data/same.csv" in text
