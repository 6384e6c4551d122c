"""The sandbox's seccomp filter: syscalls a coding task never needs are refused (bubblewrap `--seccomp`).

Built on the host with libseccomp (the Debian-maintained C library that Docker, Podman and systemd use)
through PyPI's `pyseccomp`: a pure-ctypes binding with the API of libseccomp's official Python module, so
it works in any virtualenv (Debian's python3-seccomp only imports into Debian's own python) and needs no
compiler. libseccomp resolves names per architecture and generates the BPF, including the architecture
check: a syscall through another ABI (i386 `int 0x80`, x32) kills the process instead of slipping by.

Refused syscalls return EPERM, like Docker's default profile: tools report "Operation not permitted",
which the executor records as `sandbox_blocked`. `clone3` is the exception: it gets ENOSYS, so glibc
falls back to `clone`, whose namespace flags the filter can inspect (clone3 passes them in memory).
"""

from __future__ import annotations

import errno
import functools
import tempfile
from dataclasses import dataclass
from typing import Any

# Keyrings (shared with the harness), kernel extension points and tracing, mounts and namespaces (already
# refused by bubblewrap's --disable-userns and the missing capabilities: belt and braces), host-wide
# clocks and state, and interfaces with a long record of kernel bugs (io_uring, userfaultfd, bpf).
REFUSED_SYSCALLS = (
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "name_to_handle_at",
    "mount",
    "umount2",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "syslog",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "sethostname",
    "setdomainname",
    "vhangup",
    "uselib",
    "nfsservctl",
    "fanotify_init",
)
# clone() with one of these flags would make a namespace (bubblewrap's --disable-userns refuses a user
# namespace, and without capabilities the others fail too; refusing here keeps it so whatever the kernel).
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


@dataclass(frozen=True)
class Filter:
    bpf: bytes  # the compiled program bubblewrap loads
    refused: tuple[str, ...]  # syscall names refused outright on this architecture


@functools.lru_cache(maxsize=1)
def build_filter() -> Filter | str:
    """The compiled filter (built once per process), or why it cannot be built here."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError, RuntimeError) as exc:  # the module raises RuntimeError without libseccomp
        return f"libseccomp is not usable ({exc}); install libseccomp2 and the pyseccomp package"
    try:
        flt = sc.SyscallFilter(sc.ALLOW)
        refused = tuple(name for name in REFUSED_SYSCALLS if _refuse(flt, sc.ERRNO(errno.EPERM), name))
        flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        for flag in CLONE_NAMESPACE_FLAGS:
            flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        with tempfile.TemporaryFile() as handle:
            flt.export_bpf(handle)
            handle.seek(0)
            bpf = handle.read()
    except OSError as exc:
        return f"libseccomp could not build the filter: {exc}"
    return Filter(bpf=bpf, refused=refused)


def syscall_number(name: str) -> int | None:
    """The native number of a syscall (for the launcher's keyctl call), None if unknown here."""
    try:
        import pyseccomp as sc

        number = int(sc.resolve_syscall(sc.system_arch(), name))
    except (ImportError, OSError, RuntimeError, ValueError):
        return None
    return number if number >= 0 else None


def _refuse(flt: Any, action: int, name: str) -> bool:
    """Add a refusal for `name`; False if this architecture has no such syscall."""
    try:
        flt.add_rule(action, name)
    except OSError:
        return False
    return True
