"""Installing a verified wheel into a test environment's `site/` by unzipping it, and nothing else.

No installer and no package code runs: a wheel is a zip, and a pure-Python one needs only its files in
place. Every member is judged before a byte is written: absolute paths, `..`, backslashes, symlinks and other
non-regular entries (zip external attributes) refuse the whole wheel, as does a total size over the budget.
`<dist>.data/purelib/` and `platlib/` go into `site/`; scripts, headers and data are left out (the tests
import, they do not run console scripts). Each file is checked against the sha256 and size the wheel's
RECORD lists for it. Nothing from the wheel is ever executed (`.pth` files are inert: `site/` is on
PYTHONPATH, it is not a site directory).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import stat
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

MAX_MEMBERS = 50_000
_CHUNK = 1 << 20
_SKIPPED_SCHEMES = frozenset({"scripts", "headers", "data"})


class WheelError(ValueError):
    """The wheel is unsafe or inconsistent; the message says which member and why."""


@dataclass
class Budget:
    """Bytes still allowed in the environment (all wheels together)."""

    left: int
    used: int = 0

    def take(self, size: int) -> None:
        if size > self.left:
            raise WheelError(f"the environment would exceed {self.used + self.left} bytes unpacked")
        self.left -= size
        self.used += size


@dataclass
class Installed:
    name: str
    version: str
    files: list[str] = field(default_factory=list)  # site-relative paths written


def same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _member_path(info: zipfile.ZipInfo) -> str:
    """The member's name, refused unless it is a plain relative path inside the wheel."""
    name = info.filename
    parts = name.rstrip("/").split("/")
    if not name or name.startswith("/") or "\\" in name or (len(parts[0]) == 2 and parts[0][1] == ":"):
        raise WheelError(f"member {name!r} has an absolute or non-POSIX path")
    if any(p in ("", ".", "..") for p in parts):
        raise WheelError(f"member {name!r} has an empty, '.' or '..' path part")
    mode = (info.external_attr >> 16) & 0xFFFF
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise WheelError(f"member {name!r} is a symlink")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise WheelError(f"member {name!r} is not a regular file")
    return name.rstrip("/")


def _dist_info(names: list[str], project: str, version: str) -> str:
    """The one top-level `NAME-VERSION.dist-info` folder, which must be this distribution's."""
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    found = sorted(t for t in tops if t.endswith(".dist-info"))
    if len(found) != 1:
        raise WheelError(f"expected one .dist-info folder, found {len(found)}")
    stem = found[0].removesuffix(".dist-info")
    name, _, got = stem.rpartition("-")
    if canonicalize_name(name) != canonicalize_name(project) or not same_version(got, version):
        raise WheelError(f"{found[0]} is not the dist-info of {project}=={version}")
    for required in ("METADATA", "WHEEL", "RECORD"):
        if f"{found[0]}/{required}" not in names:
            raise WheelError(f"{found[0]}/{required} is missing")
    return found[0]


def _record(text: str) -> dict[str, tuple[str | None, int | None]]:
    """RECORD rows: path -> (urlsafe-base64 sha256 or None, size or None)."""
    rows: dict[str, tuple[str | None, int | None]] = {}
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        path, digest, size = [*row, "", ""][:3]
        sha = digest.removeprefix("sha256=") if digest.startswith("sha256=") else None
        rows[path] = (sha, int(size) if size.isdigit() else None)
    return rows


def _target(path: str, data_dir: str) -> str | None:
    """Where a member goes, relative to site/ (None: left out)."""
    if not path.startswith(data_dir + "/"):
        return path
    scheme, _, rest = path[len(data_dir) + 1 :].partition("/")
    if scheme in ("purelib", "platlib") and rest:
        return rest
    if scheme in _SKIPPED_SCHEMES:
        return None
    raise WheelError(f"member {path!r} is in an unknown .data scheme {scheme!r}")


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, budget: Budget) -> tuple[str, int]:
    """Copy one member to `dest` (bounded by the budget, whatever the header claims); (sha256 b64, size)."""
    hasher = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, open(dest, "xb") as out:
        while chunk := src.read(_CHUNK):
            budget.take(len(chunk))
            size += len(chunk)
            hasher.update(chunk)
            out.write(chunk)
    return base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode(), size


def install_wheel(wheel: Path, site: Path, project: str, version: str, budget: Budget) -> Installed:
    """Unzip a wheel into `site` after judging every member; WheelError on the first problem."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            return _install(zf, site, project, version, budget)
    except (zipfile.BadZipFile, EOFError, UnicodeDecodeError) as exc:
        raise WheelError(f"corrupt wheel: {exc}") from None
    except FileExistsError as exc:
        raise WheelError(f"{Path(str(exc.filename)).relative_to(site)} is installed by an earlier wheel too") from None


def _install(zf: zipfile.ZipFile, site: Path, project: str, version: str, budget: Budget) -> Installed:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise WheelError(f"more than {MAX_MEMBERS} members")
    paths = [_member_path(info) for info in infos]
    if sum(i.file_size for i in infos) > budget.left:
        raise WheelError(f"the environment would exceed {budget.used + budget.left} bytes unpacked")
    dist_info = _dist_info(paths, project, version)
    record = _record(zf.read(f"{dist_info}/RECORD").decode("utf-8"))
    meta = HeaderParser().parsestr(zf.read(f"{dist_info}/METADATA").decode("utf-8", "replace"))
    name, got = meta.get("Name") or "", meta.get("Version") or ""
    if canonicalize_name(name) != canonicalize_name(project) or not same_version(got, version):
        raise WheelError(f"METADATA says {name}=={got}, not {project}=={version}")
    done = Installed(name, got)
    data_dir = dist_info.removesuffix(".dist-info") + ".data"
    for info, path in zip(infos, paths, strict=True):
        rel = None if info.is_dir() else _target(path, data_dir)
        if rel is None:
            continue
        sha, size = _extract(zf, info, site / rel, budget)
        listed_sha, listed_size = record.get(path, (None, None))
        if (listed_sha is not None and listed_sha != sha) or (listed_size is not None and listed_size != size):
            raise WheelError(f"{path} does not match its RECORD entry (sha256 or size)")
        done.files.append(rel)
    return done
