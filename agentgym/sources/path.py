"""Local directory sources: the directory's contents (a `.git` inside included) copied into the cache.

A directory is not pinned, so every fetch checks it. Cheaply first: a signature over every entry's
lstat (size, mode, mtime and ctime in ns, inode) that matches the previous fetch's maps straight to
its digest (as git's index does; ctime cannot be set back by user tools). Otherwise the contents are
hashed, and copied only when that digest is not cached yet. Symlinks are copied as symlinks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from agentgym.sources.base import Snapshot
from agentgym.sources.cache import SnapshotStore, UnsupportedEntry, source_error, tree_digest
from agentgym.specs.repo import RepoSpec


def fetch_path(spec: RepoSpec, store: SnapshotStore, *, registry_dir: Path, offline: bool) -> Snapshot:
    assert spec.path
    src = (registry_dir / spec.path).resolve()
    if not src.is_dir():
        raise source_error(spec.id, f"path {spec.path} is not a directory ({src})")
    source = {"kind": "path", "path": str(src)}
    try:
        key = f"path\0{src}\0{stat_signature(src)}"
        if (hit := store.lookup(key)) is not None:
            return Snapshot(spec.id, hit.path, hit.digest, source)
        digest = tree_digest(src).digest
    except (UnsupportedEntry, OSError) as exc:
        raise source_error(spec.id, f"cannot read {src}: {exc}") from None
    snapshot = _publish(spec, store, src, digest, source)
    store.remember(key, snapshot.digest)
    return snapshot


def stat_signature(root: Path) -> str:
    """sha256 over the sorted lstat facts of every entry below `root` (no file is read)."""
    records: list[bytes] = []
    pending = [("", str(root))]
    while pending:
        rel, full = pending.pop()
        with os.scandir(full) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                child = f"{rel}/{entry.name}" if rel else entry.name
                facts = f"{st.st_mode} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}"
                records.append(os.fsencode(child) + b"\0" + facts.encode())
                if entry.is_dir(follow_symlinks=False):
                    pending.append((child, entry.path))
    records.sort()
    return hashlib.sha256(b"\n".join(records)).hexdigest()


def _publish(spec: RepoSpec, store: SnapshotStore, src: Path, digest: str, source: dict[str, Any]) -> Snapshot:
    if (found := store.find(digest)) is not None:
        return Snapshot(spec.id, found, digest, source)
    with store.lock(f"path\0{digest}"), store.staging() as stage:
        if (found := store.find(digest)) is not None:
            return Snapshot(spec.id, found, digest, source)
        tree = stage / "tree"
        try:
            shutil.copytree(src, tree, symlinks=True)
        except (shutil.Error, OSError) as exc:
            raise source_error(spec.id, f"cannot copy {src}: {exc}") from None
        entry = store.add_tree(tree, source=source)  # the copy's digest: src may have changed meanwhile
    return Snapshot(spec.id, entry.path, entry.digest, source)
