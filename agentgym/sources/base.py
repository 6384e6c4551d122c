"""What a source produces: a read-only, content-addressed snapshot of a repository tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """A pristine repository tree in the cache. Never modified after creation.

    path:    the tree's root directory (files are read-only on disk).
    digest:  sha256 over the tree (paths, modes, contents): the content address.
    source:  provenance for run_config.json, e.g. {"kind": "git", "url": ..., "ref": ..., "commit": ...}.
    """

    repo_id: str
    path: Path
    digest: str
    source: dict[str, Any] = field(default_factory=dict)
