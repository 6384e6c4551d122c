"""Iterative, fd-relative tree walks for trees an agent made: any depth, any path length, no links followed.

Every walk holds one directory fd per tree (`DirCursor`): it descends with `openat(name, O_NOFOLLOW)`
and climbs back with `openat("..")`, checking it arrived where it came from, so neither the depth
(no recursion, no fd per level) nor the length of the path (no path strings below the root) is bounded
by the process. Removal has no caps and always ends in an empty place or a SandboxError. Copies stop
at caps on depth, entries and bytes and say so in `TreeBudget.notes` (they become `sandbox_blocked`
safety events of the trial).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass, field

from agentgym.errors import SandboxError

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 256
MAX_ENTRIES = 100_000
MAX_NOTES = 10
DETAIL_CHARS = 160  # paths in notes are shortened to this many characters
_CHUNK = 1 << 20


class TreeChanged(OSError):
    """A directory moved while it was being walked (climbing `..` did not lead back)."""


def short_path(rel: str, limit: int = DETAIL_CHARS) -> str:
    """`rel` cut to `limit` characters with an ellipsis (details must stay one short line)."""
    return rel if len(rel) <= limit else rel[: limit - 1] + "…"


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class DirCursor:
    """One open directory that moves down (by name) and up (by `..`) a tree on one file system."""

    def __init__(self, path: str, *, writable: bool = False, dir_fd: int | None = None) -> None:
        self.writable = writable
        self.fd = _open_dir(dir_fd, path, writable)
        self.dev = os.fstat(self.fd).st_dev
        self.names: list[str] = []
        self._parents: list[tuple[int, int]] = []

    @property
    def depth(self) -> int:
        return len(self.names)

    def rel(self, name: str = "") -> str:
        return "/".join([*self.names, name] if name else self.names)

    def descend(self, name: str) -> None:
        fd = _open_dir(self.fd, name, self.writable)
        st = os.fstat(fd)
        if st.st_dev != self.dev:
            os.close(fd)
            raise OSError(errno.EXDEV, "a mount point inside the tree", self.rel(name))
        self._parents.append(_ident(os.fstat(self.fd)))
        os.close(self.fd)
        self.fd = fd
        self.names.append(name)

    def ascend(self) -> str:
        """Back to the parent; returns the name of the directory just left."""
        fd = os.open("..", O_DIR, dir_fd=self.fd)
        if _ident(os.fstat(fd)) != self._parents[-1]:
            os.close(fd)
            raise TreeChanged(errno.ESTALE, "the tree moved during the walk", self.rel())
        os.close(self.fd)
        self.fd = fd
        self._parents.pop()
        return self.names.pop()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> DirCursor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _open_dir(dir_fd: int | None, name: str, writable: bool) -> int:
    """Open a directory without following a link; as its owner, open up one the agent locked."""
    try:
        fd = os.open(name, O_DIR, dir_fd=dir_fd)
    except PermissionError:
        if not writable:
            raise
        path_fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:  # chmod through the fd: never through a link put in its place
            os.chmod(f"/proc/self/fd/{path_fd}", 0o700)
        finally:
            os.close(path_fd)
        fd = os.open(name, O_DIR, dir_fd=dir_fd)
    if writable:
        mode = os.fstat(fd).st_mode
        if mode & stat.S_IRWXU != stat.S_IRWXU:
            os.fchmod(fd, stat.S_IMODE(mode) | stat.S_IRWXU)
    return fd


def list_entries(fd: int) -> list[tuple[str, int]]:
    """(name, st_mode of the entry itself) in name order."""
    with os.scandir(fd) as it:
        return sorted((e.name, e.stat(follow_symlinks=False).st_mode) for e in it)


# --- removal ------------------------------------------------------------------------------------


def remove_tree(path: str) -> None:
    """Delete `path` and everything under it, whatever its depth, path length or permissions.

    Only directories are chmod-ed (files may be hard links into the snapshot cache). Raises
    SandboxError naming the place when something cannot be removed.
    """
    try:
        remove_at(None, path)
    except OSError as exc:
        where = short_path(exc.filename if isinstance(exc.filename, str) else "")
        raise SandboxError(f"cannot remove {short_path(path)}: {exc.strerror or exc} (at {where or '.'})") from None


def remove_at(dir_fd: int | None, name: str) -> None:
    """Delete `name` (relative to `dir_fd`, or a path) and everything under it. Raises OSError."""
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    with DirCursor(name, writable=True, dir_fd=dir_fd) as cur:
        _empty(cur)
    os.rmdir(name, dir_fd=dir_fd)


def _empty(cur: DirCursor) -> None:
    pending = [_unlink_files(cur)]
    while pending:
        if pending[-1]:
            name = pending[-1].pop()
            try:
                cur.descend(name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                os.unlink(name, dir_fd=cur.fd)  # became a file or link after the listing
                continue
            pending.append(_unlink_files(cur))
        else:
            pending.pop()
            if pending:
                name = cur.ascend()
                os.rmdir(name, dir_fd=cur.fd)


def _unlink_files(cur: DirCursor) -> list[str]:
    """Unlink every non-directory in the cursor's directory; return the subdirectories."""
    dirs: list[str] = []
    for name, mode in list_entries(cur.fd):
        if stat.S_ISDIR(mode):
            dirs.append(name)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=cur.fd)
    return dirs


# --- copying ------------------------------------------------------------------------------------


