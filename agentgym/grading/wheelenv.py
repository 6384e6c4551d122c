"""A repo's test environment built from the pure-Python wheels its registry file pins (`test_env`).

Each pin names a release and the sha256 of one wheel file. The file is looked up on the package indexes pip is
configured with (sources/pyindex.py, no pip), downloaded while being hashed and refused unless its sha256 is
the pin; a file listed without a hash is downloaded and judged by its bytes. Only pure-Python wheels are
taken (`-none-any`, python tag py3 / py3N / cp3N with N at most the sandbox python's minor), so nothing needs
building and nothing is compiled for the wrong interpreter. Installing is unzipping (wheelinstall.py): no
package code runs on the host.

The result is cached by content under `<cache>/testenv/wheels-<key>`, the key hashing the sandbox python's
version (asked once from /usr/bin/python3 with -I -S: the interpreter the sandbox binds), the sorted wheel
sha256s and the pythonpath. It is built in a staging dir under a lock (two processes never both build),
made read-only and renamed into place whole; `agentgym-env.json` inside records what it holds, so a warm
lookup reads one small file and asks no index.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import IO

from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

from agentgym.errors import SpecError
from agentgym.grading.testenv import SANDBOX_PYTHON, TestEnvironment, readable_by_all, sandbox_python
from agentgym.grading.wheelinstall import Budget, Installed, WheelError, install_wheel
from agentgym.sources.archive import copy_hashing
from agentgym.sources.cache import SnapshotStore, cache_root, make_read_only, remove_tree
from agentgym.sources.pyindex import (
    Candidate,
    IndexSettings,
    PyIndexError,
    describe,
    find_wheel,
    index_settings,
    safe_url,
    urlopen,
)
from agentgym.specs.repo import TestEnvSpec, WheelPin

MANIFEST = "agentgym-env.json"
MAX_WHEEL_BYTES = 128 * 1024**2  # one download
MAX_ENV_BYTES = 512 * 1024**2  # everything unpacked
_FORMAT = 1


def env_key(python: str, spec: TestEnvSpec) -> str:
    """What the environment's content depends on, hashed."""
    material = {"v": _FORMAT, "python": python, "wheels": sorted(w.sha256 for w in spec.wheels)}
    material["pythonpath"] = list(spec.pythonpath)
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:24]


