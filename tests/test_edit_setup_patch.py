"""An edit task's setup_patch: the starting state (an injected bug, a removed test) made at plan time from
the pristine snapshot, shown to the agent without the patch itself, graded and diffed against that state."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.sandbox.bwrap import bwrap_available
from tests.conftest import make_git_repo, run_cli

pytestmark = pytest.mark.skipif(not bwrap_available()[0], reason="bubblewrap cannot run here")

CALC = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
TESTS = (
    "from calc import add, mul\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_mul():\n    assert mul(2, 3) == 6\n\n\ndef test_add_zero():\n    assert add(0, 4) == 4\n"
)
INJECT = """\
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a + b
+    return a - b  # SETUP-MARK-91c2
--- a/tests/test_calc.py
+++ b/tests/test_calc.py
@@ -7,7 +7,3 @@
{blank}
 def test_mul():
     assert mul(2, 3) == 6
-
-
-def test_add_zero():
-    assert add(0, 4) == 4
""".format(blank=" ")  # a context line that is one space
FIX = """\
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b  # SETUP-MARK-91c2
+    return a + b
"""
HIDDEN = "from calc import add\n\n\ndef test_add_zero():\n    assert add(0, 4) == 4\n"
TASK = """\
id: setup_fix
repo: calc
kind: edit
instruction: "SETUP-SCENARIO. add() is wrong; fix calc.py."
visible_tests: [tests/test_calc.py]
setup_patch: inject.patch
reference_patch: fix.patch
grading:
  fail_to_pass: [tests/test_calc.py::test_add, tests/test_zero.py::test_add_zero]
  pass_to_pass: [tests/test_calc.py::test_mul]
  hidden_tests: [{src: hidden/test_zero.py, dest: tests/test_zero.py}]
