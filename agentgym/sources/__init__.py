"""agentgym.sources: repository sources -> cached, content-addressed, read-only snapshots.

    fetch_snapshot(spec, registry_dir=..., cache=None, offline=False) -> Snapshot

One fetcher per RepoSpec kind (git.py, path.py, archive.py, pypi.py), all publishing through the
SnapshotStore in cache.py; a snapshot an unisolated trial could reach is verified first
(integrity.py). Synchronous: the runner fetches every snapshot while planning, before any trial.
Nothing here ever writes into
a published snapshot; a trial works on its own copy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from agentgym.sources import integrity
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import SnapshotStore, cache_root, tree_digest
from agentgym.specs.repo import RepoSpec

Fetcher = Callable[..., Snapshot]

# imported when a repo of that kind is fetched: archive and pypi (urllib, packaging, tarfile) cost ~20 ms of
# every start-up otherwise
_FETCHERS: dict[str, tuple[str, str]] = {
    "url": ("agentgym.sources.git", "fetch_git"),
    "path": ("agentgym.sources.path", "fetch_path"),
    "archive": ("agentgym.sources.archive", "fetch_archive"),
    "pypi": ("agentgym.sources.pypi", "fetch_pypi"),
}


def _fetcher(kind: str) -> Fetcher:
    module, name = _FETCHERS[kind]
    fetcher: Fetcher = getattr(importlib.import_module(module), name)
    return fetcher


def fetch_snapshot(spec: RepoSpec, *, registry_dir: Path, cache: Path | None = None, offline: bool = False) -> Snapshot:
    """Fetch (or look up) the snapshot of `spec`. Raises SourceError with a one-line message.

    registry_dir: where the repo YAML lives; relative `path:`, `archive:` and local `url:` resolve
    against it. cache: the cache root (default: $AGENTGYM_CACHE or ~/.cache/agentgym). offline: use
    only what is cached (local git repos and local files still work).
    """
    store = SnapshotStore(cache if cache is not None else cache_root())
    fetcher = _fetcher(spec.kind)
    snapshot = fetcher(spec, store, registry_dir=Path(registry_dir), offline=offline)
    if not integrity.verified_or_removed(snapshot):  # changed by an unisolated trial: build it again
        snapshot = fetcher(spec, store, registry_dir=Path(registry_dir), offline=offline)
    return snapshot


__all__ = ["Snapshot", "SnapshotStore", "cache_root", "fetch_snapshot", "tree_digest"]
