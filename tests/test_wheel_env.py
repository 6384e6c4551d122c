"""Per-repo test environments from pinned wheels (repo field `test_env`, grading/wheelenv.py).

Real wheel files made with zipfile, served by a PEP 503 index on 127.0.0.1; the edit task runs through the
real CLI and real bwrap with a pytest that comes from wheels of the harness's own installed distributions.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
import zipfile
from pathlib import Path

import pytest

from agentgym.errors import SpecError
from agentgym.grading.testenv import TestEnvironment, sandbox_python
from agentgym.grading.wheelenv import wheel_environment
from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.sandbox.bwrap import bwrap_available
from agentgym.specs.repo import TestEnvSpec
from tests.conftest import make_git_repo, run_cli, scripted_run_args
from tests.wheelkit import PYTEST_DISTS, Index, installed_wheel, make_wheel, pip_env, serve_index, sha256

needs_bwrap = pytest.mark.skipif(not bwrap_available()[0], reason="bubblewrap cannot run here")

WHEELONLY = b"def scale(x, k):\n    return x * k\n"
LIB_BUGGY = "from wheelonly import scale\n\n\ndef double(x):\n    return scale(x, 3)\n"
VISIBLE = "from wlib import double\n\n\ndef test_double():\n    assert double(2) == 4\n"
HIDDEN = """\
import os

import _pytest
import wheelonly


def test_from_the_env():
    site = os.environ["PYTHONPATH"].split(os.pathsep)[-1]
    assert wheelonly.__file__.startswith(site) and _pytest.__file__.startswith(site)


def test_env_view_is_read_only():
    assert os.environ["PYTHONPATH"].split(os.pathsep) == ["/repo/src", "/.agentgym-env/site"]
    for target in (os.path.join(os.path.dirname(wheelonly.__file__), "planted.py"), wheelonly.__file__):
        try:
            open(target, "a").close()
        except OSError:
            continue
        raise AssertionError(f"{target} is writable")
"""
PATCH = """\
--- a/src/wlib/__init__.py
+++ b/src/wlib/__init__.py
@@ -4,2 +4,2 @@
 def double(x):
