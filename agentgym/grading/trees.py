"""Walking the agent's tree against the pristine snapshot: what changed, never following a link."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

NOISE_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
TOP_SKIPPED = frozenset({".git", "eval_artifacts"})
MAX_ENTRIES = 200_000


class AgentTreeError(Exception):
    """The agent's tree cannot be walked (too many entries, paths over PATH_MAX): graded as failing."""


@dataclass(frozen=True)
class Entry:
    kind: str  # "file" | "link"
    mode: int
    size: int


def walk(root: str) -> dict[str, Entry]:
    """Regular files and symlinks under `root` by relative path (noise and top-level .git/eval_artifacts out)."""
    try:
        return _walk(root)
    except OSError as exc:
        raise AgentTreeError(f"cannot walk the tree: {exc.strerror or exc}") from None


def _walk(root: str) -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    for rel, info in _entries(root):
        if stat.S_ISREG(info.st_mode):
            found[rel] = Entry("file", stat.S_IMODE(info.st_mode), info.st_size)
        elif stat.S_ISLNK(info.st_mode):
            found[rel] = Entry("link", 0, 0)
        if len(found) > MAX_ENTRIES:
            raise AgentTreeError(f"more than {MAX_ENTRIES} files under the tree")
    return found


def _entries(root: str) -> Iterator[tuple[str, os.stat_result]]:
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for entry in it:
                sub = f"{rel}/{entry.name}" if rel else entry.name
                if (not rel and entry.name in TOP_SKIPPED) or entry.name in NOISE_DIRS or entry.name.endswith(".pyc"):
                    continue
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    stack.append(sub)
                else:
                    yield sub, info


def read_bytes(root: str, rel: str) -> bytes:
    """A regular file's bytes, refusing a symlink at the last component (parents come from our walk)."""
    fd = os.open(os.path.join(root, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def changed(old_root: str, new_root: str) -> tuple[dict[str, Entry], dict[str, Entry], list[str]]:
    """(old entries, new entries, sorted paths added, removed or modified)."""
    old, new = walk(old_root), walk(new_root)
    paths = []
    for rel in sorted(old.keys() | new.keys()):
        a, b = old.get(rel), new.get(rel)
        if a is None or b is None or a.kind != b.kind or _differs(old_root, new_root, rel, a, b):
            paths.append(rel)
    return old, new, paths


def _differs(old_root: str, new_root: str, rel: str, a: Entry, b: Entry) -> bool:
    if a.kind == "link":
        return os.readlink(os.path.join(old_root, rel)) != os.readlink(os.path.join(new_root, rel))
    if a.size != b.size or (a.mode & 0o100) != (b.mode & 0o100):
        return True
    return read_bytes(old_root, rel) != read_bytes(new_root, rel)
