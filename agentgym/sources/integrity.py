"""Snapshots an unisolated (`--sandbox local`) trial could reach are verified against their digest.

A `local` agent runs as the cache's owner and can write into `snapshots/<digest>/` through its real
path. Opening a local trial leaves a marker `snapshots/<digest>.unisolated` (holding the git commit a
git digest needs); from then on every workspace made from that snapshot, in any process, first
recomputes the digest (about 0.16 s for 3,250 files) and refuses a changed snapshot with a SourceError
naming it and the entries changed since it was published; `fetch_snapshot` instead moves a changed
snapshot out of the cache and fetches it again, so the next run rebuilds it. Not covered: a change
made while another trial is already building its workspace from the same snapshot.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from pathlib import Path

from agentgym.errors import SourceError
from agentgym.fstree import short_path
from agentgym.fsutil import write_json_atomic
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import UnsupportedEntry, remove_tree, tree_digest

MARKER_SUFFIX = ".unisolated"
MAX_NAMED = 3


class SnapshotChanged(SourceError):
    """A cached snapshot no longer matches its digest."""


def marker_path(snapshot_dir: Path) -> Path:
    return snapshot_dir.with_name(snapshot_dir.name + MARKER_SUFFIX)


def mark_unisolated(snapshot: Snapshot) -> None:
    """Record that an unisolated trial is about to run on `snapshot` (idempotent)."""
    marker = marker_path(snapshot.path)
    commit = snapshot.source.get("commit") if snapshot.source.get("kind") == "git" else None
    if not marker.exists():
        write_json_atomic(marker, {"git_commit": commit})


def _git_commit(marker: Path) -> str | None:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    commit = data.get("git_commit") if isinstance(data, dict) else None
    return commit if isinstance(commit, str) else None


def check_before_use(snapshot: Snapshot) -> None:
    """Raise SnapshotChanged if an unisolated trial may have touched `snapshot` and it changed."""
    marker = marker_path(snapshot.path)
    if not marker.exists():
        return
    try:
        now = tree_digest(snapshot.path, git_commit=_git_commit(marker)).digest
    except (OSError, UnsupportedEntry) as exc:  # a fifo, a path over PATH_MAX: not a snapshot any more
        now = f"unreadable: {exc}"
    if now != snapshot.digest:
        raise SnapshotChanged(
            f"snapshot {snapshot.digest[:12]} of repo '{snapshot.repo_id}' ({snapshot.path}) changed after it "
            f"was cached (digest now {now[:40]}; {_changed_entries(snapshot.path)}): a --sandbox local "
            "trial can write into the cache. Refusing to use it; the next run's fetch rebuilds it"
        )


def verified_or_removed(snapshot: Snapshot) -> bool:
    """At fetch time: True if `snapshot` is intact; else move it out of the cache and return False."""
    try:
        check_before_use(snapshot)
    except SnapshotChanged:
        trash = snapshot.path.parent.parent / "tmp" / f"stage-changed-{secrets.token_hex(6)}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.rename(snapshot.path, trash)
        with contextlib.suppress(FileNotFoundError):
            marker_path(snapshot.path).unlink()
        remove_tree(trash)
        return False
    return True


def _changed_entries(root: Path) -> str:
    """Entries whose inode changed after the snapshot was published (its metadata file was written)."""
    try:
        published = os.stat(root.with_name(root.name + ".json")).st_mtime_ns
    except OSError:
        return "what changed is unknown"
    changed: list[str] = []
    pending = [("", str(root))]
    while pending and len(changed) < MAX_NAMED:
        rel, full = pending.pop()
        try:
            with os.scandir(full) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # too deep to name
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            child = f"{rel}/{entry.name}" if rel else entry.name
            if st.st_ctime_ns > published and len(changed) < MAX_NAMED:
                changed.append(short_path(ascii(child)[1:-1], 100))
            if stat.S_ISDIR(st.st_mode):
                pending.append((child, entry.path))
    return "changed: " + ", ".join(changed) if changed else "no entry names the change"
