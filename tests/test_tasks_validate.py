"""`agentgym tasks validate` over a config tree made here (real git repo, real bwrap trials through the real
runner, a real oracle plugin found through its entry point) and over the shipped l1 tasks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli, write_config

ROOT = Path(__file__).resolve().parents[1]

ANSWER = 'mkdir -p eval_artifacts && printf \'{"line": "%s"}\' > eval_artifacts/answer.json'
# A different wrong answer on every repeat: the check's actual value varies while success stays False.
UUID_ANSWER = (
    'mkdir -p eval_artifacts && printf \'{"line": "%s"}\' "$(cat /proc/sys/kernel/random/uuid)"'
    " > eval_artifacts/answer.json"
)

LINE_TASK = """\
id: {id}
repo: demo
initial_working_dir: .
instruction: Write the first non-empty line of README.md to eval_artifacts/answer.json, key "line".
outputs:
  - key: line
    type: str
    oracle: {{fn: readme_first_nonempty_line, args: {{path: README.md}}}}
solution:
  - {solution}
"""

NOP_PASSES = """\
id: nop_passes
repo: demo
initial_working_dir: .
instruction: Make sure README.md mentions Demo.
outputs:
  - key: mentions
    type: oracle_bool
    oracle: {fn: answer_md_contains, args: {path: README.md, must_contain: [Demo]}}
solution:
  - "true"
"""

FLAKY = """\
id: flaky_check
repo: demo
initial_working_dir: .
instruction: Write eval_artifacts/done.txt.
outputs:
  - key: done
    type: oracle_bool
    oracle: {{fn: counter_flip, args: {{counter: "{counter}", path: eval_artifacts/done.txt}}}}
solution:
  - mkdir -p eval_artifacts && echo done > eval_artifacts/done.txt
"""

FLAKY_EXPECTED = """\
id: flaky_expected
repo: demo
initial_working_dir: .
instruction: Write the number to eval_artifacts/answer.json, key "n".
outputs:
  - key: n
    type: int
    oracle: {{fn: counter_value, args: {{counter: "{counter}"}}}}
solution:
  - "true"
"""

# A real third-party oracle package (found through the agentgym.oracles entry point group) whose result depends
# on a counter file kept by the test outside every workspace: the 2nd call of counter_flip says False, so the
# 2nd of 3 repeats of the reference solution fails and the others pass; counter_value counts its calls.
PLUGIN = """\
from pathlib import Path


def _next(counter: str) -> int:
    path = Path(counter)
    n = int(path.read_text()) + 1
    path.write_text(str(n))
    return n


def counter_flip(root: Path, counter: str, path: str) -> bool:
    return _next(counter) != 2 and (root / path).is_file()


def counter_value(root: Path, counter: str) -> int:
    return _next(counter)
