"""`agentgym tasks mutate`: the mutation operators on small sources (the result parses, only the intended
span changes, the inverse restores the file), and the command through the real CLI and bwrap on a git repo
made here: kept mutants become tasks that `tasks validate` accepts, a mutant that hangs is discarded within
its timeout, bad input is one line."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from agentgym.sandbox.bwrap import bwrap_available
from agentgym.tasks_mutate.operators import OPERATORS, Mutation, all_mutations, find_mutations, sample, source_files
from tests.conftest import make_git_repo, run_cli

needs_bwrap = pytest.mark.skipif(not bwrap_available()[0], reason="bubblewrap cannot run here")


def _check(source: str, mutation: Mutation) -> str:
    """The mutated text: it parses, differs from `source` only in the mutation's span, and inverts back."""
    before = source.encode()
    after = mutation.apply(before)
    ast.parse(after)
    assert after[: mutation.start] == before[: mutation.start]
    tail = len(before) - mutation.end
    assert after[len(after) - tail :] == before[mutation.end :]
    assert after != before
    assert mutation.inverse().apply(after) == before
    return after.decode()


def _mutants(source: str, operator: str) -> list[str]:
    return [_check(source, m) for m in find_mutations("m.py", source.encode()) if m.operator == operator]


def test_compare_flips_each_operator() -> None:
    source = "def f(a, b, c):\n    return (a < b, a >= b, a == b, a is not None, a not in c, (a) in (c))\n"
    out = _mutants(source, "compare")
    assert len(out) == 6
    assert "(a <= b, a >= b" in out[0]
    assert "a > b, a == b" in out[1]
    assert "a != b" in out[2]
    assert "a is None" in out[3]
    assert "a in c, (a)" in out[4]
    assert "(a) not in (c)" in out[5]


def test_chained_compare_and_comment_in_gap() -> None:
    assert _mutants("x = 1 < y <= 3\n", "compare") == ["x = 1 <= y <= 3\n", "x = 1 < y < 3\n"]
    assert _mutants("x = (y <  # odd\n     3)\n", "compare") == []  # a comment between operands: left alone


def test_arith_flips_and_skips_concatenation() -> None:
    source = "def f(a, b, i):\n    i += 1\n    s = 'x' + a\n    return a * b - a // b\n"
    out = _mutants(source, "arith")
    assert "    i -= 1\n" in out[0]
    assert any("return a // b - a // b" in o for o in out)
    assert any("return a * b + a // b" in o for o in out)
    assert any("return a * b - a * b" in o for o in out)
    assert not any("'x' - a" in o for o in out)  # string concatenation is not arithmetic


def test_off_by_one_small_ints_only() -> None:
    source = "def f(xs):\n    return xs[0] + range(10)[3] + 11 + 0x2 + True\n"
    out = _mutants(source, "off_by_one")
    assert [o.split("return ")[1] for o in out] == [
        "xs[1] + range(10)[3] + 11 + 0x2 + True\n",
        "xs[0] + range(11)[3] + 11 + 0x2 + True\n",
        "xs[0] + range(10)[4] + 11 + 0x2 + True\n",
    ]


def test_branch_negates_if_but_not_guards() -> None:
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\n\n\ndef f(x):\n"
        "    if x > 1 and x < 5:\n        return 1\n    elif x:\n        return 2\n    return 3\n\n\n"
        'if __name__ == "__main__":\n    f(1)\n'
    )
    out = _mutants(source, "branch")
    assert len(out) == 2
    assert "    if not (x > 1 and x < 5):\n" in out[0]
    assert "    elif not (x):\n" in out[1]


def test_drop_call_only_in_functions() -> None:
    source = "setup()\n\n\ndef f(xs):\n    xs.append(  # keep\n        1,\n    )\n    return xs\n"
    out = _mutants(source, "drop_call")
    assert out == ["setup()\n\n\ndef f(xs):\n    pass\n    return xs\n"]


def test_boolean_flips() -> None:
    source = "def f(a, b):\n    if a and b:\n        return True\n    return a or b or a\n"
    out = _mutants(source, "boolean")
    assert "    if a or b:\n" in out[0]
    assert "        return False\n" in out[1]
    assert len(out) == 2  # a three-way `or` is left alone (one flip would change precedence)


def test_byte_offsets_after_non_ascii_text() -> None:
    source = "def f(a):\n    s = 'héllo wörld'; return a < 2\n"
    out = _mutants(source, "compare")
    assert out == ["def f(a):\n    s = 'héllo wörld'; return a <= 2\n"]


def test_apply_refuses_a_changed_source() -> None:
    mutation = find_mutations("m.py", b"x = a < b\n")[0]
    with pytest.raises(ValueError, match="does not hold"):
        mutation.apply(b"x = a + b\n")


