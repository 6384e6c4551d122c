"""Edit-task parts on their own: the task kind, protected paths, the JUnit judge, patch apply, and the
overlay workspace (writes through any path, hard links included, never reach the snapshot)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from agentgym.errors import SpecError
from agentgym.grading.grader import HIDDEN_HOST_PATHS, WRITABLE, judge
from agentgym.grading.gradetree import is_protected
from agentgym.grading.patch import apply_patch, tree_patch
from agentgym.sandbox.base import SandboxSpec
from agentgym.sandbox.bwrap import BwrapSandboxFactory, bwrap_available
from agentgym.sources.base import Snapshot
from agentgym.specs.task import TaskSpec

EDIT = {
    "id": "t",
    "repo": "r",
    "kind": "edit",
    "instruction": "fix",
    "grading": {"fail_to_pass": ["tests/test_a.py::test_x"], "pass_to_pass": ["tests/test_a.py::C::test_y[1-2]"]},
}


def test_kind_defaults_to_answer_and_edit_needs_grading() -> None:
    answer = TaskSpec.model_validate(
        {
            "id": "a",
            "repo": "r",
            "initial_working_dir": ".",
            "instruction": "i",
            "outputs": [{"key": "k", "oracle": {"fn": "file_count"}}],
        }
    )
    assert answer.kind == "answer" and answer.check_keys() == [("k", 1.0)]
    edit = TaskSpec.model_validate(EDIT)
    assert edit.check_keys() == [
        ("tests/test_a.py::test_x", 1.0),
        ("tests/test_a.py::C::test_y[1-2]", 0.0),
    ]  # pass_to_pass_weight
    assert edit.grading is not None and edit.grading.test_command == "python -m pytest"
    for bad in (
        {**EDIT, "grading": None},
        {**EDIT, "outputs": answer.model_dump()["outputs"]},
        {**EDIT, "kind": "answer"},
        {**EDIT, "grading": {"fail_to_pass": ["--co"]}},
        {**EDIT, "grading": {"fail_to_pass": []}},
    ):
        with pytest.raises(ValidationError):
            TaskSpec.model_validate(bad)


@pytest.mark.parametrize(
    ("rel", "protected"),
    [
        ("tests/test_a.py", True),
        ("tests/helpers.py", True),
        ("src/pkg/test/data.txt", True),
        ("test_top.py", True),
        ("pkg/calc_test.py", True),
        ("conftest.py", True),
        ("src/conftest.py", True),
        ("pytest.ini", True),
        ("tox.ini", True),
        ("setup.cfg", True),
        ("pyproject.toml", True),
        ("sitecustomize.py", True),
        ("src/usercustomize.py", True),
        ("evil.pth", True),
        (".pytest.ini", True),
        ("pytest.toml", True),
        (".pytest.toml", True),
        ("lib/x.pth", True),
        ("plug-1.0.dist-info/entry_points.txt", True),
        ("x.egg-info/entry_points.txt", True),
        ("pkg/__pycache__/calc.cpython-311.pyc", True),
        (".git/config", True),
        ("tests", True),
        ("src/pkg/tests", True),
        ("evil-1.0.dist-info", True),
        ("pytest.py", True),
        ("_pytest/main.py", True),
        ("src/pytest.py", True),
        ("json.py", True),
        ("xml/etree.py", True),
        ("pluggy", True),
        ("pkg/json.py", False),
        ("src/pkg/json.py", False),
        ("README.md", False),
        ("calc.py", False),
        ("src/pkg/core.py", False),
        ("docs/testing.md", False),
        ("contest.py", False),
    ],
)
def test_protected_paths(rel: str, protected: bool) -> None:
    assert is_protected(rel) is protected


def test_protected_extra_paths() -> None:
    assert is_protected("checks/t.py", frozenset({"checks/"})) and not is_protected(
        "checksum.py", frozenset({"checks"})
    )


REPORT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_a" name="test_x" time="0.001"/>
<testcase classname="tests.test_a.C" name="test_y[1-2]" time="0.001"><failure message="assert 1 == 2">x</failure>
</testcase></testsuite></testsuites>"""


def test_judge_reads_the_report_and_cross_checks_the_exit_code() -> None:
    task = TaskSpec.model_validate(EDIT)
    grade = judge(task, REPORT, 1, False, "")
    assert [c.ok for c in grade.checks] == [True, False] and grade.harness_error is None
    assert grade.checks[1].actual == "failed" and "assert 1 == 2" in (grade.checks[1].error or "")
    lying = judge(task, REPORT, 0, False, "")  # a failing test in the report but exit 0: not trusted
    assert lying.harness_error is not None and "exited 0" in lying.harness_error
    passed = REPORT.replace('<failure message="assert 1 == 2">x</failure>', "")
    assert judge(task, passed, 0, False, "").harness_error is None
    assert "exited 3" in (judge(task, passed, 3, False, "").harness_error or "")
    assert "no JUnit report" in (judge(task, None, 2, False, "boom").harness_error or "")
    assert "not XML" in (judge(task, "<testsuites", 1, False, "").harness_error or "")
    none = judge(task, "<testsuites><testsuite/></testsuites>", 5, False, "no tests ran")
    assert none.harness_error is not None and "no grading test ran" in none.harness_error
    timed_out = judge(task, None, -9, True, "")
    assert timed_out.harness_error is None and not any(c.ok for c in timed_out.checks)
    collection = (
        '<testsuites><testsuite><testcase classname="" name="tests.test_a"><error message="collection failure"/>'
    )
    broken = judge(task, collection + "</testcase></testsuite></testsuites>", 2, False, "")
    assert broken.harness_error is None and "collection failure" in (broken.checks[0].error or "")