"""


def _plugin(folder: Path) -> Path:
    (folder / "flaky_oracle_plugin.py").write_text(PLUGIN)
    info = folder / "flaky_oracle_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flaky-oracle-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[agentgym.oracles]\ncounter_flip = flaky_oracle_plugin:counter_flip\n"
        "counter_value = flaky_oracle_plugin:counter_value\n"
    )
    return folder


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict, Path]:
    """One `tasks validate --repeats 3` over seven task files: the trials are the slow part, so they run once."""
    tmp = tmp_path_factory.mktemp("validate")
    repo = make_git_repo(tmp / "origin", {"README.md": "# Demo\n\ntext\n", "src/a.py": "X = 1\n"})
    for name in ("flip", "value"):
        (tmp / f"counter-{name}").write_text("0")
    tasks = {
        "task_good.yaml": LINE_TASK.format(id="good", solution=json.dumps(ANSWER % "# Demo")),
        "task_broken.yaml": LINE_TASK.format(id="broken_reference", solution=json.dumps(ANSWER % "# Wrong")),
        "task_nop.yaml": NOP_PASSES,
        "task_uuid.yaml": LINE_TASK.format(id="varying_answer", solution=json.dumps(UUID_ANSWER)),
        "task_flaky.yaml": FLAKY.format(counter=tmp / "counter-flip"),
        "task_flaky_expected.yaml": FLAKY_EXPECTED.format(counter=tmp / "counter-value"),
        "task_bad.yaml": LINE_TASK.format(id="bad_schema", solution="'true'") + "bogus: 1\n",
    }
    cfg = write_config(tmp / "cfg", str(repo), tasks)
    (tmp / "plugin").mkdir()
    plugin = _plugin(tmp / "plugin")
    env = {"AGENTGYM_CACHE": str(tmp / "cache"), "PYTHONPATH": f"{plugin}{os.pathsep}{ROOT}"}
    report = tmp / "report.json"
    proc = run_cli(
        "tasks", "validate", "--config-dir", str(cfg), "--repeats", "3", "--json", str(report), cwd=tmp, env=env
    )
    data = json.loads(report.read_text()) if report.is_file() else {}
    return proc.returncode, proc.stdout, data, tmp


def _line(stdout: str, task_id: str) -> str:
    lines = [line for line in stdout.splitlines() if line.split()[1].rstrip(":") == task_id]
    assert len(lines) == 1, stdout
    return lines[0]


def _task(data: dict, task_id: str) -> dict:
    return next(t for t in data["tasks"] if t["id"] == task_id)


def test_validate_exits_1_and_reports_every_task(validated: tuple[int, str, dict, Path]) -> None:
    code, stdout, data, _ = validated
    assert code == 1, stdout
    assert stdout.splitlines()[-1].startswith("7 task(s) x 3 repeat(s): 1 ok, 6 failed (load ")
    assert data["summary"] == {"tasks": 7, "ok": 1, "failed": 6} and data["ok"] is False
    assert set(data["timings"]) == {"load", "fetch", "expected", "oracle_runs", "nop_runs"}


def test_good_task_is_ok_with_every_step_timed(validated: tuple[int, str, dict, Path]) -> None:
    _, stdout, data, _ = validated
    assert _line(stdout, "good").startswith("ok    good  (schema ")
    good = _task(data, "good")
    assert good["ok"] and good["reasons"] == []
    names = [s["name"] for s in good["steps"]]
    assert names == ["schema", "oracles", "repo", "expected", "oracle runs", "nop runs"]
    assert all(s["ok"] and s["seconds"] >= 0 for s in good["steps"])
    assert [t["success"] for t in good["trials"]["oracle"]] == [True, True, True]
    assert [t["success"] for t in good["trials"]["nop"]] == [False, False, False]


def test_wrong_reference_solution_fails(validated: tuple[int, str, dict, Path]) -> None:
    _, stdout, data, _ = validated
    assert "FAIL  broken_reference: oracle runs: reference fails (3/3 repeats; line)" in stdout
    assert [t["checks"][0]["actual"] for t in _task(data, "broken_reference")["trials"]["oracle"]] == ["# Wrong"] * 3


def test_task_whose_nop_passes_fails(validated: tuple[int, str, dict, Path]) -> None:
    _, stdout, data, _ = validated
    assert _line(stdout, "nop_passes") == "FAIL  nop_passes: nop runs: nop passes (3/3 repeats)"
    assert _task(data, "nop_passes")["trials"]["oracle"][0]["success"] is True


def test_flaky_task_fails(validated: tuple[int, str, dict, Path]) -> None:
    _, stdout, data, tmp = validated
    line = _line(stdout, "flaky_check")
    assert "flaky (oracle agent): success differs across repeats (2/3 succeeded)" in line
    assert "reference fails (1/3 repeats; done)" in line
    assert [t["success"] for t in _task(data, "flaky_check")["trials"]["oracle"]] == [True, False, True]
    assert (tmp / "counter-flip").read_text() == "6"  # 3 oracle + 3 nop checks, each ran the plugin once
    value = _line(stdout, "flaky_expected")
    assert "flaky (expected values): the oracles' values differ across 3 computations" in value
    assert "trials" not in value and _task(data, "flaky_expected")["trials"] == {}


def test_check_value_that_varies_is_flaky(validated: tuple[int, str, dict, Path]) -> None:
    _, stdout, data, _ = validated
    line = _line(stdout, "varying_answer")
    assert "reference fails (3/3 repeats; line)" in line
    assert "flaky (oracle agent): check 'line' differs across repeats" in line
    actual = [t["checks"][0]["actual"] for t in _task(data, "varying_answer")["trials"]["oracle"]]
    assert len(set(actual)) == 3 and all(len(a) == 36 for a in actual), actual


def test_bad_file_is_reported_not_fatal(validated: tuple[int, str, dict, Path]) -> None:
    _, stdout, data, _ = validated
    line = _line(stdout, "bad_schema")
    assert line.startswith("FAIL  bad_schema: schema: ") and "bogus" in line
    assert [s["name"] for s in _task(data, "bad_schema")["steps"]] == ["schema"]


def test_selection_by_path_and_bad_input(tmp_path: Path, cache_dir: Path) -> None:
    repo = make_git_repo(tmp_path / "origin", {"README.md": "# Demo\n"})
    good = LINE_TASK.format(id="good", solution=json.dumps(ANSWER % "# Demo"))
    cfg = write_config(tmp_path / "cfg", str(repo), {"task_good.yaml": good, "task_bad.yaml": "id: x\n"})
    env = {"AGENTGYM_CACHE": str(cache_dir)}
    args = ["tasks", "validate", "--config-dir", str(cfg), "--quiet", "--repeats", "1"]
    proc = run_cli(*args, str(cfg / "tasks/l1/demo/task_good.yaml"), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].startswith("ok    good  (")
    assert proc.stdout.splitlines()[-1].startswith("1 task(s) x 1 repeat(s): 1 ok, 0 failed")
    for extra, message in (
        (["no_such_*"], "error: TASKS: no task file or task id in "),
        (["--task-set", "l9"], "error: task set 'l9': no folder "),
        (["--repos", "nope"], "error: --repos: unknown repo id 'nope' (known: demo)"),
    ):
        bad = run_cli(*args, *extra, cwd=tmp_path, env=env)
        assert bad.returncode == 2 and bad.stdout == "", bad.stdout + bad.stderr
        assert bad.stderr.startswith(message) and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_every_shipped_l1_task_validates(tmp_path: Path) -> None:
    proc = run_cli("tasks", "validate", "--task-set", "l1", "--repeats", "1", "--quiet", cwd=tmp_path, timeout=900)
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    if failed and all(": repo: repo '" in line for line in failed):
        pytest.skip(f"shipped PyPI sources unreachable here: {failed[0]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 31 and all(line.startswith("ok    ") for line in lines[:-1]), proc.stdout
    assert lines[-1].startswith("30 task(s) x 1 repeat(s): 30 ok, 0 failed")


def test_api_task_without_reference_solution_fails(tmp_path: Path, cache_dir: Path) -> None:
    from agentgym.runner.validate import ValidateRequest, validate_tasks

    repo = make_git_repo(tmp_path / "origin", {"README.md": "# Demo\n"})
    no_solution = LINE_TASK.format(id="no_solution", solution="'true'").split("solution:")[0]
    cfg = write_config(tmp_path / "cfg", str(repo), {"task_1.yaml": no_solution})
    report = validate_tasks(ValidateRequest(config_dir=cfg, tasks=["no_*"], repeats=2))
    assert not report.ok and [t.task_id for t in report.tasks] == ["no_solution"]
    assert report.tasks[0].reasons == ["oracle runs: reference fails: the task file has no reference solution"]
    assert [s.name for s in report.tasks[0].steps][-2:] == ["oracle runs", "nop runs"]
    assert "oracle" not in report.tasks[0].trials and len(report.tasks[0].trials["nop"]) == 2
    assert set(report.timings) == {"load", "fetch", "expected", "nop_runs"}


def _shipped_l2_lines(repo: str, tmp_path: Path) -> list[str]:
    """`tasks validate` over one repo's shipped l2 tasks (one test per repo, so task authors do not collide)."""
    args = ("tasks", "validate", "--task-set", "l2", "--repos", repo, "--repeats", "1", "--quiet")
    proc = run_cli(*args, cwd=tmp_path, timeout=600)
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    if failed and all(": repo: repo '" in line for line in failed):
        pytest.skip(f"shipped PyPI sources unreachable here: {failed[0]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def _assert_l2_repo_ok(repo: str, tmp_path: Path) -> None:
    lines = _shipped_l2_lines(repo, tmp_path)
    expected = [f"{repo}_l2_{n:03d}" for n in range(1, 6)]
    assert [line.split()[1] for line in lines[:-1]] == expected, lines
    assert all(line.startswith("ok ") for line in lines[:-1]), lines
    assert lines[-1].startswith("5 task(s) x 1 repeat(s): 5 ok, 0 failed"), lines


@pytest.mark.parametrize("repo", ["toolz", "semver", "cachetools", "tabulate"])
def test_shipped_l2_validates(repo: str, tmp_path: Path) -> None:
    _assert_l2_repo_ok(repo, tmp_path)