def wheel_environment(repo_id: str, repo_file: Path, spec: TestEnvSpec, *, offline: bool = False) -> TestEnvironment:
    """The cached environment for `spec`, built first if needed. SpecError naming `repo_file` on bad pins."""
    python = sandbox_python()
    key = env_key(python, spec)
    target = cache_root() / "testenv" / f"wheels-{key}"
    if (found := _cached(target)) is not None:
        return found
    if offline:
        raise SpecError(f"{repo_file}: field test_env: offline and its environment (wheels-{key}) is not in the cache")
    store = SnapshotStore(cache_root())
    with store.lock(f"testenv\0{key}"):
        if (found := _cached(target)) is not None:  # built by another process while we waited
            return found
        remove_tree(target)  # a folder without its manifest: not ours to trust
        with store.staging() as stage:
            _build(stage / "env", repo_file, spec, python, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(stage / "env", target)
    found = _cached(target)
    assert found is not None
    return found


def _cached(target: Path) -> TestEnvironment | None:
    try:
        data = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
        return TestEnvironment(
            kind="wheels",
            host_dir=target,
            key=str(data["key"]),
            python=str(data["python"]),
            packages={str(k): str(v) for k, v in data["packages"].items()},
            wheels=tuple((str(w["file"]), str(w["sha256"])) for w in data["wheels"]),
            pythonpath=tuple(str(p) for p in data["pythonpath"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _build(root: Path, repo_file: Path, spec: TestEnvSpec, python: str, key: str) -> None:
    (root / "site").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "download").mkdir()
    os.symlink(SANDBOX_PYTHON, root / "bin" / "python")
    settings = index_settings()
    budget = Budget(MAX_ENV_BYTES)
    minor = int(python.split(".")[1])
    packages: dict[str, str] = {}
    wheels = []
    for pin in spec.wheels:
        wheel = _fetch(pin, settings, root / "download", minor, repo_file)
        try:
            done: Installed = install_wheel(wheel, root / "site", pin.name, pin.version, budget)
        except WheelError as exc:
            raise _pin_error(repo_file, pin, f"{wheel.name}: {exc}") from None
        packages[done.name] = done.version
        wheels.append({"file": wheel.name, "sha256": pin.sha256})
        wheel.unlink()
    (root / "download").rmdir()
    manifest = {"key": key, "python": python, "packages": packages, "wheels": wheels, "pythonpath": spec.pythonpath}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    readable_by_all(root)
    make_read_only(root)


def _pin_error(repo_file: Path, pin: WheelPin, why: str) -> SpecError:
    return SpecError(f"{repo_file}: field test_env.wheels: {pin.requirement}: {why}")


# --- finding and downloading the pinned file -----------------------------------------------------------------


def pure_python_problem(filename: str, minor: int) -> str | None:
    """Why the sandbox's python 3.`minor` cannot use this wheel as it is (None: it can)."""
    tags: frozenset[Tag] = parse_wheel_filename(filename)[3]
    binary = sorted(str(t) for t in tags if t.abi != "none" or t.platform != "any")
    if binary:
        return f"{filename} is a platform wheel ({binary[0]}): only pure-Python (-none-any) wheels are accepted"
    if not any(_python_ok(t.interpreter, minor) for t in tags):
        found = ", ".join(sorted({t.interpreter for t in tags}))
        return f"{filename} is for {found}, not the sandbox's python 3.{minor}"
    return None


def _python_ok(interpreter: str, minor: int) -> bool:
    if interpreter == "py3":
        return True
    for prefix in ("py3", "cp3"):
        rest = interpreter.removeprefix(prefix)
        if rest != interpreter and rest.isdigit():
            return int(rest) <= minor
    return False


def _fetch(pin: WheelPin, settings: IndexSettings, dest: Path, minor: int, repo_file: Path) -> Path:
    """Download the wheel whose sha256 is the pin (refused unless pure Python for this sandbox)."""
    try:
        found = find_wheel(pin.name, pin.version, pin.sha256, settings)
    except PyIndexError as exc:
        raise _pin_error(repo_file, pin, f"cannot look it up: {exc}") from None
    if not found:
        raise _pin_error(repo_file, pin, f"no wheel of it on {describe(settings)}")
    pinned = [c for c in found if c.sha256 == pin.sha256]
    tries = pinned[:1] or [c for c in found if c.sha256 is None]
    if not tries:
        listed = ", ".join(f"{c.filename} ({c.sha256})" for c in found[:3])
        raise _pin_error(repo_file, pin, f"sha256 mismatch: no listed wheel has sha256 {pin.sha256} (listed: {listed})")
    for candidate in tries:
        if (problem := pure_python_problem(candidate.filename, minor)) is not None and candidate.sha256:
            raise _pin_error(repo_file, pin, problem)
        path, got = _download(candidate, settings, dest, pin, repo_file)
        if got == pin.sha256:
            if problem is not None:
                raise _pin_error(repo_file, pin, problem)
            return path
        path.unlink()
    names = ", ".join(c.filename for c in tries[:3])
    raise _pin_error(repo_file, pin, f"sha256 mismatch: none of {names} has sha256 {pin.sha256}")


class _Bounded:
    """A reader that refuses to go past `limit` bytes (an index could serve an endless file)."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self.inner, self.left = inner, limit

    def read(self, size: int = -1) -> bytes:
        chunk = self.inner.read(min(size, self.left + 1) if size >= 0 else self.left + 1)
        self.left -= len(chunk)
        if self.left < 0:
            raise OSError(f"larger than {MAX_WHEEL_BYTES} bytes")
        return chunk


def _download(
    candidate: Candidate, settings: IndexSettings, dest: Path, pin: WheelPin, repo_file: Path
) -> tuple[Path, str]:
    name = Path(candidate.filename).name
    target = dest / name
    try:
        with urlopen(candidate.url, settings) as resp:
            got = copy_hashing(_Bounded(resp, MAX_WHEEL_BYTES), target)  # type: ignore[arg-type]
    except (PyIndexError, OSError) as exc:
        raise _pin_error(repo_file, pin, f"cannot download {safe_url(candidate.url)}: {exc}") from None
    return target, got
