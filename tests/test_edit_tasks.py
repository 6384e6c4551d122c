"""Edit tasks end to end: the real CLI, a scripted model over HTTP, real bwrap and a real git repo with a bug.
Grading runs in a fresh sandbox on the agent's tree with test files restored and hidden tests copied in."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.sandbox.bwrap import bwrap_available
from tests.conftest import make_git_repo, run_cli, scripted_run_args

pytestmark = pytest.mark.skipif(not bwrap_available()[0], reason="bubblewrap cannot run here")

CALC_BUGGY = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
CALC_FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
TESTS = "from calc import add, mul\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n"
MARKER = "HIDDEN" + "_MARK_" + "7f3a9c"  # never written whole in a command the agent runs
HIDDEN = f"# {MARKER}\nfrom calc import add\n\n\ndef test_add_more():\n    assert add(-1, 1) == 0\n"
REPO = {"calc.py": CALC_BUGGY, "tests/__init__.py": "", "tests/test_calc.py": TESTS, "README.md": "calc\n"}
PATCH = """\
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b
+    return a + b
"""
FAKE_PYTEST = """\
import sys

ids = [a for a in sys.argv[1:] if "::" in a]
report = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--junitxml=")), None)
cases = []
for node in ids:
    path, _, name = node.rpartition("::")
    cases.append(f'<testcase classname="{path[:-3].replace("/", ".")}" name="{name}"/>')
if report:
    open(report, "w").write("<testsuites><testsuite>" + "".join(cases) + "</testsuite></testsuites>")
