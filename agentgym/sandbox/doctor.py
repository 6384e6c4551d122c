"""`agentgym doctor`: what the sandbox can enforce on this machine, checked for real."""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

from agentgym.errors import SandboxError
from agentgym.sandbox import cgroup, hostmount
from agentgym.sandbox.base import Limits
from agentgym.sandbox.bwrap import (
    LAUNCHER_ENV,
    PROBE_UID,
    SANDBOX_PYTHON,
    SECCOMP_FD,
    bwrap_path,
    keyctl_number,
    launcher_argv,
    namespace_args,
    seccomp_filter,
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


# Run inside a probe sandbox: the session keyring's id (or the errno keyctl fails with).
KEYRING_PROBE = (
    "import ctypes,sys;c=ctypes.CDLL(None,use_errno=True);r=c.syscall(int(sys.argv[1]),0,-3,0);"
    "print(r if r>=0 else 'errno=%d'%ctypes.get_errno())"
)


def _session_keyring(nr: int) -> int:
    return int(ctypes.CDLL(None, use_errno=True).syscall(nr, 0, -3, 0))  # KEYCTL_GET_KEYRING_ID, session


def _isolation_rows(bwrap: str) -> list[Row]:
    """The launcher and filter exactly as trials get them: keyctl inside must fail, the keyring be new."""
    rows: list[Row] = []
    flt, nr = seccomp_filter(), keyctl_number()
    if flt is None or nr is None:
        rows.append(("seccomp filter", False, "libseccomp not usable: install libseccomp2 and pyseccomp"))
        return rows
    with tempfile.TemporaryDirectory() as where:
        bpf = Path(where) / "seccomp.bpf"
        bpf.write_bytes(flt.bpf)
        inner = [bwrap, *namespace_args(), *system_args(), "--proc", "/proc", "--dev", "/dev"]
        probe = [SANDBOX_PYTHON, "-I", "-S", "-c", KEYRING_PROBE, str(nr)]
        filtered = _launch([*setpriv_argv(PROBE_UID), *inner, "--seccomp", str(SECCOMP_FD), "--", *probe], bpf)
        bare = _launch([*setpriv_argv(PROBE_UID), *inner, "--", *probe], None)
    refused = filtered.stdout.strip() == "errno=1"
    detail = f"{len(flt.refused)} syscalls refused with EPERM (keyctl inside: {filtered.stdout.strip() or filtered.stderr.strip()})"
    rows.append(("seccomp filter", refused, detail))
    own, inside = _session_keyring(nr), bare.stdout.strip()
    fresh = inside.isdigit() and int(inside) != own
    rows.append(("session keyring", fresh, "a fresh one per sandbox" if fresh else f"shared: {inside or bare.stderr}"))
    return rows


def _launch(argv: list[str], bpf: Path | None) -> subprocess.CompletedProcess[str]:
    wrapped = launcher_argv(argv, None, bpf)
    return subprocess.run(wrapped, env=LAUNCHER_ENV, capture_output=True, text=True, timeout=20, check=False)


def _cgroup_row() -> Row:
    layout, defaults = cgroup.support(), Limits()
    if not isinstance(layout, cgroup.Layout):
        return ("trial cgroup", False, f"{layout}: only per-process rlimits bound memory and processes")
    return (
        "trial cgroup",
        True,
        f"{layout.describe()} (defaults trial_memory_bytes={defaults.trial_memory_bytes},"
        f" trial_processes={defaults.trial_processes})",
    )


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
    if bwrap is not None:
        try:
            rows += _isolation_rows(bwrap)
        except (OSError, subprocess.TimeoutExpired, SandboxError) as exc:
            rows.append(("seccomp filter", False, f"probe failed: {exc}"))
    rows += [_cgroup_row(), _uid_row(), _tmpfs_row(), *_rlimit_rows()]
    rows.append(("/dev", True, "read-only; /dev/shm is the scratch's (disk quota as above)"))
    rows.append(("SysV IPC", True, "private namespace; every object removed after each command"))
    git = shutil.which("git")
    rows.append(("git (optional)", git is not None, git or "not installed"))
    rows.append(_fallback_row(rows))
    return rows
