"""Archive sources (.tar.gz/.tgz/.zip, local or http(s)): verify sha256 first, then unpack safely.

The archive is copied (or downloaded) into a private staging dir while being hashed, and only that
verified copy is unpacked, so the file cannot change between the check and the extraction. Members
that are absolute, contain `..`, sit under a symlink, or are links pointing outside the tree refuse the
whole archive. The cache key is the archive's sha256 (plus strip_components): a warm fetch is a lookup.
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from agentgym.sources.base import Snapshot
from agentgym.sources.cache import CacheEntry, SnapshotStore, source_error
from agentgym.specs.repo import RepoSpec

_CHUNK = 1 << 20


class ArchiveError(ValueError):
    """The archive is unreadable or unsafe. The message names the member."""


# --- fetch --------------------------------------------------------------------------------------


def fetch_archive(spec: RepoSpec, store: SnapshotStore, *, registry_dir: Path, offline: bool) -> Snapshot:
    assert spec.archive and spec.sha256
    key = f"archive\0{spec.sha256}\0strip={spec.strip_components}"
    source: dict[str, Any] = {"kind": "archive", "archive": spec.archive, "sha256": spec.sha256}
    if (hit := store.lookup(key)) is not None:
        return Snapshot(spec.id, hit.path, hit.digest, source)
    is_url = spec.archive.startswith(("http://", "https://"))
    if offline and is_url:
        raise source_error(spec.id, f"offline and {spec.archive} is not in the cache")
    with store.lock(key), store.staging() as stage:
        if (hit := store.lookup(key)) is not None:
            return Snapshot(spec.id, hit.path, hit.digest, source)
        name = posixpath.basename(spec.archive.split("?", 1)[0]) or "archive"
        (stage / "download").mkdir()
        copy = stage / "download" / name
        try:
            got = _download(spec.archive, copy) if is_url else _copy_local(registry_dir / spec.archive, copy)
        except ArchiveError as exc:
            raise source_error(spec.id, str(exc)) from None
        verify_sha256(spec.id, copy, got, spec.sha256)
        entry = publish_archive(spec.id, copy, stage, spec.strip_components, store, source)
        store.remember(key, entry.digest)
    return Snapshot(spec.id, entry.path, entry.digest, source)


def verify_sha256(repo_id: str, file: Path, got: str, expected: str) -> None:
    """Refuse a file whose sha256 is not the pinned one (before anything is unpacked)."""
    if got != expected:
        raise source_error(repo_id, f"sha256 mismatch for {file.name} (expected {expected}, got {got})")


def publish_archive(
    repo_id: str, file: Path, stage: Path, strip: int | None, store: SnapshotStore, source: dict[str, Any]
) -> CacheEntry:
    """Unpack a verified archive into `stage/tree` and publish that tree in the cache."""
    tree = stage / "tree"
    try:
        unpack(file, tree, strip)
    except ArchiveError as exc:
        raise source_error(repo_id, f"{file.name}: {exc}") from None
    return store.add_tree(tree, source=source)


def copy_hashing(reader: IO[bytes], dest: Path) -> str:
    hasher = hashlib.sha256()
    with open(dest, "wb") as out:
        while chunk := reader.read(_CHUNK):
            hasher.update(chunk)
            out.write(chunk)
    return hasher.hexdigest()


def _copy_local(src: Path, dest: Path) -> str:
    try:
        with open(src, "rb") as reader:
            return copy_hashing(reader, dest)
    except OSError as exc:
        raise ArchiveError(f"cannot read archive {src}: {exc.strerror or exc}") from None


def _download(url: str, dest: Path) -> str:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return copy_hashing(resp, dest)
    except urllib.error.HTTPError as exc:
        raise ArchiveError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ArchiveError(f"cannot download {url}: {reason}") from None


# --- member checks ------------------------------------------------------------------------------


def _parts(name: str) -> list[str]:
    """Path components of a member name, refusing absolute names and `..`."""
    if name.startswith("/"):
        raise ArchiveError(f"absolute member path {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"member path with '..': {name!r}")
    return parts


def default_strip(names: Iterable[str]) -> int:
    """1 when every member lives under one common top-level directory, else 0."""
    tops: set[str] = set()
    nested = False
    for name in names:
        parts = _parts(name)
        if parts:
            tops.add(parts[0])
            nested = nested or len(parts) > 1
    return 1 if len(tops) == 1 and nested else 0


def _stripped(name: str, strip: int) -> str | None:
    parts = _parts(name)
    return "/".join(parts[strip:]) if len(parts) > strip else None


def _check_symlink(name: str, target: str) -> None:
    if target.startswith("/"):
        raise ArchiveError(f"symlink {name!r} points to an absolute path")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise ArchiveError(f"symlink {name!r} points outside the tree")


def _check_not_under_link(name: str, links: set[str]) -> None:
    """Refuse members written through an earlier symlink (the lexical checks could not see it)."""
    parts = name.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in links:
            raise ArchiveError(f"member {name!r} lies under a symlink")


# --- tar ----------------------------------------------------------------------------------------


def _plan_tar(members: list[tarfile.TarInfo], strip: int) -> list[tarfile.TarInfo]:
    links: set[str] = set()
    plan: list[tarfile.TarInfo] = []
    for member in members:
        name = _stripped(member.name, strip)
        if member.islnk():
            target = _stripped(member.linkname, strip)
            if target is None:
                raise ArchiveError(f"hard link {member.name!r} to a stripped path")
        if name is None:
            continue
        _check_not_under_link(name, links)
        if member.issym():
            _check_symlink(name, member.linkname)
            links.add(name)
        elif not (member.isfile() or member.isdir() or member.islnk()):
            raise ArchiveError(f"special file {member.name!r}")
        planned = copy.copy(member)
        planned.name = name
        if member.islnk():
            planned.linkname = target
        plan.append(planned)
    return plan


def _data_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    try:
        return tarfile.data_filter(member, dest)  # second line of defense (resolves real paths)
    except tarfile.FilterError as exc:
        raise ArchiveError(f"unsafe member {member.name!r}: {exc}") from None


def _unpack_tar(archive: Path, dest: Path, strip: int | None) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        count = default_strip(m.name for m in members) if strip is None else strip
        plan = _plan_tar(members, count)
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
            tar.extractall(dest, members=plan, filter=_data_filter)
        else:  # the checks in _plan_tar alone already keep every member inside `dest`
            tar.extractall(dest, members=plan)


# --- zip ----------------------------------------------------------------------------------------


def _zip_mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0xFFFF


def _unpack_zip(archive: Path, dest: Path, strip: int | None) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        count = default_strip(i.filename for i in infos) if strip is None else strip
        links: set[str] = set()
        for info in infos:
            name = _stripped(info.filename, count)
            if name is None:
                continue
            _check_not_under_link(name, links)
            _extract_zip_member(zf, info, dest / name, name, links)


def _extract_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, name: str, links: set[str]) -> None:
    mode = _zip_mode(info)
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISLNK(mode):
        link = zf.read(info).decode("utf-8", "surrogateescape")
        _check_symlink(name, link)
        links.add(name)
        target.symlink_to(link)
        return
    with zf.open(info) as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)
    if mode & stat.S_IXUSR:
        target.chmod(0o755)


# --- entry point --------------------------------------------------------------------------------


def unpack(archive: Path, dest: Path, strip: int | None = None) -> None:
    """Unpack a tar (any compression) or zip into `dest`; `strip=None` drops a single top dir."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            _unpack_zip(archive, dest, strip)
        elif tarfile.is_tarfile(archive):
            _unpack_tar(archive, dest, strip)
        else:
            raise ArchiveError("not a tar or zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise ArchiveError(f"corrupt archive: {exc}") from None
    except (ArchiveError, UnicodeDecodeError):
        raise
    except OSError as exc:
        raise ArchiveError(f"cannot unpack: {exc.strerror or exc}") from None
