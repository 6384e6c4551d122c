"""The snapshot cache: content-addressed, read-only trees plus a key index for fast warm lookups.

Layout under `cache_root()`:

    snapshots/<digest>/        the tree; files have no write bits; never modified after creation
    snapshots/<digest>.json    metadata: file count, bytes, creation time, the source that made it
    keys/<sha256(key)>.json    key index: source key (e.g. git url + commit) -> digest (+ provenance)
    git/<name>.git             bare mirrors of git remotes (see git.py)
    snapshots/<digest>.unisolated  marker: a --sandbox local trial could write it (see integrity.py)
    locks/                     flock files serializing fetchers of the same source
    tmp/                       staging dirs: on the same filesystem, so publishing is one rename()

A snapshot is built in `tmp/`, hashed, made read-only and renamed to `snapshots/<digest>`; a
concurrent fetcher that loses the race finds the directory already there and drops its copy. The key
index is written only after the tree is in place, so a key never points at a half-built tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgym.errors import SourceError
from agentgym.fstree import remove_at
from agentgym.fsutil import write_json_atomic

CACHE_ENV = "AGENTGYM_CACHE"
_DIGEST_VERSION = b"agentgym-tree-v1\0"
_WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def cache_root() -> Path:
    """$AGENTGYM_CACHE, else ~/.cache/agentgym."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "agentgym"


def source_error(repo_id: str, cause: str) -> SourceError:
    """The one-line error every fetcher raises: names the repo and the cause."""
    return SourceError(f"repo '{repo_id}': {cause}")


def last_line(text: str) -> str:
    """Last non-empty line of a tool's output (what git and pip put their verdict on)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


# --- digest -------------------------------------------------------------------------------------


class UnsupportedEntry(ValueError):
    """A tree holds something a snapshot cannot (fifo, socket, device)."""


@dataclass(frozen=True)
class TreeStats:
    digest: str
    files: int
    bytes: int


def _file_sha(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _entry_record(root: str, rel: str, st: os.stat_result) -> tuple[str, str, str]:
    """(type, exec bit, value) for one entry; value is the content sha or the symlink target."""
    full = os.path.join(root, rel)
    if stat.S_ISLNK(st.st_mode):
        return "l", "-", os.readlink(full)
    if stat.S_ISDIR(st.st_mode):
        return "d", "-", ""
    if stat.S_ISREG(st.st_mode):
        return "f", "x" if st.st_mode & stat.S_IXUSR else "-", _file_sha(full)
    raise UnsupportedEntry(f"unsupported file type at {rel}")


def _walk(root: str, skip_git: bool) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry below `root` (iterative: a tree's depth is not bounded by the interpreter's stack)."""
    pending = [""]
    while pending:
        rel = pending.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            entries = list(it)
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if skip_git and child == ".git":
                continue
            st = entry.stat(follow_symlinks=False)
            yield child, st
            if stat.S_ISDIR(st.st_mode):
                pending.append(child)


def tree_digest(root: Path, *, git_commit: str | None = None) -> TreeStats:
    """sha256 over the sorted (relative path, type, exec bit, content sha / symlink target) records.

    Timestamps, owners and write bits do not count. With `git_commit`, the top-level `.git` directory
    is represented by that commit instead of its bytes: a clone's `.git` (index stat data, pack
    layout) differs from machine to machine, the checked-out commit does not.
    """
    top = str(root)
    records: list[tuple[bytes, str, str, str]] = []
    files = size = 0
    for rel, st in _walk(top, git_commit is not None):
        kind, exe, value = _entry_record(top, rel, st)
        records.append((os.fsencode(rel), kind, exe, value))
        if kind == "f":
            files += 1
            size += st.st_size
    if git_commit is not None:
        records.append((b".git", "g", "-", git_commit))
    records.sort()
    hasher = hashlib.sha256(_DIGEST_VERSION)
    for rel_b, kind, exe, value in records:
        # NUL cannot occur in paths, targets or hex digests, so the encoding is unambiguous.
        hasher.update(rel_b + b"\0" + f"{kind}\0{exe}\0".encode() + os.fsencode(value) + b"\0")
    return TreeStats(hasher.hexdigest(), files, size)


# --- tree helpers -------------------------------------------------------------------------------


def make_read_only(root: Path) -> None:
    """Drop every write bit from the files. Directories get u+rwx so the cache can be pruned."""
    for dirpath, _dirs, filenames in os.walk(root):
        os.chmod(dirpath, stat.S_IMODE(os.lstat(dirpath).st_mode) | stat.S_IRWXU)
        for name in filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode) and st.st_mode & _WRITE_BITS:
                os.chmod(full, stat.S_IMODE(st.st_mode) & ~_WRITE_BITS)


def remove_tree(path: Path) -> None:
    """Best-effort removal that copes with read-only directories and any depth (fd-relative)."""
    with contextlib.suppress(OSError):
        remove_at(None, str(path))


# --- the store ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheEntry:
    digest: str
    path: Path
    extra: dict[str, Any]


class SnapshotStore:
    """One cache directory. Cheap to construct: nothing is touched until something is written."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def snapshot_path(self, digest: str) -> Path:
        return self.root / "snapshots" / digest

    def find(self, digest: str) -> Path | None:
        path = self.snapshot_path(digest)
        return path if path.is_dir() else None

    def _key_file(self, key: str) -> Path:
        return self.root / "keys" / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def read_key(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._key_file(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("key") == key else None

    def write_key(self, key: str, data: dict[str, Any]) -> None:
        write_json_atomic(self._key_file(key), {**data, "key": key})

    def lookup(self, key: str) -> CacheEntry | None:
        """The snapshot a source key was last fetched to: one small read and one stat."""
        data = self.read_key(key)
        digest = data.get("digest") if data else None
        if not isinstance(digest, str) or (path := self.find(digest)) is None:
            return None
        extra = data.get("extra") if data else None
        return CacheEntry(digest, path, extra if isinstance(extra, dict) else {})

    def remember(self, key: str, digest: str, extra: dict[str, Any] | None = None) -> None:
        self.write_key(key, {"digest": digest, "extra": extra or {}})

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Exclusive inter-process (and inter-thread) lock; waits for the holder."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        path = locks / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"
        with open(path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A private scratch directory on the cache's filesystem, removed afterwards."""
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        _prune_stale(tmp)
        path = Path(tempfile.mkdtemp(dir=tmp, prefix="stage-"))
        try:
            yield path
        finally:
            remove_tree(path)

    def add_tree(self, tree: Path, *, source: dict[str, Any], git_commit: str | None = None) -> CacheEntry:
        """Hash `tree` (a staging dir), make it read-only and publish it under its digest."""
        stats = tree_digest(tree, git_commit=git_commit)
        final = self.snapshot_path(stats.digest)
        if not final.is_dir():
            make_read_only(tree)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tree, final)
            except OSError:
                if not final.is_dir():  # not a lost race with identical content: a real failure
                    raise
        meta = final.with_name(f"{stats.digest}.json")
        if not meta.exists():
            write_json_atomic(meta, _metadata(stats, source))
        return CacheEntry(stats.digest, final, {})


def _prune_stale(tmp: Path, max_age: float = 2 * 86400) -> None:
    """Drop staging dirs a killed fetcher left behind (nothing legitimate runs for two days)."""
    cutoff = time.time() - max_age
    for entry in tmp.glob("stage-*"):
        with contextlib.suppress(OSError):
            if entry.lstat().st_mtime < cutoff:
                remove_tree(entry)


def _metadata(stats: TreeStats, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "digest": stats.digest,
        "files": stats.files,
        "bytes": stats.bytes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": source,
    }