def test_patch_round_trip_and_bad_patches(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for root, text in ((old, "a\nb\nc\n"), (new, "a\nB\nc\nd")):
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "m.py").write_text(text)
    (new / "added.py").write_text("x = 1\n")
    (old / "eval_artifacts").mkdir()
    (new / "pkg" / "__pycache__").mkdir()
    (new / "pkg" / "__pycache__" / "m.pyc").write_bytes(b"\0")
    patch = tree_patch(old, new)
    assert "diff --git a/added.py b/added.py\nnew file mode 100644" in patch and "__pycache__" not in patch
    assert apply_patch(patch, {"pkg/m.py": "a\nb\nc\n"}.get) == {"added.py": "x = 1\n", "pkg/m.py": "a\nB\nc\nd"}
    with pytest.raises(SpecError, match="does not apply"):
        apply_patch(patch, {"pkg/m.py": "other\n"}.get)
    with pytest.raises(SpecError, match="outside the repo"):
        apply_patch("--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n", {"../x": "a\n"}.get)
    assert "patch cut at 10 bytes; 2 more" in tree_patch(old, new, max_bytes=10)


@pytest.mark.skipif(os.geteuid() != 0 or not bwrap_available()[0], reason="the overlay needs root and bwrap")
def test_overlay_writes_never_reach_the_snapshot(tmp_path: Path, cache_dir: Path) -> None:
    snap = cache_dir / "snapshots" / "s"
    (snap / "pkg").mkdir(parents=True)
    (snap / "pkg" / "m.py").write_text("pristine\n")
    os.link(snap / "pkg" / "m.py", snap / "twin.py")
    for path in (snap / "pkg" / "m.py", snap / "pkg", snap):
        os.chmod(path, 0o444 if path.is_file() else 0o555)
    spec = SandboxSpec(policy=WRITABLE, hidden_paths=HIDDEN_HOST_PATHS)
    commands = (
        "echo agent > pkg/m.py; echo twin >> twin.py; ln twin.py third.py; echo third > third.py; "
        "chmod 777 pkg/m.py; touch -d 2001-01-01 twin.py; rm -rf pkg/../pkg/m.py; mkdir -p new/deep; "
        "ls -A /usr/share/doc | wc -l; cat twin.py"
    )

    async def scenario() -> tuple[str, str]:
        sandbox = await BwrapSandboxFactory().open(Snapshot("r", snap, "d" * 64), spec)
        try:
            result = await sandbox.run(commands, cwd=None, timeout=30)
            await sandbox.stop()
            return result.stdout, (sandbox.host_root / "third.py").read_text()
        finally:
            await sandbox.cleanup()

    stdout, third = asyncio.run(scenario())
    assert stdout.split()[0] == "0"  # a hidden host path is an empty folder inside
    assert stdout.split()[1:] == ["third"] and third == "third\n"  # ln inside the view links the copies up
    assert (snap / "pkg" / "m.py").read_text() == "pristine\n" and (snap / "twin.py").read_text() == "pristine\n"
    assert oct((snap / "pkg" / "m.py").stat().st_mode & 0o777) == "0o444"
    assert sorted(p.name for p in snap.rglob("*")) == ["m.py", "pkg", "twin.py"]
    assert (snap / "twin.py").stat().st_nlink == 2 and (snap / "twin.py").stat().st_mtime > 1e9


def test_original_tasks_keep_their_content_hash() -> None:
    """The fields edit tasks added stay out of an answer task's hash (records, resume and caches key on it):
    the value below is what the harness gave the packaged task before `kind` existed."""
    from agentgym.runner.config import ConfigTree, TaskFilter, load_repos, load_tasks

    tree = ConfigTree(None)
    tasks = load_tasks(tree, "l1", load_repos(tree), TaskFilter(glob="mmengine_task_001"))
    assert tasks[0].spec.content_hash() == "67e72cdc0a7449ab"
    edit = TaskSpec.model_validate(EDIT)
    assert edit.content_hash() != TaskSpec.model_validate({**EDIT, "reference_patch": "p.diff"}).content_hash()


def test_task_folders_in_system_trees_are_hidden(tmp_path: Path) -> None:
    from agentgym.grading.grader import hidden_paths

    assert hidden_paths(tmp_path / "task.yaml") == HIDDEN_HOST_PATHS  # /tmp is not shown to a sandbox anyway
    installed = hidden_paths(Path("/usr/lib/python3/dist-packages/agentgym/data/tasks/l2/r/task_1.yaml"))
    assert "/usr/lib/python3/dist-packages/agentgym/data/tasks/l2/r" in installed


def test_a_tree_too_deep_to_walk_is_an_agent_failure(tmp_path: Path) -> None:
    """Paths over PATH_MAX (the agent made them) raise AgentTreeError (graded as failing), not an OSError."""
    from agentgym.grading.trees import AgentTreeError, walk

    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(20):
            os.mkdir("d" * 250, dir_fd=fd)
            fd, old = os.open("d" * 250, os.O_RDONLY, dir_fd=fd), fd
            os.close(old)
        os.close(os.open("f.py", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)
    with pytest.raises(AgentTreeError, match="cannot walk"):
        walk(str(tmp_path))
