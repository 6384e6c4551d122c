"""git sources: `url` (any git URL, local paths and file:// too) at `ref` (branch, tag, commit; HEAD).

Strategy: one bare mirror per URL in `<cache>/git/` (branches and tags only, not GitHub's pull refs),
and each snapshot a `git clone --no-checkout --local` of that mirror followed by a detached checkout of
the commit, with `origin` pointed back at the real URL. Why: the network is used once per URL, not
once per pinned commit (tasks on the same repo often pin different commits); a local clone hardlinks
the object files, so a new snapshot is fast and costs little disk; and the snapshot's `.git` is
self-contained (no alternates into the cache), so agents can run git inside a sandbox that only sees
the snapshot.

Warm fetches use no network: a full commit sha is looked up directly, and a ref that resolved to a tag
(or an abbreviated sha) is remembered and trusted from then on. Branches and HEAD are re-resolved
while online; offline they use the last resolution.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgym.errors import SourceError
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import CacheEntry, SnapshotStore, last_line, source_error
from agentgym.specs.repo import RepoSpec

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_ABBREV_SHA = re.compile(r"[0-9a-f]{7,39}")
_SCP_LIKE = re.compile(r"^[\w.\-]+@[\w.\-]+:")
_PINNED_KINDS = ("commit", "tag")
_NETWORK_TIMEOUT = 3600.0


class GitError(Exception):
    """A git command failed; the message is git's last stderr line."""


@dataclass(frozen=True)
class Resolved:
    commit: str
    kind: str  # "commit" | "tag" | "branch" | "head" | "other"


