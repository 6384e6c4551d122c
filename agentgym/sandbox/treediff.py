"""After-trial walks of a workspace: the diff against the snapshot and the sweep of escaping symlinks.

Both are iterative and fd-relative (see agentgym/fstree.py) with a depth cap; the diff also has an entry cap.
A cap that is hit becomes a `WriteEvent(change="limit")`, recorded as a `sandbox_blocked` event.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from agentgym.fstree import MAX_DEPTH, MAX_NOTES, DirCursor, TreeBudget, list_entries, remove_at, short_path
from agentgym.sandbox.base import WriteEvent

ARTIFACTS = "eval_artifacts"
SAFE_PATH_CHARS = 3800  # symlinks deeper than this (in characters) are dropped unresolved
_CHUNK = 1 << 20


def limit_events(notes: list[str]) -> list[WriteEvent]:
    return [WriteEvent(path="", change="limit", detail=note) for note in notes]


# --- diff ---------------------------------------------------------------------------------------


def _tree_entries(fd: int | None) -> dict[str, int]:
    """Directories, regular files and symlinks: what a workspace reproduces (no fifos, sockets, devices)."""
    if fd is None:
        return {}
    return {
        name: mode for name, mode in list_entries(fd) if stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode)
    }


@dataclass
class _Level:
    dirs: list[str]  # subdirectories present on both sides, still to visit (reversed)
    snap_present: bool  # whether the snapshot cursor entered this level too


def diff_trees(snap_root: str, work_root: str, covers: Callable[[str], bool]) -> list[WriteEvent]:
    """Entries added, removed or modified in `work_root` against `snap_root`, outside `covers`.

    `eval_artifacts/` at the top counts as an empty directory in the snapshot.
    """
    budget = TreeBudget(remaining=0, what="diff")
    out: list[WriteEvent] = []
    with DirCursor(snap_root) as snap, DirCursor(work_root) as work:
        levels = [_diff_level(snap, work, True, covers, budget, out)]
        while levels:
            level = levels[-1]
            if level.dirs and not budget.full:
                name = level.dirs.pop()
                both = level.snap_present and not (work.depth == 0 and name == ARTIFACTS)
                if both:
                    snap.descend(name)
                work.descend(name)
                levels.append(_diff_level(snap, work, both, covers, budget, out))
                continue
            levels.pop()
            if levels:
                work.ascend()
                if level.snap_present:
                    snap.ascend()
    return out + limit_events(budget.all_notes())


def _diff_level(
    snap: DirCursor, work: DirCursor, snap_present: bool, covers: Callable[[str], bool], budget: TreeBudget,
    out: list[WriteEvent],
) -> _Level:  # fmt: skip
    before = _tree_entries(snap.fd if snap_present else None)
    after = _tree_entries(work.fd)
    if work.depth == 0:
        before[ARTIFACTS] = stat.S_IFDIR | 0o755  # the baseline is always an empty directory
    dirs: list[str] = []
    for name in sorted(set(before) | set(after)):
        sub = work.rel(name)
        if covers(sub):
            continue
        if not budget.count(sub):
            break
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            out.append(WriteEvent(path=sub, change="added" if old is None else "removed"))
        elif stat.S_ISDIR(old) and stat.S_ISDIR(new):
            if budget.deeper_allowed(work.depth + 1, sub):
                dirs.append(name)
        elif not _same(snap.fd if snap_present and sub != ARTIFACTS else None, work.fd, name):
            out.append(WriteEvent(path=sub, change="modified"))
    return _Level(dirs[::-1], snap_present)


def _same(snap_fd: int | None, work_fd: int, name: str) -> bool:
    if snap_fd is None:
        return False
    old, new = os.lstat(name, dir_fd=snap_fd), os.lstat(name, dir_fd=work_fd)
    if stat.S_IFMT(old.st_mode) != stat.S_IFMT(new.st_mode):
        return False
    if stat.S_ISLNK(old.st_mode):
        return os.readlink(name, dir_fd=snap_fd) == os.readlink(name, dir_fd=work_fd)
    if (old.st_ino, old.st_dev) == (new.st_ino, new.st_dev):
        return True  # the same inode: a link the agent could not write through
    if old.st_size != new.st_size or (old.st_mode & 0o111) != (new.st_mode & 0o111):
        return False
    return _same_content(snap_fd, work_fd, name)


def _same_content(fd_a: int, fd_b: int, name: str) -> bool:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    a, b = os.open(name, flags, dir_fd=fd_a), os.open(name, flags, dir_fd=fd_b)
    try:
        while True:
            chunk_a, chunk_b = os.read(a, _CHUNK), os.read(b, _CHUNK)
            if chunk_a != chunk_b:
                return False
            if not chunk_a:
                return True
    finally:
        os.close(a)
        os.close(b)


# --- escaping links -----------------------------------------------------------------------------


@dataclass
class LinkSweep:
    dropped: list[str]  # symlinks deleted (relative to the repo)
    notes: list[str]  # subtrees deleted for being deeper than the cap


def drop_escaping_links(repo: str, rels: list[str], max_depth: int = MAX_DEPTH) -> LinkSweep:
    """Delete symlinks under `rels` (writable places of `repo`) that do not resolve inside `repo`.

    Directories deeper than `max_depth` are deleted whole (nothing after the trial walks them), and a
    link too deep to resolve safely is dropped too.
    """
    root = os.path.realpath(repo)
    sweep = LinkSweep([], [])
    for rel in rels:
        top = os.path.join(repo, rel)
        try:
            info = os.lstat(top)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            if _escapes(root, top):
                os.unlink(top)
                sweep.dropped.append(rel)
        elif stat.S_ISDIR(info.st_mode):
            _sweep_dir(root, repo, rel, max_depth, sweep)
    return sweep


def _escapes(root: str, path: str) -> bool:
    if len(path) > SAFE_PATH_CHARS:
        return True
    real = os.path.realpath(path)
    return real != root and not real.startswith(root + "/")


def _sweep_dir(root: str, repo: str, rel: str, max_depth: int, sweep: LinkSweep) -> None:
    with DirCursor(os.path.join(repo, rel)) as cur:
        pending = [_sweep_level(cur, root, repo, rel, max_depth, sweep)]
        while pending:
            if pending[-1]:
                cur.descend(pending[-1].pop())
                pending.append(_sweep_level(cur, root, repo, rel, max_depth, sweep))
            else:
                pending.pop()
                if pending:
                    cur.ascend()


def _sweep_level(cur: DirCursor, root: str, repo: str, rel: str, max_depth: int, sweep: LinkSweep) -> list[str]:
    dirs: list[str] = []
    for name, mode in list_entries(cur.fd):
        sub = f"{rel}/{cur.rel(name)}" if rel else cur.rel(name)
        if stat.S_ISDIR(mode):
            if cur.depth + 1 <= max_depth:
                dirs.append(name)
            else:
                remove_at(cur.fd, name)
                if len(sweep.notes) < MAX_NOTES:
                    sweep.notes.append(f"removed what lies deeper than {max_depth} levels under {short_path(sub)}")
        elif stat.S_ISLNK(mode) and _escapes(root, os.path.join(repo, sub)):
            os.unlink(name, dir_fd=cur.fd)
            sweep.dropped.append(sub)
    return dirs