def test_source_files_and_sampling(tmp_path: Path) -> None:
    files = {
        "src/pkg/__init__.py": "",
        "src/pkg/core.py": "def f(a, b):\n    if a < b:\n        g()\n    return a + 1\n",
        "src/pkg/tests/test_core.py": "def test_f():\n    assert 1 < 2\n",
        "tests/conftest.py": "x = 1 < 2\n",
        "test_top.py": "x = 1 < 2\n",
        "setup.py": "x = 1 < 2\n",
        "docs/conf.py": "x = 1 < 2\n",
        "conftest.py": "x = 1 < 2\n",
        "src/pkg/broken.py": "def (:\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert source_files(tmp_path) == ["src/pkg/__init__.py", "src/pkg/broken.py", "src/pkg/core.py"]
    assert source_files(tmp_path, "*/core.py") == ["src/pkg/core.py"]
    sites = all_mutations(tmp_path)
    assert {m.path for m in sites} == {"src/pkg/core.py"}  # the unparsable file gives none
    assert {m.operator for m in sites} == set(OPERATORS) - {"boolean"}
    first = sample(sites, 5, seed=7)
    assert first == sample(sites, 5, seed=7)
    assert len({m.operator for m in first}) == 5  # one of each operator before a second of any
    assert {m.operator for m in all_mutations(tmp_path, operators=("arith",))} == {"arith"}


# ------------------------------------------------------------------------------------ the command

CALC = """\
def add(a, b):
    return a + b


def total_below(n):
    total = 0
    i = 0
    while i < n:
        total += i
        i += 1
    return total
"""
TESTS = """\
from calc import add, total_below


def test_add():
    assert add(2, 3) == 5


def test_add_zero():
    assert add(0, 0) == 0


def test_total_below():
    assert total_below(4) == 6
"""
LINE = re.compile(r"^(\S+)\s+(\w+) (\S+):(\d+) .*\((\d+\.\d)s\)$")


@pytest.fixture
def calc_config(tmp_path: Path) -> Path:
    origin = make_git_repo(tmp_path / "origin", {"calc.py": CALC, "tests/__init__.py": "", "tests/test_calc.py": TESTS})
    cfg = tmp_path / "cfg"
    (cfg / "repos").mkdir(parents=True)
    (cfg / "repos" / "calc.yaml").write_text(f"id: calc\nurl: {origin}\nref: main\n")
    return cfg


def _mutate(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["tasks", "mutate", "--repo-id", "calc", "--config-dir", str(cfg), *extra]
    return run_cli(*args, cwd=cfg.parent)


@needs_bwrap
def test_mutate_writes_valid_tasks_and_discards_a_hang(calc_config: Path, cache_dir: Path) -> None:
    proc = _mutate(calc_config, "--operators", "arith", "--timeout", "4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [LINE.match(line) for line in proc.stdout.splitlines()[:-1]]
    assert all(lines), proc.stdout
    verdicts = {m.group(4): (m.group(1), float(m.group(5))) for m in lines if m}
    assert sorted(verdicts) == ["10", "2", "9"]  # the three `arith` sites: a + b, total += i, i += 1
    assert verdicts["10"][0] == "timeout" and verdicts["10"][1] < 4 + 3  # `i -= 1` hangs: discarded at 4 s
    assert {verdicts["2"][0], verdicts["9"][0]} == {"task_mut_001.yaml", "task_mut_002.yaml"}
    assert "3 of 3 mutation site(s) sampled, 3 of 3 test(s) stable" in proc.stdout.splitlines()[-1]

    folder = calc_config / "tasks" / "mutated" / "calc"
    name = verdicts["2"][0].removeprefix("task_").removesuffix(".yaml")
    task = yaml.safe_load((folder / f"task_{name}.yaml").read_text())
    assert task["id"] == f"calc_{name}" and task["kind"] == "edit" and task["tags"] == ["mutation", "arith"]
    assert task["setup_patch"] == f"{name}.setup.patch" and task["reference_patch"] == f"{name}.reference.patch"
    assert task["grading"]["fail_to_pass"] == ["tests/test_calc.py::test_add"]
    assert task["grading"]["pass_to_pass"] == [
        "tests/test_calc.py::test_add_zero",
        "tests/test_calc.py::test_total_below",
    ]
    assert task["visible_tests"] == ["tests/test_calc.py"]
    assert "tests/test_calc.py::test_add" in task["instruction"] and "a - b" not in task["instruction"]
    assert "-    return a + b\n+    return a - b\n" in (folder / f"{name}.setup.patch").read_text()
    assert "-    return a - b\n+    return a + b\n" in (folder / f"{name}.reference.patch").read_text()

    again = _mutate(calc_config, "--operators", "arith")
    assert again.returncode == 2 and "exist already" in again.stderr and len(again.stderr.splitlines()) == 1

    check = run_cli(
        "tasks",
        "validate",
        "--config-dir",
        str(calc_config),
        "--task-set",
        "mutated",
        "--repeats",
        "1",
        "--quiet",
        cwd=calc_config.parent,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "2 task(s) x 1 repeat(s): 2 ok, 0 failed" in check.stdout


@needs_bwrap
def test_mutate_no_task_when_every_mutant_survives(calc_config: Path, cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sets"
    proc = _mutate(calc_config, "--operators", "compare", "--out", str(out), "--tests", "tests/test_calc.py::test_add")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("survived") and "0 kept, rejected: survived 1" in proc.stdout
    assert not (out / "calc").exists()


def test_mutate_bad_input_is_one_line(calc_config: Path, cache_dir: Path) -> None:
    proc = run_cli("tasks", "mutate", "--repo-id", "nope", "--config-dir", str(calc_config), cwd=calc_config.parent)
    assert proc.returncode == 2
    assert "--repo-id: unknown repo id 'nope' (known: calc)" in proc.stderr and len(proc.stderr.splitlines()) == 1
    proc = _mutate(calc_config, "--operators", "swap")
    assert proc.returncode == 2 and "--operators: unknown operator 'swap'" in proc.stderr
