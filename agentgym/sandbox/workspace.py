"""Per-trial workspaces made from a snapshot, and the after-trial diff against it.

Layout: `<cache>/workspaces/<pid>-<random>/repo` (+ `tmp/` and `scratch/` for sandboxes that need
them). For bubblewrap the repo is a hard-link farm of the snapshot (the sandbox mounts it read-only, so
nothing can write through a link); allowed write paths are real copies. For `local` (no isolation)
every file is a real copy: an agent could otherwise write through a link into the cache.
Workspaces live on the cache's file system so links work; parallel trials never share one.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentgym.errors import SandboxError
from agentgym.sandbox.base import WriteEvent
from agentgym.sandbox.writepaths import WritePlan
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import cache_root

__all__ = ["CopyBudget", "Workspace", "cache_root", "copy_tree_safely", "create_workspace", "sweep_stale_workspaces"]

logger = logging.getLogger(__name__)
ARTIFACTS = "eval_artifacts"


def workspaces_root() -> Path:
    return cache_root() / "workspaces"


@dataclass
class Workspace:
    snapshot: Snapshot
    dir: Path
    plan: WritePlan
    linked: bool
    removed: bool = field(default=False)

    @property
    def repo(self) -> Path:
        return self.dir / "repo"

    @property
    def tmp(self) -> Path:
        return self.dir / "tmp"

    def diff_against_snapshot(self) -> list[WriteEvent]:
        """Files added, removed or modified outside the allowed write paths."""
        if self.plan.covers(""):
            return []
        events: list[WriteEvent] = []
        _diff_dir(str(self.snapshot.path), str(self.repo), "", self.plan, events)
        return events

    def drop_escaping_links(self) -> list[str]:
        """Delete symlinks the agent left in writable places that resolve outside the repo on the host.

        Whoever reads `host_root` afterwards (scoring, oracles) must never be led to host files; a link
        to `/repo/...` (the agent's view) is dropped too, as it means nothing on the host.
        """
        root = os.path.realpath(self.repo)
        dropped: list[str] = []
        for rel in sorted({p.rel for p in self.plan.repo_paths} | {ARTIFACTS}):
            for dirpath, dirnames, filenames in os.walk(self.repo / rel):
                for name in dirnames + filenames:
                    path = os.path.join(dirpath, name)
                    real = os.path.realpath(path)
                    if os.path.islink(path) and real != root and not real.startswith(root + "/"):
                        os.unlink(path)
                        dropped.append(os.path.relpath(path, self.repo))
        for rel in dropped:
            logger.warning("dropped symlink %s: it leads outside the repo", rel)
        return dropped

    def remove(self) -> None:
        if self.removed:
            return
        root = workspaces_root().resolve()
        if not self.dir.resolve().is_relative_to(root):
            raise SandboxError(f"refusing to remove {self.dir}: not under {root}")
        shutil.rmtree(self.dir, onerror=_make_writable_and_retry)
        self.removed = True


def create_workspace(snapshot: Snapshot, plan: WritePlan, *, link: bool) -> Workspace:
    """Make a fresh workspace: links (or copies) of the snapshot, copies for write paths, empty artifacts."""
    if not snapshot.path.is_dir():
        raise SandboxError(f"snapshot {snapshot.repo_id} is missing at {snapshot.path}")
    root = workspaces_root()
    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace(snapshot=snapshot, dir=root / f"{os.getpid()}-{secrets.token_hex(6)}", plan=plan, linked=link)
    ws.dir.mkdir(mode=0o700)
    try:
        _Farm(plan, link).tree(str(snapshot.path), str(ws.repo), "")
        _ensure_write_paths(ws)
    except BaseException:
        ws.remove()
        raise
    return ws


def sweep_stale_workspaces() -> int:
    """Remove workspaces left by harness processes that no longer exist. Returns how many."""
    removed = 0
    root = workspaces_root()
    if not root.is_dir():
        return 0
    for entry in root.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(entry, onerror=_make_writable_and_retry)
            removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Farm:
    """Recreates a snapshot tree: directories made, files hard-linked or copied."""

    def __init__(self, plan: WritePlan, link: bool) -> None:
        self.plan = plan
        self.link = link
        self.copy_mode_bits = 0 if link else 0o200  # local copies are owner-writable, like a checkout

    def tree(self, src: str, dst: str, rel: str) -> None:
        os.mkdir(dst, 0o755)
        with os.scandir(src) as it:
            for entry in it:
                sub = f"{rel}/{entry.name}" if rel else entry.name
                if sub == ARTIFACTS:
                    continue  # always starts empty
                target = os.path.join(dst, entry.name)
                if self.plan.covers(sub):
                    copy_tree_safely(entry.path, target, writable=True)
                elif entry.is_dir(follow_symlinks=False):
                    self.tree(entry.path, target, sub)
                else:
                    self.leaf(entry, target)

    def leaf(self, entry: os.DirEntry[str], target: str) -> None:
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
            return
        if not entry.is_file(follow_symlinks=False):
            return  # fifos, sockets, devices are not part of a repo
        mode = entry.stat(follow_symlinks=False).st_mode
        if self.link and _others_see_as_owner(mode):
            try:
                os.link(entry.path, target, follow_symlinks=False)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                logger.warning("cannot hard-link %s (%s); copying the rest", entry.path, exc.strerror)
                self.link = False
        shutil.copyfile(entry.path, target, follow_symlinks=False)
        shutil.copystat(entry.path, target, follow_symlinks=False)
        os.chmod(target, _readable(mode) | self.copy_mode_bits)


def _others_see_as_owner(mode: int) -> bool:
    """A link is only faithful if the sandbox user (not the owner) may read/execute like the owner."""
    owner = (mode >> 6) & 0o5
    return mode & 0o5 == owner


def _readable(mode: int) -> int:
    perms = stat.S_IMODE(mode) | 0o444
    return perms | 0o111 if mode & 0o100 else perms


def _ensure_write_paths(ws: Workspace) -> None:
    (ws.repo / ARTIFACTS).mkdir(mode=0o755, exist_ok=True)
    for path in ws.plan.repo_paths:
        host = ws.repo / path.rel
        if path.is_file:
            host.touch(mode=0o644, exist_ok=True)
        else:
            host.mkdir(mode=0o755, parents=True, exist_ok=True)


@dataclass
class CopyBudget:
    """Bytes a copy may still write (sparse files in a tmpfs must not become real gigabytes on disk)."""

    remaining: int
    skipped: list[str] = field(default_factory=list)


def copy_tree_safely(src: str, dst: str, *, writable: bool, budget: CopyBudget | None = None) -> None:
    """Copy a tree without following symlinks; only dirs, regular files and symlinks are copied."""
    info = os.lstat(src)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(info.st_mode):
        if budget is not None:
            if info.st_size > budget.remaining:
                budget.skipped.append(src)
                return
            budget.remaining -= info.st_size
        shutil.copyfile(src, dst, follow_symlinks=False)
        os.chmod(dst, _readable(info.st_mode) | (0o200 if writable else 0))
        os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns))
    elif stat.S_ISDIR(info.st_mode):
        os.mkdir(dst, 0o755)
        with os.scandir(src) as it:
            for entry in it:
                copy_tree_safely(entry.path, os.path.join(dst, entry.name), writable=writable, budget=budget)


def _make_writable_and_retry(func: Callable[..., object], path: str, _exc: object) -> None:
    """rmtree error handler: open up our own directories (never files: they may be snapshot links)."""
    for target in (os.path.dirname(path), path):
        if os.path.isdir(target) and not os.path.islink(target):
            with contextlib.suppress(OSError):
                os.chmod(target, 0o700)
    with contextlib.suppress(FileNotFoundError):
        func(path)


# ---- diff -------------------------------------------------------------------------------------------


def _scan(path: str | None) -> dict[str, os.stat_result]:
    if path is None:
        return {}
    try:
        with os.scandir(path) as it:
            entries = {e.name: e.stat(follow_symlinks=False) for e in it}
    except FileNotFoundError:
        return {}
    return {name: info for name, info in entries.items() if _is_tree_entry(info.st_mode)}


def _is_tree_entry(mode: int) -> bool:
    """Directories, regular files and symlinks: what a workspace reproduces (no fifos, sockets, devices)."""
    return stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def _diff_dir(snap: str | None, work: str, rel: str, plan: WritePlan, out: list[WriteEvent]) -> None:
    before, after = _scan(snap), _scan(work)
    if not rel:
        before[ARTIFACTS] = os.lstat(work)  # the baseline is always an empty directory
    for name in sorted(set(before) | set(after)):
        sub = f"{rel}/{name}" if rel else name
        old, new = before.get(name), after.get(name)
        if plan.covers(sub) or (old is None and new is None):
            continue
        if old is None or new is None:
            out.append(WriteEvent(path=sub, change="added" if old is None else "removed"))
            continue
        snap_sub = None if snap is None or sub == ARTIFACTS else os.path.join(snap, name)
        work_sub = os.path.join(work, name)
        if stat.S_ISDIR(old.st_mode) and stat.S_ISDIR(new.st_mode):
            _diff_dir(snap_sub, work_sub, sub, plan, out)
        elif not _same(snap_sub, work_sub, old, new):
            out.append(WriteEvent(path=sub, change="modified"))


def _same(snap: str | None, work: str, old: os.stat_result, new: os.stat_result) -> bool:
    if stat.S_IFMT(old.st_mode) != stat.S_IFMT(new.st_mode) or snap is None:
        return False
    if stat.S_ISLNK(old.st_mode):
        return os.readlink(snap) == os.readlink(work)
    if (old.st_ino, old.st_dev) == (new.st_ino, new.st_dev):
        return True  # the same inode: a link the agent could not write through
    if old.st_size != new.st_size or (old.st_mode & 0o111) != (new.st_mode & 0o111):
        return False
    return _same_content(snap, work)


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            chunk_a, chunk_b = fa.read(1 << 20), fb.read(1 << 20)
            if chunk_a != chunk_b:
                return False
            if not chunk_a:
                return True
