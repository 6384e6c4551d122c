"""The Python test environment mounted read-only into edit-task sandboxes (agent and grading).

The system python (`/usr/bin/python3`, as the sandbox sees it) plus a `site/` folder of packages, mounted at
`/.agentgym-env` (`site/` on PYTHONPATH, `bin/python` → python3 on PATH). A repo whose registry file has a
`test_env` gets one built from its pinned wheels (wheelenv.py); any other repo gets the fallback made here: a
copy of the harness's own pytest and its pure-Python dependencies, once per version set under
`<cache>/testenv/`. `repo_environment` picks; the runner calls it once per repo at plan time.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentgym.errors import SandboxError
from agentgym.sandbox.writepaths import REPO_VIEW
from agentgym.sources.cache import cache_root

if TYPE_CHECKING:
    from agentgym.runner.config import LoadedRepo, LoadedTask

ENV_VIEW = "/.agentgym-env"
SANDBOX_PYTHON = "/usr/bin/python3"
PYTEST_MODULES = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py")
DISTRIBUTIONS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")


@dataclass(frozen=True)
class TestEnvironment:
    """What a sandbox needs to run the tests: read-only mounts and variables, and what run_config records."""

    __test__ = False  # not a pytest test class
    kind: str  # "wheels" (the repo's test_env) or "harness-pytest" (the fallback)
    host_dir: Path
    key: str
    python: str  # the sandbox python's version
    packages: dict[str, str]
    wheels: tuple[tuple[str, str], ...] = ()  # (file name, sha256)
    pythonpath: tuple[str, ...] = ()  # repo-relative, put before site/

    def mounts(self) -> tuple[tuple[str, str], ...]:
        return ((str(self.host_dir), ENV_VIEW),)

    def env(self) -> dict[str, str]:
        entries = [f"{REPO_VIEW}/{p.strip('/')}" for p in self.pythonpath] + [f"{ENV_VIEW}/site"]
        return {"PYTHONPATH": os.pathsep.join(entries), "PATH": f"{ENV_VIEW}/bin:/usr/local/bin:/usr/bin:/bin"}

    def top_level(self) -> list[str]:
        """The importable names `site/` provides (packages and modules; metadata left out)."""
        names = {p.name.removesuffix(".py") for p in (self.host_dir / "site").iterdir()}
        return sorted(n for n in names if not n.endswith((".dist-info", ".egg-info")) and n != "__pycache__")

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "key": self.key,
            "python": self.python,
            "interpreter": SANDBOX_PYTHON,
            "packages": dict(self.packages),
            "wheels": [{"file": f, "sha256": h} for f, h in self.wheels],
            "pythonpath": list(self.pythonpath),
        }


@functools.cache  # one interpreter for the whole run
def sandbox_python() -> str:
    """The version of the python the sandbox runs (the host's /usr/bin/python3, bound read-only), asked once:
    `-I -S` runs no site hook and no package code."""
    code = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
    try:
        done = subprocess.run([SANDBOX_PYTHON, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"{SANDBOX_PYTHON} cannot run: {exc}") from None
    version = done.stdout.strip()
    if done.returncode != 0 or version.count(".") != 2:
        raise SandboxError(f"{SANDBOX_PYTHON} did not report its version (exit {done.returncode})")
    return version


def repo_environment(loaded: LoadedRepo, *, offline: bool = False) -> TestEnvironment:
    """The environment of a repo's edit tasks: its `test_env` wheels, else the harness's pytest."""
    if loaded.spec.test_env is None:
        return test_environment()
    from agentgym.grading.wheelenv import wheel_environment  # packaging, zipfile, urllib: only when used

    return wheel_environment(loaded.spec.id, loaded.file, loaded.spec.test_env, offline=offline)


def with_test_envs(
    tasks: list[LoadedTask], repos: dict[str, LoadedRepo], progress: Callable[[str], None] = lambda _m: None
) -> tuple[list[LoadedTask], dict[str, TestEnvironment]]:
    """Each repo with edit tasks gets its environment once; its edit tasks carry it (the others None)."""
    envs: dict[str, TestEnvironment] = {}
    for repo_id in sorted({t.spec.repo for t in tasks if t.spec.kind == "edit"}):
        progress(f"test environment {repo_id}")
        envs[repo_id] = repo_environment(repos[repo_id])
    carried = [dataclasses.replace(t, test_env=envs[t.spec.repo]) if t.spec.kind == "edit" else t for t in tasks]
    return carried, envs


@functools.cache  # the installed versions do not change while the harness runs
def _versions() -> dict[str, str]:
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "pytest":
                raise SandboxError(
                    "edit tasks need pytest installed for the harness", hint="pip install pytest"
                ) from None
    return found


def _module_source(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def test_environment() -> TestEnvironment:
    """The cached environment for the harness's pytest (built on first use; atomic rename)."""
    versions = _versions()
    key = hashlib.sha256(repr(sorted(versions.items())).encode()).hexdigest()[:16]
    target = cache_root() / "testenv" / f"pytest-{versions['pytest']}-{key}"
    if not target.is_dir():
        _build(target)
    return TestEnvironment("harness-pytest", target, key, sandbox_python(), dict(versions))


def _build(target: Path) -> None:
    stage = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    (stage / "site").mkdir(parents=True)
    (stage / "bin").mkdir()
    os.symlink(SANDBOX_PYTHON, stage / "bin" / "python")
    for name in PYTEST_MODULES:
        source = _module_source(name)
        if source is None:
            continue
        dest = stage / "site" / source.name
        if source.is_dir():
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(source, dest)
    readable_by_all(stage)
    try:
        os.rename(stage, target)
    except OSError:  # another process made it first
        shutil.rmtree(stage, ignore_errors=True)


def readable_by_all(root: Path) -> None:
    """Folders 0755 and files 0644 (links untouched): the sandbox's unprivileged uid must read the environment."""
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