def git(*args: str, cwd: Path | None = None, timeout: float = _NETWORK_TIMEOUT) -> str:
    """Run git without prompts; stdout on success, GitError(last stderr line) otherwise."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GCM_INTERACTIVE": "never"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from None
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if proc.returncode != 0:
        raise GitError(last_line(proc.stderr))
    return proc.stdout


# --- URLs ---------------------------------------------------------------------------------------


def is_local(url: str) -> bool:
    return url.startswith("file://") or ("://" not in url and not _SCP_LIKE.match(url))


def resolve_url(url: str, registry_dir: Path) -> str:
    """Local paths become absolute (relative ones against the registry dir); others stay as given."""
    if "://" in url or _SCP_LIKE.match(url):
        return url
    return str((registry_dir / Path(url).expanduser()).resolve())


def mirror_dir(store: SnapshotStore, url: str) -> Path:
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))[:40]
    return store.root / "git" / f"{base or 'repo'}-{hashlib.sha256(url.encode()).hexdigest()[:16]}.git"


# --- the mirror ---------------------------------------------------------------------------------


def _create_mirror(store: SnapshotStore, url: str, mirror: Path) -> None:
    """Bare clone into staging, then rename: a mirror is either complete or absent."""
    with store.staging() as stage:
        tmp = stage / "mirror.git"
        git("clone", "--bare", "--quiet", "--", url, str(tmp))
        git("config", "--replace-all", "remote.origin.fetch", "+refs/heads/*:refs/heads/*", cwd=tmp)
        git("config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*", cwd=tmp)
        mirror.parent.mkdir(parents=True, exist_ok=True)
        os.rename(tmp, mirror)


def _update_mirror(mirror: Path) -> None:
    git("fetch", "--prune", "--quiet", "origin", cwd=mirror)


def _has_commit(mirror: Path, sha: str) -> bool:
    try:
        git("cat-file", "-e", f"{sha}^{{commit}}", cwd=mirror, timeout=60)
    except GitError:
        return False
    return True


def _fetch_sha(mirror: Path, sha: str) -> None:
    """A commit no branch or tag reaches: ask for it by id and pin it so gc keeps it."""
    try:
        git("fetch", "--quiet", "origin", sha, cwd=mirror)
        git("update-ref", f"refs/agentgym/{sha}", sha, cwd=mirror, timeout=60)
    except GitError:
        pass  # reported as an unknown ref by the caller


def _remote_head(mirror: Path) -> str:
    """The remote's current HEAD commit (and the mirror's HEAD follows its default branch)."""
    out = git("ls-remote", "--symref", "origin", "HEAD", cwd=mirror, timeout=300)
    sha = ""
    for line in out.splitlines():
        left, _, name = line.partition("\t")
        if left.startswith("ref: ") and name == "HEAD":
            git("symbolic-ref", "HEAD", left[5:], cwd=mirror, timeout=60)
        elif name == "HEAD":
            sha = left
    if not _FULL_SHA.fullmatch(sha):
        raise GitError("the remote has no HEAD")
    return sha


# --- ref resolution -----------------------------------------------------------------------------


def _ref_kind(mirror: Path, ref: str, commit: str) -> str:
    if ref == commit or (_ABBREV_SHA.fullmatch(ref) and commit.startswith(ref)):
        return "commit"
    for prefix, kind in (("refs/tags/", "tag"), ("refs/heads/", "branch")):
        try:
            git("show-ref", "--verify", "--quiet", prefix + ref, cwd=mirror, timeout=60)
        except GitError:
            continue
        return kind
    return "other"


def _resolve_local(mirror: Path, ref: str | None) -> Resolved | None:
    """Resolve in the mirror as it is (no network)."""
    try:
        out = git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref or 'HEAD'}^{{commit}}",
                  cwd=mirror, timeout=60)  # fmt: skip
    except GitError:
        return None
    commit = out.strip()
    return Resolved(commit, _ref_kind(mirror, ref, commit) if ref else "head")


def _resolve_online(mirror: Path, ref: str | None, fresh: bool) -> Resolved | None:
    """Bring the mirror up to date (unless just cloned) and resolve; HEAD asks the remote."""
    if ref is None:
        commit = _remote_head(mirror)
        if not _has_commit(mirror, commit):
            _update_mirror(mirror)
        return Resolved(commit, "head")
    if _FULL_SHA.fullmatch(ref) and _has_commit(mirror, ref):
        return Resolved(ref, "commit")
    if not fresh:
        _update_mirror(mirror)
    found = _resolve_local(mirror, ref)
    if found is None and _FULL_SHA.fullmatch(ref):
        _fetch_sha(mirror, ref)
        found = _resolve_local(mirror, ref)
    return found


# --- snapshot -----------------------------------------------------------------------------------


def _ref_key(url: str, ref: str | None) -> str:
    return f"git-ref\0{url}\0{ref or ''}"


def _snapshot_key(url: str, commit: str) -> str:
    return f"git\0{url}\0{commit}"


def _known_commit(store: SnapshotStore, url: str, ref: str | None, use_stale: bool) -> str | None:
    """The commit `ref` is pinned to without asking anyone, if it is known."""
    if ref and _FULL_SHA.fullmatch(ref):
        return ref
    data = store.read_key(_ref_key(url, ref))
    if not data or not isinstance(data.get("commit"), str):
        return None
    return data["commit"] if use_stale or data.get("kind") in _PINNED_KINDS else None


def _build(store: SnapshotStore, mirror: Path, url: str, commit: str, source: dict[str, Any]) -> CacheEntry:
    with store.staging() as stage:
        tree = stage / "tree"
        git("clone", "--quiet", "--no-checkout", "--local", "--", str(mirror), str(tree), timeout=1800)
        git("checkout", "--quiet", "--detach", commit, cwd=tree, timeout=1800)
        git("remote", "set-url", "origin", url, cwd=tree, timeout=60)
        return store.add_tree(tree, source=source, git_commit=commit)


def fetch_git(spec: RepoSpec, store: SnapshotStore, *, registry_dir: Path, offline: bool) -> Snapshot:
    assert spec.url
    url = resolve_url(spec.url, registry_dir)
    network = not offline or is_local(url)
    commit = _known_commit(store, url, spec.ref, use_stale=not network)
    if commit and (hit := store.lookup(_snapshot_key(url, commit))) is not None:
        return Snapshot(spec.id, hit.path, hit.digest, _source(spec, commit))
    try:
        return _fetch_locked(spec, store, url, network)
    except GitError as exc:
        raise source_error(spec.id, f"git cannot fetch {spec.url}: {exc}") from None


def _source(spec: RepoSpec, commit: str) -> dict[str, Any]:
    return {"kind": "git", "url": spec.url, "ref": spec.ref, "commit": commit}


def _fetch_locked(spec: RepoSpec, store: SnapshotStore, url: str, network: bool) -> Snapshot:
    mirror = mirror_dir(store, url)
    with store.lock(f"git\0{url}"):
        fresh = False
        if not (mirror / "HEAD").exists():
            if not network:
                raise source_error(spec.id, f"offline and {spec.url} is not in the cache")
            _create_mirror(store, url, mirror)
            fresh = True
        found = _resolve_online(mirror, spec.ref, fresh) if network else _resolve_local(mirror, spec.ref)
        if found is None:
            raise _unknown_ref(spec, network)
        store.write_key(_ref_key(url, spec.ref), {"commit": found.commit, "kind": found.kind})
        key = _snapshot_key(url, found.commit)
        if (hit := store.lookup(key)) is None:
            hit = _build(store, mirror, url, found.commit, _source(spec, found.commit))
            store.remember(key, hit.digest)
    return Snapshot(spec.id, hit.path, hit.digest, _source(spec, found.commit))


def _unknown_ref(spec: RepoSpec, network: bool) -> SourceError:
    where = "" if network else " (offline: the cached mirror may be out of date)"
    return source_error(spec.id, f"unknown ref '{spec.ref or 'HEAD'}' in {spec.url}{where}")
