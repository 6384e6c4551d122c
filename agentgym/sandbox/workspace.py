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
import fcntl
import logging
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agentgym.errors import SandboxError
from agentgym.fstree import MAX_NOTES, TreeBudget, copy_tree, remove_tree, short_path
from agentgym.fsutil import pid_alive
from agentgym.sandbox import treediff
from agentgym.sandbox.base import WriteEvent
from agentgym.sandbox.treediff import ARTIFACTS, limit_events
from agentgym.sandbox.writepaths import WritePlan
from agentgym.sources import integrity
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import cache_root

__all__ = [
    "OwnerLock",
    "TreeBudget",
    "Workspace",
    "cache_root",
    "copy_tree_safely",
    "create_workspace",
    "sweep_stale_workspaces",
]

logger = logging.getLogger(__name__)
LOCK_SUFFIX = ".lock"


def workspaces_root() -> Path:
    return cache_root() / "workspaces"


class OwnerLock:
    """An flock on `<dir>.lock`, held by the owning process for the lifetime of `<dir>`.

    A sweeper treats a directory as stale only when it can take the lock itself, which works across
    pid namespaces, containers and hosts that share the file system (a dead pid proves nothing there).
    """

    def __init__(self, path: Path, *, owner: bool = False) -> None:
        """owner=True: the caller is creating `<dir>` under a fresh name. A sweeper may hold the new lock
        file for a moment (it took it for an orphan lock file, before the directory exists) and unlink it:
        wait and take the lock again rather than fail. Without it (a sweeper asking), a held lock raises."""
        self.path = path
        for _ in range(10):
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self.fd)
                if not owner:
                    raise
                time.sleep(0.01)
                continue
            if self._still_named():
                return
            os.close(self.fd)  # a sweeper unlinked the file between our open and our lock: take the new one
        raise BlockingIOError(f"{path} keeps being replaced")

    def _still_named(self) -> bool:
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self.fd)
        return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)

    @staticmethod
    def for_dir(path: Path) -> Path:
        return path.with_name(path.name + LOCK_SUFFIX)

    def release(self, *, unlink: bool) -> None:
        if self.fd < 0:
            return
        if unlink:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self.fd)
        self.fd = -1


def sweep_locked_dirs(base: Path, remove: Callable[[Path], None]) -> int:
    """`remove` every `<name>` under `base` whose owner is gone (its `<name>.lock` can be taken).

    Directories without a lock file (made before locks existed) fall back to the pid in their name.
    Lock files left without a directory are deleted. Returns how many directories were removed.
    """
    if not base.is_dir():
        return 0
    removed = 0
    for entry in sorted(base.iterdir()):
        if entry.name.endswith(LOCK_SUFFIX):
            if not entry.with_name(entry.name.removesuffix(LOCK_SUFFIX)).exists():
                with contextlib.suppress(BlockingIOError, OSError):
                    OwnerLock(entry).release(unlink=True)
            continue
        lock_file = OwnerLock.for_dir(entry)
        if not lock_file.exists():
            if _legacy_stale(entry.name):
                with contextlib.suppress(SandboxError):
                    remove(entry)
                    removed += 1
            continue
        try:
            lock = OwnerLock(lock_file)
        except (BlockingIOError, OSError):
            continue  # the owner is alive (somewhere)
        try:
            if entry.exists():
                remove(entry)
                removed += 1
        except SandboxError as exc:  # one bad leftover must not stop this run: it is left and named
            logger.warning("cannot sweep %s: %s", entry.name, exc.message)
        finally:
            lock.release(unlink=True)
    return removed


def _legacy_stale(name: str) -> bool:
    pid = name.split("-", 1)[0]
    return pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid))