max_commands: 4
"""
LOOK = (
    "cat calc.py; grep -c test_add_zero tests/test_calc.py; M=SETUP-MARK; "
    'grep -rlF "$M-91c2" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=repo 2>/dev/null; '
    'find / -name "inject.patch" -not -path "/proc/*" 2>/dev/null; echo searched'
)


@pytest.fixture
def setup_config(tmp_path: Path) -> Path:
    origin = make_git_repo(tmp_path / "origin", {"calc.py": CALC, "tests/__init__.py": "", "tests/test_calc.py": TESTS})
    cfg = tmp_path / "cfg"
    (cfg / "repos").mkdir(parents=True)
    (cfg / "repos" / "calc.yaml").write_text(f"id: calc\nurl: {origin}\nref: main\n")
    task_dir = cfg / "tasks" / "edit" / "calc"
    (task_dir / "hidden").mkdir(parents=True)
    (task_dir / "hidden" / "test_zero.py").write_text(HIDDEN)
    (task_dir / "inject.patch").write_text(INJECT)
    (task_dir / "fix.patch").write_text(FIX)
    (task_dir / "task_setup_fix.yaml").write_text(TASK)
    return cfg


def _run(cfg: Path, tmp: Path, name: str, *extra: str) -> tuple[Path, dict]:
    runs = tmp / name
    proc = run_cli(*extra, "--task-set", "edit", "--runs-root", str(runs), cwd=tmp, env={"OPENAI_API_KEY": "sk-t"})
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    run = sorted(runs.glob("*"))[-1]
    return run, json.loads(next((run / "results" / "calc").glob("setup_fix*.json")).read_text())


def test_setup_patch_is_the_starting_state(tmp_path: Path, setup_config: Path, cache_dir: Path) -> None:
    cfg = ["run", "--config-dir", str(setup_config)]
    run, oracle = _run(setup_config, tmp_path, "oracle", *cfg, "--agent", "oracle")
    assert oracle["metrics"]["success"] is True, oracle["output_checks"]
    patch = (run / "artifacts" / "calc" / "setup_fix" / "patch.diff").read_text()
    assert "-    return a - b  # SETUP-MARK-91c2\n+    return a + b\n" in patch  # against the buggy state
    config = json.loads((run / "results" / "run_config.json").read_text())
    entry = config["tasks"][0]
    assert entry["snapshot"] != config["repos"]["calc"]["digest"]
    assert config["repos"]["calc"]["digest"] in {p.name for p in (cache_dir / "snapshots").iterdir()}
    pristine = (cache_dir / "snapshots" / config["repos"]["calc"]["digest"] / "calc.py").read_text()
    assert pristine == CALC  # the fetched snapshot is untouched
    _, nop = _run(setup_config, tmp_path, "nop", *cfg, "--agent", "nop")
    assert nop["metrics"]["success"] is False and nop["metrics"]["score_0_100"] == 0  # doing nothing earns 0
    assert {c["key"]: c["ok"] for c in nop["output_checks"]} == {
        "tests/test_calc.py::test_add": False,
        "tests/test_zero.py::test_add_zero": False,
        "tests/test_calc.py::test_mul": True,
    }


def test_agent_sees_the_state_but_not_the_patch(tmp_path: Path, setup_config: Path, cache_dir: Path) -> None:
    script = [{"tool": "run_command", "args": {"command": LOOK}}, {"content": "looked"}]
    with ScriptedServer(ScriptByTask({"SETUP-SCENARIO.": script})) as server:
        args = ["run", "--config-dir", str(setup_config), "--model", "m", "--base-url", server.base_url]
        _, res = _run(setup_config, tmp_path, "runs", *args)
    system = res["transcript"]["prompt_messages"][0]["content"]
    assert "change the code in place" in system and "answer.json" not in system  # the edit-task prompt
    out = res["transcript"]["tool_calls"][0]["tool_output"]["stdout"]
    lines = out.splitlines()
    assert lines[:2] == ["def add(a, b):", "    return a - b  # SETUP-MARK-91c2"]  # the injected bug
    assert lines[lines.index("    return a * b") + 1] == "0"  # the removed test is gone
    assert lines[-1] == "searched" and "inject.patch" not in out and "/" not in "".join(lines[-3:-1])


def test_a_setup_patch_that_does_not_apply_is_one_line(tmp_path: Path, setup_config: Path, cache_dir: Path) -> None:
    patch = setup_config / "tasks" / "edit" / "calc" / "inject.patch"
    patch.write_text(INJECT.replace(" def add(a, b):", " def plus(a, b):"))
    proc = run_cli("run", "--config-dir", str(setup_config), "--task-set", "edit", "--agent", "oracle",
                   "--runs-root", str(tmp_path / "runs"), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "task_setup_fix.yaml: field setup_patch:" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_validate_takes_the_setup_state(tmp_path: Path, setup_config: Path, cache_dir: Path) -> None:
    done = run_cli("tasks", "validate", "--task-set", "edit", "--repeats", "1",
                   "--config-dir", str(setup_config), cwd=tmp_path, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_answer_tasks_refuse_a_setup_patch() -> None:
    from pydantic import ValidationError

    from agentgym.specs.task import TaskSpec

    body = textwrap.dedent("""\
        id: t
        repo: r
        instruction: x
        outputs: [{key: a, type: int, oracle: {fn: top_level_entry_count, args: {}}}]
        setup_patch: p.patch
        """)
    import yaml

    with pytest.raises(ValidationError, match="setup_patch"):
        TaskSpec.model_validate(yaml.safe_load(body))


def test_pass_to_pass_tests_guard_success_and_weigh_what_the_task_says() -> None:
    """A fix that makes every fail_to_pass test pass but breaks a pass_to_pass test is not a success; with
    pass_to_pass_weight 0 (the default) keeping what worked earns nothing, with 0.5 it earns half a test."""
    import yaml

    from agentgym.grading.grader import judge
    from agentgym.scoring.score import ScoreInputs, score_task
    from agentgym.specs.task import TaskSpec
    from agentgym.specs.weights import Weights

    report = (
        '<testsuites><testsuite><testcase classname="tests.test_calc" name="test_add"/>'
        '<testcase classname="tests.test_zero" name="test_add_zero"/>'
        '<testcase classname="tests.test_calc" name="test_mul"><failure message="broke"/></testcase>'
        "</testsuite></testsuites>"
    )
    for weight, partial in ((0.0, 1.0), (0.5, 2 / 2.5)):
        data = yaml.safe_load(TASK)
        data["grading"]["pass_to_pass_weight"] = weight
        task = TaskSpec.model_validate(data)
        grade = judge(task, report, 1, False, "")
        assert grade.harness_error is None and [c.weight for c in grade.checks] == [1.0, 1.0, weight]
        passed = sum(c.weight for c in grade.checks if c.ok)
        total = sum(c.weight for c in grade.checks)
        guards = all(c.ok for c in grade.checks)
        score = score_task(ScoreInputs(passed, total, 1, 1, 0, guards), Weights())
        assert score.partial == pytest.approx(partial) and score.success is False


def test_the_ray_executor_refuses_edit_tasks_before_joining_a_cluster(
    tmp_path: Path, setup_config: Path, cache_dir: Path
) -> None:
    pytest.importorskip("ray")
    proc = run_cli("run", "--config-dir", str(setup_config), "--task-set", "edit", "--agent", "oracle",
                   "--executor", "ray", "--runs-root", str(tmp_path / "runs"), cwd=tmp_path, timeout=120)  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "edit tasks are not supported yet (setup_fix)" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "runs").exists()