-    return scale(x, 3)
+    return scale(x, 2)
"""


SHADOW = "def scale(x, k):\n    return 2 * x\n"  # makes double() pass without fixing it
SHADOW_SCRIPT = [
    {"tool": "write_file", "args": {"path": "src/wheelonly.py", "content": SHADOW}},
    {"tool": "run_command", "args": {"command": "python -m pytest -q -p no:cacheprovider tests/test_wlib.py"}},
    {"content": "green"},
]


def _task(task_id: str, f2p: list[str]) -> str:
    return textwrap.dedent(f"""\
        id: {task_id}
        repo: wlib
        kind: edit
        instruction: "{task_id.upper()}. Fix double() in src/wlib/__init__.py."
        visible_tests: [tests/test_wlib.py]
        grading:
          fail_to_pass: {json.dumps(f2p)}
          time_limit_seconds: 120
          hidden_tests:
            - {{src: hidden/test_hidden.py, dest: tests/test_hidden.py}}
        reference_patch: fix.patch
        max_commands: 4
        timeout_seconds: 120
        """)


@pytest.fixture(scope="module")
def real_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """pytest and its dependencies as wheels, plus `wheelonly`, which nothing else on this machine provides."""
    folder = tmp_path_factory.mktemp("wheels")
    made = [installed_wheel(folder, name) for name in PYTEST_DISTS]
    return [*made, make_wheel(folder, "wheelonly", "1.0", {"wheelonly/__init__.py": WHEELONLY})]


def _registry(origin: Path, wheels: list[Path], pins: dict[str, str] | None = None) -> str:
    lines = [f"id: wlib\nurl: {origin}\nref: main\ntest_env:\n  pythonpath: [src]\n  wheels:\n"]
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        sha = (pins or {}).get(name, sha256(wheel))
        lines.append(f'    - {{requirement: "{name}=={version}", sha256: "{sha}"}}\n')
    return "".join(lines)


def _config(tmp: Path, wheels: list[Path], pins: dict[str, str] | None = None) -> Path:
    files = {"src/wlib/__init__.py": LIB_BUGGY, "tests/test_wlib.py": VISIBLE, "README.md": "wlib\n"}
    origin = make_git_repo(tmp / "origin", files)
    cfg = tmp / "cfg"
    (cfg / "repos").mkdir(parents=True)
    (cfg / "repos" / "wlib.yaml").write_text(_registry(origin, wheels, pins))
    task_dir = cfg / "tasks" / "edit" / "wlib"
    (task_dir / "hidden").mkdir(parents=True)
    (task_dir / "hidden" / "test_hidden.py").write_text(HIDDEN)
    (task_dir / "fix.patch").write_text(PATCH)
    hidden = "tests/test_hidden.py::"
    both = ["tests/test_wlib.py::test_double", f"{hidden}test_from_the_env"]
    (task_dir / "task_w_fix.yaml").write_text(_task("w_fix", [*both, f"{hidden}test_env_view_is_read_only"]))
    (task_dir / "task_w_local.yaml").write_text(_task("w_local", both))
    (task_dir / "task_w_shadow.yaml").write_text(_task("w_shadow", both))
    return cfg


def _run(cfg: Path, tmp: Path, index: Index, name: str, *extra: str) -> tuple[Path, dict]:
    runs = tmp / name
    args = ["run", "--config-dir", str(cfg), "--runs-root", str(runs), "--task-set", "edit", "--agent", "oracle"]
    proc = run_cli(*args, *extra, cwd=tmp, env=pip_env(index), timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run = sorted(runs.glob("*"))[-1]
    task = extra[extra.index("--tasks") + 1]
    return run, json.loads((run / "results" / "wlib" / f"{task}.json").read_text())


@needs_bwrap
def test_edit_task_runs_on_the_wheel_environment(tmp_path: Path, real_wheels: list[Path], cache_dir: Path) -> None:
    cfg = _config(tmp_path, real_wheels)
    with serve_index(real_wheels) as index:
        index.unhashed.add(real_wheels[-1].name)  # listed without a hash: downloaded, then judged by its bytes
        run, result = _run(cfg, tmp_path, index, "runs", "--tasks", "w_fix")
        assert result["metrics"]["success"] is True, (result["error"], result["output_checks"])
        assert [c["ok"] for c in result["output_checks"]] == [True, True, True]
        config = json.loads((run / "results" / "run_config.json").read_text())
        env = config["test_environments"]["wlib"]
        assert env["kind"] == "wheels" and env["python"] == sandbox_python() and env["pythonpath"] == ["src"]
        assert env["packages"]["wheelonly"] == "1.0" and set(PYTEST_DISTS) <= set(env["packages"])
        assert {w["file"]: w["sha256"] for w in env["wheels"]} == {w.name: sha256(w) for w in real_wheels}
        folder = cache_dir / "testenv" / f"wheels-{env['key']}"
        assert not os.stat(folder / "site" / "wheelonly" / "__init__.py").st_mode & 0o222
        asked = len(index.requests)
        assert asked >= 2 * len(real_wheels)  # a page and a file per pin

        # a second plan (here under the local sandbox: pythonpath maps to the workspace) asks the index nothing
        _, local = _run(cfg, tmp_path, index, "runs-local", "--tasks", "w_local", "--sandbox", "local")
        assert local["metrics"]["success"] is True, (local["error"], local["output_checks"])
        assert len(index.requests) == asked

        # a module planted in src/ under a name the environment provides shadows it for the agent, not for grading
        with ScriptedServer(ScriptByTask({"W_SHADOW.": SHADOW_SCRIPT})) as server:
            args = [*scripted_run_args(cfg, tmp_path / "runs-shadow", server.base_url), "--task-set", "edit"]
            proc = run_cli(*args, "--tasks", "w_shadow", cwd=tmp_path, env={**pip_env(index), "OPENAI_API_KEY": "k"})
        assert proc.returncode in (0, 1), proc.stderr[-3000:]
        shadow = json.loads(next((tmp_path / "runs-shadow").glob("*/results/wlib/w_shadow.json")).read_text())
        assert "1 passed" in shadow["transcript"]["tool_calls"][1]["tool_output"]["stdout"]  # it fooled the agent
        checks = {c["key"]: c["ok"] for c in shadow["output_checks"]}
        assert checks == {"tests/test_wlib.py::test_double": False, "tests/test_hidden.py::test_from_the_env": True}


def test_wrong_sha256_is_one_line_naming_the_repo_file(tmp_path: Path, cache_dir: Path) -> None:
    wheels = [make_wheel(tmp_path / "w", "pytest", "9.0.0", {"pytest.py": b""})]
    cfg = _config(tmp_path, wheels, pins={"pytest": "ab" * 32})
    with serve_index(wheels) as index:
        proc = run_cli("run", "--config-dir", str(cfg), "--runs-root", str(tmp_path / "runs"), "--task-set", "edit",
                       "--agent", "oracle", cwd=tmp_path, env=pip_env(index))  # fmt: skip
        validate = run_cli("tasks", "validate", "--task-set", "edit", "--repeats", "1", "--config-dir", str(cfg),
                           cwd=tmp_path, env=pip_env(index))  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith(("snapshot ", "test environment "))]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr  # progress lines, then one error
    assert str(cfg / "repos" / "wlib.yaml") in lines[0] and "pytest==9.0.0" in lines[0]
    assert "sha256 mismatch" in lines[0] and "ab" * 32 in lines[0]
    assert validate.returncode != 0 and "test env: " in validate.stdout and "sha256 mismatch" in validate.stdout


# --- building, without a sandbox --------------------------------------------------------------------------------


def _build(tmp: Path, monkeypatch: pytest.MonkeyPatch, index: Index, wheels: list[Path], **kw: bool) -> TestEnvironment:
    for key, value in pip_env(index).items():
        monkeypatch.setenv(key, value)
    spec = TestEnvSpec.model_validate(
        {"wheels": [{"requirement": "{}=={}".format(*w.name.split("-")[:2]), "sha256": sha256(w)} for w in wheels]}
    )
    return wheel_environment("wlib", tmp / "repos" / "wlib.yaml", spec, **kw)


def _fake_pytest(folder: Path) -> Path:
    return make_wheel(folder, "pytest", "9.0.0", {"pytest/__init__.py": b"VERSION = 'fake'\n"})


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


BAD_WHEELS = {
    "dotdot": ({"raw": [(_info("../escape.py", 0o100644), b"x = 1\n")]}, "'..'"),
    "absolute": ({"raw": [(_info("/abs.py", 0o100644), b"x = 1\n")]}, "absolute"),
    "symlink": ({"raw": [(_info("evil/link", stat.S_IFLNK | 0o777), b"/etc/passwd")]}, "is a symlink"),
    "fifo": ({"raw": [(_info("evil/pipe", stat.S_IFIFO | 0o644), b"")]}, "not a regular file"),
    "record": ({"record": {"evil/__init__.py": "sha256=" + "A" * 43}}, "does not match its RECORD entry"),
    "platform": ({"tag": "cp311-cp311-manylinux_2_17_x86_64"}, "is a platform wheel"),
    "python": ({"tag": "py2-none-any"}, "not the sandbox's python 3."),
    "future": ({"tag": "cp399-none-any"}, "not the sandbox's python 3."),
}


@pytest.mark.parametrize("case", sorted(BAD_WHEELS))
def test_unsafe_or_unusable_wheels_are_refused(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    options, why = BAD_WHEELS[case]
    evil = make_wheel(tmp_path / "w", "evil", "1.0", {"evil/__init__.py": b"X = 1\n"}, **options)  # type: ignore[arg-type]
    wheels = [evil, _fake_pytest(tmp_path / "w")]
    with serve_index(wheels) as index, pytest.raises(SpecError) as caught:
        _build(tmp_path, monkeypatch, index, wheels)
    message = caught.value.message
    assert message.startswith(f"{tmp_path / 'repos' / 'wlib.yaml'}: field test_env.wheels: evil==1.0: "), message
    assert why in message and "\n" not in message
    assert not (tmp_path / "escape.py").exists() and not list((cache_dir / "testenv").glob("wheels-*"))


def test_warm_lookup_asks_no_index_and_offline_needs_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    data = make_wheel(tmp_path / "w", "extra-lib", "2.0", {"extra_lib.py": b"Y = 2\n",
                      "extra_lib-2.0.data/scripts/tool": b"#!/bin/sh\n", "extra_lib-2.0.data/purelib/more.py": b""})  # fmt: skip
    wheels = [_fake_pytest(tmp_path / "w"), data]
    with serve_index(wheels) as index:
        with pytest.raises(SpecError, match=r"wlib\.yaml: field test_env: offline and its environment \(wheels-"):
            _build(tmp_path, monkeypatch, index, wheels, offline=True)
        assert index.requests == []
        env = _build(tmp_path, monkeypatch, index, wheels)
        asked = len(index.requests)
        again = _build(tmp_path, monkeypatch, index, wheels, offline=True)
        assert again == env and len(index.requests) == asked
    site = env.host_dir / "site"
    assert sorted(p.name for p in site.iterdir()) == sorted(
        ["pytest", "extra_lib.py", "more.py", "pytest-9.0.0.dist-info", "extra_lib-2.0.dist-info"]
    )  # .data/purelib mapped into site/, .data/scripts left out
    assert env.packages == {"pytest": "9.0.0", "extra-lib": "2.0"} and env.kind == "wheels"
    assert env.env()["PYTHONPATH"] == "/.agentgym-env/site" and os.readlink(env.host_dir / "bin" / "python")


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("requirement", "pytest>=9", "NAME==VERSION"),
        ("sha256", "abc", "64 lowercase hex"),
        ("pythonpath", "../up", "without '..'"),
        ("pythonpath", "/abs", "relative path"),
        ("extra", "x", "Extra inputs"),
    ],
)
def test_test_env_field_is_validated(field: str, value: str, why: str) -> None:
    pin = {"requirement": "pytest==9.0.3", "sha256": "0" * 64}
    data: dict = {"wheels": [pin]}
    if field in pin:
        pin[field] = value
    elif field == "pythonpath":
        data["pythonpath"] = [value]
    else:
        data[field] = value
    with pytest.raises(ValueError, match=why):
        TestEnvSpec.model_validate(data)
    with pytest.raises(ValueError, match="pytest must be one of them"):
        TestEnvSpec.model_validate({"wheels": [{"requirement": "six==1.0", "sha256": "0" * 64}]})