@dataclass
class Workspace:
    snapshot: Snapshot
    dir: Path
    plan: WritePlan
    linked: bool
    lock: OwnerLock | None = None
    removed: bool = field(default=False)
    notes: list[str] = field(default_factory=list)  # caps hit while walking the agent's tree
    final: Path | None = None  # where the agent's tree is when not `repo` (an overlay's merged view)

    @property
    def repo(self) -> Path:
        return self.dir / "repo"

    @property
    def tree(self) -> Path:
        """The agent's tree on the host: `repo`, or the overlay on top of it."""
        return self.final or self.repo

    @property
    def tmp(self) -> Path:
        return self.dir / "tmp"

    def diff_against_snapshot(self) -> list[WriteEvent]:
        """Files added, removed or modified outside the allowed write paths.

        Also returns, as `change="limit"` events, the caps the copy-back and the link sweep hit.
        """
        if self.plan.covers(""):
            return self.limit_events()
        with walk_errors("compare the final tree with the snapshot"):
            changes = treediff.diff_trees(str(self.snapshot.path), str(self.tree), self.plan.covers)
        return changes + self.limit_events()

    def drop_escaping_links(self) -> list[str]:
        """Delete symlinks the agent left in writable places that resolve outside the repo on the host.

        Whoever reads `host_root` afterwards (scoring, oracles) must never be led to host files; a link
        to `/repo/...` (the agent's view) is dropped too, as it means nothing on the host. What lies
        deeper than the depth cap is deleted (and noted): nothing after the trial has to walk it.
        """
        rels = sorted({p.rel for p in self.plan.repo_paths} | {ARTIFACTS})
        with walk_errors("check the final tree for symlinks"):
            sweep = treediff.drop_escaping_links(str(self.tree), rels)
        for rel in sweep.dropped[:MAX_NOTES]:
            logger.warning("dropped symlink %s: it leads outside the repo", rel)
        if len(sweep.dropped) > MAX_NOTES:
            logger.warning("dropped %d more symlinks leading outside the repo", len(sweep.dropped) - MAX_NOTES)
        self.notes += [f"after the trial: {note}" for note in sweep.notes]
        return sweep.dropped

    def limit_events(self) -> list[WriteEvent]:
        """The notes as WriteEvents (change="limit"), once."""
        notes, self.notes = self.notes, []
        return limit_events(notes)

    def remove(self) -> None:
        if self.removed:
            return
        root = workspaces_root().resolve()
        if not self.dir.resolve().is_relative_to(root):
            raise SandboxError(f"refusing to remove {self.dir}: not under {root}")
        remove_tree(str(self.dir))
        if self.lock is not None:
            self.lock.release(unlink=True)
        self.removed = True


@contextlib.contextmanager
def walk_errors(what: str) -> Iterator[None]:
    """An OSError in a walk of the agent's tree (a mount point, a tree moved under us) is a one-line
    SandboxError naming the place, not a harness bug."""
    try:
        yield
    except OSError as exc:
        where = short_path(exc.filename) if isinstance(exc.filename, str) else "?"
        raise SandboxError(f"cannot {what}: {exc.strerror or exc} at {ascii(where)[1:-1]}") from None


def create_workspace(
    snapshot: Snapshot, plan: WritePlan, *, link: bool, cow: bool = False, skip: frozenset[str] = frozenset()
) -> Workspace:
    """Make a fresh workspace: links (or copies) of the snapshot, copies for write paths, empty artifacts.

    `cow`: every file is linked, even in write paths (an overlay on top takes the writes); `skip`: top-level
    names left out (`.git` for edit tasks)."""
    if not snapshot.path.is_dir():
        raise SandboxError(f"snapshot {snapshot.repo_id} is missing at {snapshot.path}")
    integrity.check_before_use(snapshot)
    root = workspaces_root()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{os.getpid()}-{secrets.token_hex(6)}"
    lock = OwnerLock(OwnerLock.for_dir(path), owner=True)  # before the directory exists: a sweep never sees it unlocked
    ws = Workspace(snapshot=snapshot, dir=path, plan=plan, linked=link, lock=lock)
    try:
        ws.dir.mkdir(mode=0o700)
        _Farm(WritePlan([], plan.tmp) if cow else plan, link, skip).tree(str(snapshot.path), str(ws.repo), "")
        _ensure_write_paths(ws)
    except BaseException:
        ws.remove()
        raise
    return ws


def sweep_stale_workspaces() -> int:
    """Remove workspaces whose owning harness process is gone (their lock is free). Returns how many."""
    return sweep_locked_dirs(workspaces_root(), lambda path: remove_tree(str(path)))


class _Farm:
    """Recreates a snapshot tree: directories made, files hard-linked or copied."""

    def __init__(self, plan: WritePlan, link: bool, skip: frozenset[str] = frozenset()) -> None:
        self.plan = plan
        self.skip = skip | {ARTIFACTS}
        self.link = link
        self.copy_mode_bits = 0 if link else 0o200  # local copies are owner-writable, like a checkout

    def tree(self, src: str, dst: str, rel: str) -> None:
        os.mkdir(dst, 0o755)
        with os.scandir(src) as it:
            for entry in it:
                sub = f"{rel}/{entry.name}" if rel else entry.name
                if sub in self.skip:
                    continue  # eval_artifacts always starts empty
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


CopyBudget = TreeBudget  # the name callers used before the caps existed


def copy_tree_safely(src: str, dst: str, *, writable: bool, budget: TreeBudget | None = None) -> None:
    """Copy a tree without following symlinks; only dirs, regular files and symlinks are copied.

    Without a budget the copy is unbounded in bytes (the source is a snapshot) but keeps the depth and
    entry caps; notes of caps hit are then logged.
    """
    own = budget if budget is not None else TreeBudget(remaining=1 << 62)
    copy_tree(src, dst, writable=writable, budget=own)
    if budget is None:
        for note in own.all_notes():
            logger.warning("%s", note)  # the console handler escapes control characters
