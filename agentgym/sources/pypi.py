"""PyPI sources: the `NAME==VERSION` source distribution, fetched with pip, verified, unpacked.

pip runs inside a private helper venv under the cache (created once) that holds `setuptools<70` and
`wheel`: `pip download` prepares an sdist's metadata, and some older sdists (mmengine 0.10.7,
opencompass 0.5.4, xtuner 0.2.0) cannot be prepared with a newer setuptools or without one at all.
pip keeps its normal download cache. The snapshot cache key is NAME==VERSION plus the sha256, so a
warm fetch runs no pip at all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentgym.fsutil import file_sha256
from agentgym.sources.archive import publish_archive, verify_sha256
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import SnapshotStore, last_line, source_error
from agentgym.specs.repo import RepoSpec

HELPER_REQUIREMENTS = ("setuptools<70", "wheel")
_HELPER_NAME = "pip-helper-v1"  # bump when HELPER_REQUIREMENTS change
_SDIST_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar")
_PIP_TIMEOUT = 1800.0


class PipError(Exception):
    """pip (or venv) failed; the message is the last line of its stderr."""


def pip_verdict(stderr: str) -> str:
    """The informative line of pip's stderr: its last `ERROR:`/`error:` line that is more than an
    error code (pip ends with "hint: See above for details"), else the last line."""
    for line in reversed(stderr.splitlines()):
        text = line.strip()
        head, _, rest = text.partition(":")
        if head.lower() == "error" and not re.fullmatch(r"[a-z\-]+", rest.strip()):
            return text
    return last_line(stderr)


def _run(args: list[str], what: str) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    try:
        proc = subprocess.run(
            args, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=_PIP_TIMEOUT, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise PipError(f"{what} timed out after {_PIP_TIMEOUT:.0f}s") from None
    if proc.returncode != 0:
        raise PipError(f"{what} failed: {pip_verdict(proc.stderr or proc.stdout)}")


def helper_python(store: SnapshotStore) -> Path:
    """The helper venv's python, creating the venv (atomically, under a lock) on first use."""
    venv = store.root / "tools" / _HELPER_NAME
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    with store.lock(f"tools\0{_HELPER_NAME}"), store.staging() as stage:
        if (venv / ".complete").exists():
            return python
        tmp = stage / "venv"
        _run([sys.executable, "-m", "venv", str(tmp)], "creating the pip helper venv")
        _run([str(tmp / "bin" / "python"), "-m", "pip", "install", "--quiet", *HELPER_REQUIREMENTS],
             f"installing {' '.join(HELPER_REQUIREMENTS)} into the pip helper venv")  # fmt: skip
        (tmp / ".complete").write_text("ok\n", encoding="utf-8")
        venv.parent.mkdir(parents=True, exist_ok=True)
        os.rename(tmp, venv)  # a venv's python finds its prefix through pyvenv.cfg: renaming is safe
    return python


def pip_download(python: Path, requirement: str, dest: Path) -> Path:
    """`pip download` the sdist of `requirement` into `dest`; returns the downloaded file."""
    dest.mkdir(parents=True, exist_ok=True)
    args = [str(python), "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--no-build-isolation", requirement, "-d", str(dest)]  # fmt: skip
    _run(args, f"pip download {requirement}")
    files = sorted(p for p in dest.iterdir() if p.is_file())
    if len(files) != 1 or not files[0].name.endswith(_SDIST_SUFFIXES):
        names = ", ".join(p.name for p in files) or "nothing"
        raise PipError(f"pip download {requirement} gave {names}, expected one source distribution")
    return files[0]


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
            try:
                sdist = pip_download(helper_python(store), spec.pypi, stage / "download")
            except PipError as exc:
                raise source_error(spec.id, str(exc)) from None
            source["file"] = sdist.name
            verify_sha256(spec.id, sdist, file_sha256(sdist), spec.sha256)
            entry = publish_archive(spec.id, sdist, stage, spec.strip_components, store, source)
        store.remember(key, entry.digest, {"file": sdist.name})
    return Snapshot(spec.id, entry.path, entry.digest, source)
