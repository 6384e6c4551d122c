"""The tree the grader runs on: the pristine snapshot plus the agent's changes, minus anything that could
change how tests run, plus the hidden tests.

Never applied from the agent's tree (so restored from the snapshot, or absent if the agent added them):
test files and folders (`tests/`, `test/`, `testing/`, `test_*.py`, `*_test.py`), test infrastructure
(`conftest.py`, `pytest.ini`, `.pytest.ini`, `pytest.toml`, `tox.ini`, `setup.cfg`, `pyproject.toml`, `noxfile.py`), interpreter hooks
(`sitecustomize.py`, `usercustomize.py`, `*.pth`), modules at the top of the tree or of `src/` named like
the test runner's or the standard library's (`pytest.py`, `json.py`), installed-package metadata that could register pytest
plugins (`*.dist-info/`, `*.egg-info/`), byte code and caches, `.git`, the visible and hidden test paths.
Writes go into a fresh hard-link farm of the snapshot: a changed file replaces its link, never writes
through it. Parents are checked component by component (a symlink there is replaced, never followed).
"""

from __future__ import annotations

import fnmatch
import os
import stat
import sys
from pathlib import Path

from agentgym.errors import SpecError
from agentgym.fstree import remove_tree
from agentgym.grading.testenv import PYTEST_MODULES, TestEnvironment
from agentgym.grading.trees import changed, read_bytes
from agentgym.sandbox.workspace import Workspace, create_workspace
from agentgym.sandbox.writepaths import WritePlan
from agentgym.sources.base import Snapshot

TEST_DIRS = frozenset({"tests", "test", "testing"})
PROTECTED_NAMES = (
    *("test_*.py", "*_test.py", "conftest.py", "tox.ini", "setup.cfg", "pyproject.toml"),
    *("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml"),  # every file pytest takes its settings from
)
HOOK_NAMES = ("sitecustomize.py", "usercustomize.py", "*.pth", "noxfile.py", "*.pyc")
METADATA_DIRS = ("*.dist-info", "*.egg-info", "__pycache__")
# Modules a file at the top of the tree (or of src/), which is on sys.path, would shadow: the test runner's
# and the standard library's (a planted pytest.py could otherwise write a passing report and exit 0).
SHADOWED = frozenset(sys.stdlib_module_names) | frozenset(PYTEST_MODULES)


def is_protected(rel: str, extra: frozenset[str] = frozenset()) -> bool:
    """True if the grader must take `rel` from the snapshot (or leave it out), whatever the agent did."""
    parts = rel.split("/")  # every part: a file or link named `tests` must not replace the test folder
    if parts[0] == ".git" or any(p in TEST_DIRS for p in parts):
        return True
    if any(fnmatch.fnmatch(p, pattern) for p in parts for pattern in METADATA_DIRS):
        return True
    if any(fnmatch.fnmatch(parts[-1], pattern) for pattern in PROTECTED_NAMES + HOOK_NAMES):
        return True
    if _shadows(parts[1:] if parts[0] == "src" and len(parts) > 1 else parts):
        return True
    return any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in extra)


def _shadows(parts: list[str]) -> bool:
    """A module or package on sys.path named like one the test run imports."""
    top = parts[0]
    if len(parts) == 1:  # a file (or a link standing for a package)
        return top.split(".", 1)[0] in SHADOWED and (top.endswith((".py", ".so")) or "." not in top)
    return top in SHADOWED


def env_shadows(env: TestEnvironment, snapshot_root: Path) -> frozenset[str]:
    """Repo paths that would shadow a module of the test environment (the tree and its `src/` and `pythonpath`
    dirs come before `site/` on sys.path): protected, unless the snapshot has them (then the repo's own copy
    is the code under test)."""
    bases = ["", "src/", *(p.strip("/") + "/" for p in env.pythonpath)]
    found = set()
    names = env.top_level()  # one listing of site/, not one per base
    for base in dict.fromkeys(bases):
        for name in names:
            found.update(r for r in (f"{base}{name}", f"{base}{name}.py") if not os.path.lexists(snapshot_root / r))
    return frozenset(found)


def build_grading_tree(
    snapshot: Snapshot, agent_root: Path, hidden: list[tuple[Path, str]], protected: frozenset[str]
) -> tuple[Workspace, list[str]]:
    """(workspace holding the grading tree at `.repo`, the agent's changed paths that were not applied)."""
    ws = create_workspace(snapshot, WritePlan([], False), link=True, skip=frozenset({".git"}))
    try:
        _, new, paths = changed(str(snapshot.path), str(agent_root))
        ignored = []
        for rel in paths:
            if is_protected(rel, protected):
                ignored.append(rel)
                continue
            entry = new.get(rel)
            _clear(ws.repo, rel)
            if entry is None:
                continue
            target = _parent(ws.repo, rel)
            if entry.kind == "link":
                os.symlink(os.readlink(agent_root / rel), target)
            else:
                _write(target, read_bytes(str(agent_root), rel), entry.mode)
        for source, dest in hidden:
            place_file(ws.repo, dest, source.read_bytes())
    except BaseException:
        ws.remove()
        raise
    return ws, ignored


def place_file(root: Path, rel: str, data: bytes, mode: int = 0o644) -> None:
    """Put `data` at `rel` in a link farm of ours: whatever is there (a hard link into the snapshot, a folder)
    is removed first, so the write never reaches the snapshot."""
    _clear(root, rel)
    _write(_parent(root, rel), data, mode)


def _write(target: Path, data: bytes, mode: int) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(target, 0o755 if mode & 0o100 else 0o644)


def _clear(root: Path, rel: str) -> None:
    """Remove whatever is at `rel` in our farm (a link is unlinked, never written through)."""
    path = root / rel
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(info.st_mode):
        remove_tree(str(path))
    else:
        os.unlink(path)


def _parent(root: Path, rel: str) -> Path:
    """`root/rel` with every parent a real directory of ours (a file or link in the way is replaced)."""
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise SpecError(f"bad path in the grading tree: {rel!r}")
    current = root
    for name in parts[:-1]:
        current = current / name
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(current)
            os.mkdir(current, 0o755)
    return current / parts[-1]
