"""Turn a policy's `write_paths_allowed` into concrete places: repo sub-paths, and /tmp.

Accepted forms: relative paths (`eval_artifacts/`, `out`, `.` = the whole repo), `/repo/...` (the
agent's view of the repo), `/tmp` or anything under it. A path is a directory unless it exists in the
snapshot as a file; missing directories are created empty. Anything else cannot be honoured by a
sandbox and raises SandboxError (never a silent widening or narrowing).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from agentgym.errors import SandboxError

REPO_VIEW = "/repo"
TMP_VIEW = "/tmp"


@dataclass(frozen=True)
class WritePath:
    rel: str  # relative to the repo root, "" = the whole repo
    is_file: bool = False


@dataclass(frozen=True)
class WritePlan:
    repo_paths: list[WritePath]  # outermost only, sorted
    tmp: bool  # the policy names /tmp (a private /tmp is always writable anyway)

    @property
    def rels(self) -> list[str]:
        return [p.rel for p in self.repo_paths]

    def covers(self, rel: str) -> bool:
        """True if `rel` (relative to the repo root) is inside an allowed write path."""
        return any(p.rel == "" or rel == p.rel or rel.startswith(p.rel + "/") for p in self.repo_paths)


def plan_write_paths(paths: list[str], snapshot_root: Path) -> WritePlan:
    if not paths:
        raise SandboxError(
            "the task's command policy allows no write path at all",
            hint="allow at least eval_artifacts/ in write_paths_allowed",
        )
    rels: dict[str, bool] = {}
    tmp = False
    for raw in paths:
        rel = _repo_rel(raw)
        if rel is None:
            tmp = True
            continue
        rels[rel] = _is_file(raw, rel, snapshot_root)
    outer = [r for r in rels if not any(o != r and (o == "" or r.startswith(o + "/")) for o in rels)]
    return WritePlan(repo_paths=[WritePath(r, rels[r]) for r in sorted(outer)], tmp=tmp)


def _repo_rel(raw: str) -> str | None:
    """Repo-relative form of a write path; None for /tmp paths."""
    text = raw.strip()
    if not text:
        raise SandboxError("write_paths_allowed contains an empty path")
    if text.startswith("/"):
        norm = posixpath.normpath(text)
        if norm == TMP_VIEW or norm.startswith(TMP_VIEW + "/"):
            return None
        if norm != REPO_VIEW and not norm.startswith(REPO_VIEW + "/"):
            raise SandboxError(
                f"write path {raw!r} is outside the repo and /tmp: the sandbox cannot allow it",
                hint="use a path relative to the repo root",
            )
        text = norm[len(REPO_VIEW) :].lstrip("/") or "."
    norm = posixpath.normpath(text)
    if norm == ".." or norm.startswith("../"):
        raise SandboxError(f"write path {raw!r} leaves the repo", hint="use a path inside the repo")
    return "" if norm == "." else norm


def _is_file(raw: str, rel: str, snapshot_root: Path) -> bool:
    if not rel:
        return False
    host = snapshot_root / rel
    real = os.path.realpath(host)
    if os.path.lexists(host) and real != os.path.normpath(host):
        raise SandboxError(
            f"write path {raw!r} goes through a symbolic link in the repo",
            hint="name the real directory in write_paths_allowed",
        )
    return not raw.rstrip().endswith("/") and host.is_file()


def resolve_workdir(initial: str, snapshot_root: Path, repo_view: str) -> str:
    """The agent's starting directory (absolute in its view); it must exist in the repo."""
    text = (initial or ".").strip()
    if text.startswith("/"):
        norm = posixpath.normpath(text)
        if norm != REPO_VIEW and not norm.startswith(REPO_VIEW + "/"):
            raise SandboxError(f"initial_working_dir {initial!r} is outside the repo", hint="use a repo-relative path")
        text = norm[len(REPO_VIEW) :].lstrip("/") or "."
    rel = posixpath.normpath(text)
    made_by_us = rel == "eval_artifacts"  # always exists in a workspace
    if rel == ".." or rel.startswith("../") or not (made_by_us or (snapshot_root / rel).is_dir()):
        raise SandboxError(f"initial_working_dir {initial!r} is not a directory of the repo")
    return repo_view if rel == "." else posixpath.join(repo_view, rel)