print(f"{len(ids)} passed")
"""
CHEAT_CONFTEST = """\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
"""


def task_yaml(task_id: str, instruction: str, f2p: list[str] | None = None) -> str:
    f2p = f2p or ["tests/test_calc.py::test_add", "tests/test_hidden.py::test_add_more"]
    return textwrap.dedent(f"""\
        id: {task_id}
        repo: calc
        kind: edit
        instruction: "{instruction} Fix add() in calc.py."
        visible_tests: [tests/test_calc.py]
        grading:
          fail_to_pass: {json.dumps(f2p)}
          pass_to_pass: ["tests/test_calc.py::test_mul"]
          time_limit_seconds: 120
          hidden_tests:
            - {{src: hidden/test_hidden.py, dest: tests/test_hidden.py}}
        reference_patch: fix.patch
        max_commands: 6
        timeout_seconds: 120
        """)


SCENARIOS = {
    "edit_fix": ("SCENARIO-FIX.", None),
    "edit_cheat_test": ("SCENARIO-CHEAT-TEST.", None),
    "edit_conftest": ("SCENARIO-CONFTEST.", None),
    "edit_nothing": ("SCENARIO-NOTHING.", None),
    "edit_plugin": ("SCENARIO-PLUGIN.", None),
    "edit_symlink": ("SCENARIO-SYMLINK.", None),
    "edit_fake_pytest": ("SCENARIO-FAKE-PYTEST.", None),
    "edit_none_ran": ("SCENARIO-NONE-RAN.", ["tests/test_absent.py::test_gone"]),
}
SCRIPTS = {
    "SCENARIO-FIX.": [
        {"tool": "write_file", "args": {"path": "calc.py", "content": CALC_FIXED}},
        {"tool": "run_command", "args": {"command": "python -m pytest -q -p no:cacheprovider tests/test_calc.py"}},
        {
            "tool": "run_command",
            "args": {
                "command": 'ls -a /repo; M=HIDDEN; grep -rlF "${M}_MARK_7f3a9c" / '
                "--exclude-dir=proc --exclude-dir=sys --exclude-dir=usr; "
                "find / -path /proc -prune -o -name 'test_hidden*' -print 2>/dev/null; echo searched"
            },
        },
        {"content": "fixed"},
    ],
    "SCENARIO-CHEAT-TEST.": [
        {
            "tool": "write_file",
            "args": {
                "path": "tests/test_calc.py",
                "content": "def test_add():\n    pass\n\n\ndef test_mul():\n    pass\n",
            },
        },
        {"tool": "write_file", "args": {"path": "tests/test_hidden.py", "content": "def test_add_more():\n    pass\n"}},
        {"content": "tests pass now"},
    ],
    "SCENARIO-CONFTEST.": [
        {"tool": "write_file", "args": {"path": "conftest.py", "content": CHEAT_CONFTEST}},
        {"tool": "write_file", "args": {"path": "tests/conftest.py", "content": CHEAT_CONFTEST}},
        {"tool": "run_command", "args": {"command": "python -m pytest -q -p no:cacheprovider tests/test_calc.py"}},
        {"content": "all green"},
    ],
    "SCENARIO-NOTHING.": [{"content": "nothing to do"}],
    "SCENARIO-FAKE-PYTEST.": [  # a pytest.py that shadows the real one and writes a passing report
        {"tool": "write_file", "args": {"path": "pytest.py", "content": FAKE_PYTEST}},
        {"tool": "run_command", "args": {"command": "python -m pytest tests/test_calc.py::test_add"}},
        {"content": "green"},
    ],
    "SCENARIO-SYMLINK.": [  # the test folder replaced by a link to the agent's own always-passing tests
        {
            "tool": "run_command",
            "args": {
                "command": "mkdir fake && touch fake/__init__.py && for t in test_calc test_hidden; do "
                "printf 'def test_add():\\n    pass\\n\\ndef test_mul():\\n    pass\\n\\n"
                "def test_add_more():\\n    pass\\n' > fake/$t.py; done && rm -rf tests && ln -s fake tests"
                " && python -m pytest -q -p no:cacheprovider tests/test_calc.py"
            },
        },
        {"content": "green"},
    ],
    "SCENARIO-PLUGIN.": [  # a pytest plugin registered by planted package metadata, plus interpreter hooks
        {"tool": "write_file", "args": {"path": "evilplug.py", "content": CHEAT_CONFTEST}},
        {
            "tool": "write_file",
            "args": {"path": "evil-1.0.dist-info/entry_points.txt", "content": "[pytest11]\nevil = evilplug\n"},
        },
        {
            "tool": "write_file",
            "args": {"path": "evil-1.0.dist-info/METADATA", "content": "Name: evil\nVersion: 1.0\n"},
        },
        {"tool": "write_file", "args": {"path": "sitecustomize.py", "content": "import evilplug\n"}},
        {"tool": "write_file", "args": {"path": "evil.pth", "content": "import evilplug\n"}},
        {"tool": "run_command", "args": {"command": "python -m pytest -q -p no:cacheprovider tests/test_calc.py"}},
        {"content": "all green"},
    ],
    "SCENARIO-NONE-RAN.": [
        {"tool": "write_file", "args": {"path": "calc.py", "content": CALC_FIXED}},
        {"content": "fixed"},
    ],
}


@pytest.fixture
def edit_config(tmp_path: Path) -> Path:
    origin = make_git_repo(tmp_path / "origin", REPO)
    cfg = tmp_path / "cfg"
    (cfg / "repos").mkdir(parents=True)
    (cfg / "repos" / "calc.yaml").write_text(f"id: calc\nurl: {origin}\nref: main\ninitial_working_dir: .\n")
    task_dir = cfg / "tasks" / "edit" / "calc"
    (task_dir / "hidden").mkdir(parents=True)
    (task_dir / "hidden" / "test_hidden.py").write_text(HIDDEN)
    (task_dir / "fix.patch").write_text(PATCH)
    for task_id, (instruction, f2p) in SCENARIOS.items():
        (task_dir / f"task_{task_id}.yaml").write_text(task_yaml(task_id, instruction, f2p))
    return cfg


def _results(run: Path) -> dict[str, dict]:
    return {p.stem.split("-")[0]: json.loads(p.read_text()) for p in (run / "results" / "calc").glob("edit_*.json")}


def _run(cfg: Path, tmp: Path, *extra: str, server: ScriptedServer | None = None, name: str = "runs") -> Path:
    runs = tmp / name
    base = (
        scripted_run_args(cfg, runs, server.base_url)
        if server
        else ["run", "--config-dir", str(cfg), "--runs-root", str(runs)]
    )
    proc = run_cli(*base, "--task-set", "edit", *extra, cwd=tmp, env={"OPENAI_API_KEY": "sk-test"}, timeout=500)
    assert proc.returncode in (0, 1, 4), proc.stderr[-3000:]  # 4: a harness_error trial
    return sorted(runs.glob("*"))[-1]


def test_edit_task_life_cycle(tmp_path: Path, edit_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as server:
        run = _run(edit_config, tmp_path, server=server)
    res = _results(run)
    assert set(res) == set(SCENARIOS)

    fix = res["edit_fix"]
    assert fix["metrics"]["success"] is True, fix["output_checks"]
    assert [c["ok"] for c in fix["output_checks"]] == [True, True, True]
    calls = [c["tool_output"] for c in fix["transcript"]["tool_calls"]]
    assert "2 passed" in calls[1]["stdout"]  # the agent ran its visible tests with the test environment
    listing = calls[2]["stdout"]
    assert "calc.py" in listing and ".git" not in listing.split()  # no history in the agent's view
    assert listing.strip().endswith("searched") and MARKER not in listing and "test_hidden" not in listing
    patch = (run / "artifacts" / "calc" / "edit_fix" / "patch.diff").read_text()
    assert patch.startswith("diff --git a/calc.py b/calc.py\n") and "+    return a + b" in patch

    for cheat in ("edit_cheat_test", "edit_conftest", "edit_plugin", "edit_symlink", "edit_fake_pytest"):
        r = res[cheat]
        assert r["metrics"]["success"] is False and r["failure_reason"] == "wrong_answer", r["output_checks"]
        checks = {c["key"]: c["ok"] for c in r["output_checks"]}
        assert checks["tests/test_calc.py::test_add"] is False and checks["tests/test_calc.py::test_mul"] is True
        assert r["metrics"]["partial_score"] == 0 and r["metrics"]["score_0_100"] == 0  # pass_to_pass: no credit
    conftest_calls = [c["tool_output"] for c in res["edit_conftest"]["transcript"]["tool_calls"]]
    assert "2 passed" in conftest_calls[2]["stdout"]  # the plant did fool the agent's own test run
    plugin_calls = [c["tool_output"] for c in res["edit_plugin"]["transcript"]["tool_calls"]]
    assert "2 passed" in plugin_calls[5]["stdout"]  # so did the planted entry point
    fake_calls = [c["tool_output"] for c in res["edit_fake_pytest"]["transcript"]["tool_calls"]]
    assert fake_calls[1]["stdout"].strip() == "1 passed"  # the fake ran in the agent's sandbox
    link_calls = [c["tool_output"] for c in res["edit_symlink"]["transcript"]["tool_calls"]]
    assert "3 passed" in link_calls[0]["stdout"], link_calls[0]  # and the linked test folder
    patch = (run / "artifacts" / "calc" / "edit_plugin" / "patch.diff").read_text()
    assert "b/evil-1.0.dist-info/entry_points.txt" in patch and "b/sitecustomize.py" in patch

    nothing = res["edit_nothing"]
    assert nothing["metrics"]["success"] is False and nothing["failure_reason"] == "wrong_answer"
    assert (run / "artifacts" / "calc" / "edit_nothing" / "patch.diff").read_text() == ""

    snapshots = list((cache_dir / "snapshots").glob("*/calc.py"))
    assert snapshots and all(p.read_text() == CALC_BUGGY for p in snapshots)  # every write stayed in overlays
    assert all((p.parent / "tests" / "test_calc.py").read_text() == TESTS for p in snapshots)
    assert not any((p.parent / "conftest.py").exists() for p in snapshots)

    none_ran = res["edit_none_ran"]
    assert none_ran["failure_reason"] == "harness_error"
    assert "no grading test ran" in none_ran["error"], none_ran["error"]


def test_oracle_applies_reference_patch_and_nop_fails(tmp_path: Path, edit_config: Path, cache_dir: Path) -> None:
    oracle = _results(_run(edit_config, tmp_path, "--agent", "oracle", "--tasks", "edit_fix"))
    assert oracle["edit_fix"]["metrics"]["success"] is True, oracle["edit_fix"]["output_checks"]
    nop = _results(_run(edit_config, tmp_path, "--agent", "nop", "--tasks", "edit_fix", name="nop"))
    assert nop["edit_fix"]["metrics"]["success"] is False


REWRITER = CALC_FIXED.replace(
    "def add", "import pathlib\n\npathlib.Path('tests/test_hidden.py').write_text('')\n\n\ndef add"
)


def test_code_under_test_cannot_rewrite_tests_during_grading(
    tmp_path: Path, edit_config: Path, cache_dir: Path
) -> None:
    """calc.py rewrites a hidden test at import time: the grading tree is read-only, so the import fails
    there and the module's tests fail (a collection error, not a harness error)."""
    scripts = {"SCENARIO-FIX.": [{"tool": "write_file", "args": {"path": "calc.py", "content": REWRITER}}]}
    with ScriptedServer(ScriptByTask(scripts)) as server:
        res = _results(_run(edit_config, tmp_path, "--tasks", "edit_fix", server=server))
    r = res["edit_fix"]
    assert r["metrics"]["success"] is False and r["failure_reason"] == "wrong_answer", r["error"]
    assert not any(c["ok"] for c in r["output_checks"])


def test_edit_task_under_the_local_sandbox(tmp_path: Path, edit_config: Path, cache_dir: Path) -> None:
    """--sandbox local (no isolation): the test environment is found by its host path, grading still works."""
    res = _results(_run(edit_config, tmp_path, "--agent", "oracle", "--sandbox", "local", "--tasks", "edit_fix"))
    assert res["edit_fix"]["metrics"]["success"] is True, (res["edit_fix"]["error"], res["edit_fix"]["output_checks"])


def test_tasks_validate_passes_a_sound_edit_task(tmp_path: Path, edit_config: Path, cache_dir: Path) -> None:
    """validate links task files into a temporary tree: the reference patch and hidden tests are still found
    beside the real file, and the reference patch counts as the oracle's reference."""
    done = run_cli("tasks", "validate", "edit_fix", "--task-set", "edit", "--repeats", "2",
                   "--config-dir", str(edit_config), cwd=tmp_path, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^ok\s+edit_fix", done.stdout, re.M), done.stdout
