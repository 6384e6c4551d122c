"""`agentgym doctor`: what the sandbox can enforce on this machine, checked for real."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

from agentgym.errors import SandboxError
from agentgym.sandbox import hostmount
from agentgym.sandbox.base import Limits
from agentgym.sandbox.bwrap import (
    LAUNCHER_ENV,
    PROBE_UID,
    SANDBOX_PYTHON,
    bwrap_path,
    namespace_args,
    setpriv_argv,
    system_args,
)

Row = tuple[str, bool, str]
RLIMITS = (
    ("cpu_seconds", resource.RLIMIT_CPU),
    ("memory_bytes", resource.RLIMIT_AS),
    ("file_size_bytes", resource.RLIMIT_FSIZE),
    ("max_processes", resource.RLIMIT_NPROC),
    ("open_files", resource.RLIMIT_NOFILE),
)


def _probe(bwrap: str, extra: list[str], command: list[str]) -> subprocess.CompletedProcess[str]:
    argv = [*setpriv_argv(PROBE_UID), bwrap, *extra, *system_args(), "--proc", "/proc", "--dev", "/dev", "--", *command]
    return subprocess.run(argv, env=LAUNCHER_ENV, capture_output=True, text=True, timeout=20, check=False)


def _bwrap_rows(bwrap: str) -> list[Row]:
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    rows: list[Row] = [("bubblewrap", True, f"{bwrap} ({version or 'unknown version'})")]
    user = _probe(bwrap, ["--unshare-user"], ["/usr/bin/id", "-u"])
    rows.append(("user namespace", user.returncode == 0, user.stderr.strip() or "unprivileged user namespaces work"))
    net = _probe(bwrap, ["--unshare-user", "--unshare-net"], ["/usr/bin/cat", "/proc/net/dev"])
    devices = [line.split(":")[0].strip() for line in net.stdout.splitlines() if ":" in line]
    rows.append(
        (
            "network namespace",
            net.returncode == 0 and devices == ["lo"],
            f"interfaces inside: {', '.join(devices) or 'none'}" if net.returncode == 0 else net.stderr.strip(),
        )
    )
    pid = _probe(bwrap, [*namespace_args(), "--as-pid-1"], ["/bin/sh", "-c", "echo $$"])
    rows.append(
        (
            "pid namespace",
            pid.stdout.strip() == "1",
            "the executor is pid 1 of its own namespace" if pid.stdout.strip() == "1" else pid.stderr.strip(),
        )
    )
    return rows


def _uid_row() -> Row:
    if os.geteuid() != 0:
        return (
            "dedicated sandbox uid",
            False,
            f"not root: the sandbox runs as your uid {os.getuid()} (RLIMIT_NPROC counts all your processes)",
        )
    try:
        setpriv_argv(PROBE_UID)
    except SandboxError as exc:
        return ("dedicated sandbox uid", False, exc.message)
    return ("dedicated sandbox uid", True, f"setpriv drops to uid {hostmount.SLOT_UID_BASE}+slot per concurrent trial")


def _tmpfs_row() -> Row:
    if os.geteuid() != 0:
        return ("disk quota (tmpfs)", False, "not root: scratch is on disk, only RLIMIT_FSIZE bounds each file")
    base = hostmount.run_base()
    try:
        base.mkdir(mode=0o711, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=base) as where:
            target = Path(where)
            hostmount.mount_tmpfs(target, 1024**2, 64)
            try:
                full = _fill(target / "fill", 2 * 1024**2)
            finally:
                hostmount.unmount(target)
    except (OSError, SandboxError) as exc:
        return ("disk quota (tmpfs)", False, f"cannot mount a size-limited tmpfs: {exc}")
    return ("disk quota (tmpfs)", full, "writes beyond disk_bytes fail with ENOSPC" if full else "size= ignored")


def _fill(path: Path, size: int) -> bool:
    try:
        with open(path, "wb") as handle:
            handle.write(b"\0" * size)
    except OSError:
        return True
    return False


def _rlimit_rows() -> list[Row]:
    rows: list[Row] = []
    defaults = Limits()
    for name, res in RLIMITS:
        value = getattr(defaults, name)
        _, hard = resource.getrlimit(res)
        fits = hard == resource.RLIM_INFINITY or value <= hard
        limit_text = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        detail = f"default {value}, hard limit here {limit_text}"
        if name == "max_processes" and os.geteuid() != 0:
            detail += f" (counted over every process of uid {os.getuid()})"
        rows.append((f"rlimit {name}", fits, detail))
    return rows


def _fallback_row(rows: list[Row]) -> Row:
    missing = [name for name, ok, _ in rows if not ok]
    if not missing:
        return ("fallbacks", True, "none: full isolation available")
    return ("fallbacks", False, f"degraded: {', '.join(missing)}; --sandbox local runs without any isolation")


def doctor_report() -> list[tuple[str, bool, str]]:
    """(feature, works, detail) rows for the CLI to print."""
    bwrap = bwrap_path()
    rows: list[Row] = []
    if bwrap is None:
        rows.append(("bubblewrap", False, "bwrap not found: install bubblewrap or use --sandbox local"))
    else:
        try:
            rows += _bwrap_rows(bwrap)
        except (OSError, subprocess.TimeoutExpired, SandboxError) as exc:
            rows.append(("bubblewrap", False, f"probe failed: {exc}"))
    python_ok = os.access(SANDBOX_PYTHON, os.X_OK)
    rows.append(("sandbox python", python_ok, SANDBOX_PYTHON if python_ok else f"{SANDBOX_PYTHON} missing"))
    rows += [_uid_row(), _tmpfs_row(), *_rlimit_rows()]
    git = shutil.which("git")
    rows.append(("git (optional)", git is not None, git or "not installed"))
    rows.append(_fallback_row(rows))
    return rows
