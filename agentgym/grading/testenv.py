"""The Python test environment mounted read-only into edit-task sandboxes (agent and grading).

For now: the system python (`/usr/bin/python3`, as the sandbox sees it) plus a copy of the harness's own
pytest and its pure-Python dependencies, made once per version set under `<cache>/testenv/` and mounted at
`/.agentgym-env` (`site/` on PYTHONPATH, `bin/python` → python3 on PATH). Issue 10 item 4 (per-repo
environments built from wheels) replaces `test_environment` and nothing else.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from agentgym.errors import SandboxError
from agentgym.sources.cache import cache_root

ENV_VIEW = "/.agentgym-env"
SANDBOX_PYTHON = "/usr/bin/python3"
PYTEST_MODULES = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py")
DISTRIBUTIONS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")


@dataclass(frozen=True)
class TestEnvironment:
    """What a sandbox needs to run the tests: read-only mounts and variables."""

    host_dir: Path
    versions: dict[str, str]

    def mounts(self) -> tuple[tuple[str, str], ...]:
        return ((str(self.host_dir), ENV_VIEW),)

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": f"{ENV_VIEW}/site", "PATH": f"{ENV_VIEW}/bin:/usr/local/bin:/usr/bin:/bin"}

    def describe(self) -> dict[str, object]:
        return {"kind": "harness-pytest", "python": SANDBOX_PYTHON, "packages": self.versions}


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
    return TestEnvironment(target, versions)


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
    for path in [stage, *stage.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    try:
        os.rename(stage, target)
    except OSError:  # another process made it first
        shutil.rmtree(stage, ignore_errors=True)
