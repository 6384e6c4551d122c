"""PyPI sources: the `NAME==VERSION` source distribution, fetched as a file, verified, unpacked safely.

No pip and no build backend run: the file is looked up on the package indexes pip is configured with
(pyindex.py), downloaded while being hashed, refused unless its sha256 is the pinned one, and only
then unpacked with the archive source's safe extraction. Nothing from the package executes on the
host. The snapshot cache key is NAME==VERSION plus the sha256, so a warm fetch reads no index at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgym.sources.archive import copy_hashing, publish_archive, verify_sha256
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import SnapshotStore, source_error
from agentgym.sources.pyindex import PyIndexError, describe, find_sdist, index_settings, safe_url, urlopen
from agentgym.specs.repo import RepoSpec


def _split(requirement: str) -> tuple[str, str]:
    name, sep, version = requirement.partition("==")
    if not sep or not name.strip() or not version.strip():
        raise ValueError(f"expected NAME==VERSION, got {requirement!r}")
    return name.strip(), version.strip()


def download_sdist(repo_id: str, requirement: str, sha256: str, dest: Path) -> Path:
    """Download the pinned sdist of `requirement` into `dest` and check its sha256."""
    settings = index_settings()
    try:
        name, version = _split(requirement)
        candidates = find_sdist(name, version, sha256, settings)
    except (PyIndexError, ValueError) as exc:
        raise source_error(repo_id, f"cannot look up {requirement}: {exc}") from None
    if not candidates:
        raise source_error(repo_id, f"no source distribution of {requirement} on {describe(settings)}")
    chosen = candidates[0]
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / (Path(chosen.filename).name or "sdist")
    try:
        with urlopen(chosen.url, settings) as resp:
            got = copy_hashing(resp, target)
    except (PyIndexError, OSError) as exc:
        raise source_error(repo_id, f"cannot download {safe_url(chosen.url)}: {exc}") from None
    verify_sha256(repo_id, target, got, sha256)
    return target


def fetch_pypi(spec: RepoSpec, store: SnapshotStore, *, registry_dir: Path, offline: bool) -> Snapshot:
    assert spec.pypi and spec.sha256
    key = f"pypi\0{spec.pypi}\0{spec.sha256}\0strip={spec.strip_components}"
    source: dict[str, Any] = {"kind": "pypi", "pypi": spec.pypi, "sha256": spec.sha256}
    if (hit := store.lookup(key)) is not None:
        return Snapshot(spec.id, hit.path, hit.digest, {**source, **hit.extra})
    if offline:
        raise source_error(spec.id, f"offline and {spec.pypi} is not in the cache")
    with store.lock(key):
        if (hit := store.lookup(key)) is not None:
            return Snapshot(spec.id, hit.path, hit.digest, {**source, **hit.extra})
        with store.staging() as stage:
            sdist = download_sdist(spec.id, spec.pypi, spec.sha256, stage / "download")
            source["file"] = sdist.name
            entry = publish_archive(spec.id, sdist, stage, spec.strip_components, store, source)
        store.remember(key, entry.digest, {"file": sdist.name})
    return Snapshot(spec.id, entry.path, entry.digest, source)