@dataclass
class TreeBudget:
    """What a copy may still do; caps that were hit are described in `notes`."""

    remaining: int  # bytes (file sizes as stat reports them: sparse files count in full)
    max_entries: int = MAX_ENTRIES
    max_depth: int = MAX_DEPTH
    what: str = "copy"  # names the walk in notes ("copy-back", "diff")
    prefix: str = ""  # where the copied tree lives in the repo (for notes)
    used: int = 0  # entries seen
    skipped: list[str] = field(default_factory=list)  # files left out for the byte cap
    notes: list[str] = field(default_factory=list)

    dropped_notes: int = 0

    def note(self, text: str) -> None:
        """Keep the first MAX_NOTES notes; count the rest (one event per skipped file could be 100,000)."""
        if len(self.notes) < MAX_NOTES:
            self.notes.append(f"{self.what}: {text}")
        else:
            self.dropped_notes += 1

    def all_notes(self) -> list[str]:
        more = [f"{self.what}: {self.dropped_notes} more like these"] if self.dropped_notes else []
        return self.notes + more

    def where(self, rel: str) -> str:
        return short_path(f"{self.prefix}/{rel}" if self.prefix and rel else self.prefix or rel)

    def count(self, rel: str) -> bool:
        """Count one entry; False (noted once) when the entry cap is reached."""
        if self.used == self.max_entries:
            self.note(f"entry limit {self.max_entries} reached at {self.where(rel)}")
        self.used += 1
        return self.used <= self.max_entries

    @property
    def full(self) -> bool:
        return self.used > self.max_entries

    def deeper_allowed(self, depth: int, rel: str) -> bool:
        """Whether a directory at `depth` (the root's children are 1) may be entered."""
        if depth <= self.max_depth:
            return True
        self.note(f"depth limit {self.max_depth} reached under {self.where(rel)}")
        return False


def copy_tree(src: str, dst: str, *, writable: bool, budget: TreeBudget, owner: int | None = None) -> None:
    """Copy dirs, regular files and symlinks from `src` to a new `dst`; nothing else, no link followed.

    Copied files get read bits (+ owner write when `writable`) and keep their mtime; `owner` chowns
    every created entry. Stops at the budget's caps.
    """
    info = os.lstat(src)
    if not stat.S_ISDIR(info.st_mode):
        head, name = os.path.split(src)
        dfd, sfd = os.open(os.path.dirname(dst) or ".", O_DIR), os.open(head or ".", O_DIR)
        try:
            _copy_leaf(sfd, dfd, name, os.path.basename(dst), info.st_mode, writable, budget, owner, rel="")
        finally:
            os.close(dfd)
            os.close(sfd)
        return
    os.mkdir(dst, 0o755)
    if owner is not None:
        os.lchown(dst, owner, owner)
    with DirCursor(src) as s, DirCursor(dst) as d:
        _copy_dirs(s, d, writable, budget, owner)


def _copy_dirs(s: DirCursor, d: DirCursor, writable: bool, budget: TreeBudget, owner: int | None) -> None:
    pending = [_copy_level(s, d, writable, budget, owner)]
    while pending:
        if pending[-1] and not budget.full:
            name = pending[-1].pop()
            s.descend(name)
            d.descend(name)
            pending.append(_copy_level(s, d, writable, budget, owner))
        else:
            pending.pop()
            if pending:
                s.ascend()
                d.ascend()


def _copy_level(s: DirCursor, d: DirCursor, writable: bool, budget: TreeBudget, owner: int | None) -> list[str]:
    """Copy the files of this level, make its subdirectories; return those to descend into (reversed)."""
    dirs: list[str] = []
    for name, mode in list_entries(s.fd):
        if not budget.count(s.rel(name)):
            break
        if stat.S_ISDIR(mode):
            if not budget.deeper_allowed(s.depth + 1, s.rel(name)):
                continue
            os.mkdir(name, 0o755, dir_fd=d.fd)
            if owner is not None:
                os.chown(name, owner, owner, dir_fd=d.fd, follow_symlinks=False)
            dirs.append(name)
        else:
            _copy_leaf(s.fd, d.fd, name, name, mode, writable, budget, owner, rel=s.rel(name))
    return dirs[::-1]


def _copy_leaf(
    sfd: int,
    dfd: int,
    name: str,
    dname: str,
    mode: int,
    writable: bool,
    budget: TreeBudget,
    owner: int | None,
    rel: str,
) -> None:
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(name, dir_fd=sfd), dname, dir_fd=dfd)
    elif stat.S_ISREG(mode):
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
        try:
            info = os.fstat(src)
            if info.st_size > budget.remaining:
                budget.skipped.append(budget.where(rel))
                budget.note(f"not copied (over the disk limit): {budget.where(rel)}")
                return
            budget.remaining -= info.st_size
            _copy_file(src, dfd, dname, info, writable)
        finally:
            os.close(src)
    else:
        return  # fifos, sockets, devices are not copied
    if owner is not None:
        os.chown(dname, owner, owner, dir_fd=dfd, follow_symlinks=False)


def _copy_file(src: int, dfd: int, dname: str, info: os.stat_result, writable: bool) -> None:
    perms = stat.S_IMODE(info.st_mode) | 0o444
    perms = (perms | 0o111 if info.st_mode & 0o100 else perms) | (0o200 if writable else 0)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    out = os.open(dname, flags, 0o600, dir_fd=dfd)
    try:
        while chunk := os.read(src, _CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view) :]
        os.fchmod(out, perms)
        os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))
    finally:
        os.close(out)
