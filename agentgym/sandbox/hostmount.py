"""Host mounts for the bubblewrap sandbox when the harness is root: a size-limited tmpfs for the
trial's writable scratch, and a read-only bind of the workspace where the sandbox user can reach it.
Also the per-trial sandbox uid ("slot"): a lock file under the host-wide run base (not under a cache, which
several harnesses may not share) held with flock by the owning process for the slot's whole lifetime, so
no two harnesses on the host ever run trials as the same uid; a dead owner's lock is released by the kernel.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from agentgym.errors import SandboxError

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
MNT_DETACH = 2
SLOT_UID_BASE = 200_000
MAX_SLOTS = 4096
RUN_BASE_ENV = "AGENTGYM_SANDBOX_RUN"

_libc = ctypes.CDLL(None, use_errno=True)


def run_base() -> Path:
    """Where per-trial mount points live when root (must be traversable by unprivileged users)."""
    return Path(os.environ.get(RUN_BASE_ENV, "/run/agentgym"))


def _mount(source: str | None, target: Path, fstype: str | None, flags: int, data: str | None) -> None:
    def enc(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    if _libc.mount(enc(source), enc(str(target)), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise SandboxError(
            f"mount {fstype or 'bind'} on {target} failed: {os.strerror(err)}",
            hint="run as root with mount rights, or use --sandbox local to run without isolation",
        )


def mount_tmpfs(target: Path, size_bytes: int, inodes: int) -> None:
    _mount("agentgym", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_bytes},nr_inodes={inodes},mode=0755")


def bind_readonly(source: Path, target: Path) -> None:
    _mount(str(source), target, None, MS_BIND | MS_REC, None)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def mount_overlay(lower: Path, upper: Path, work: Path, target: Path) -> None:
    """Kernel overlayfs at `target`: reads fall through to `lower` (never written), writes go to `upper`.
    metacopy=on: a chown/chmod copies up metadata only, so handing the tree to the sandbox uid is cheap."""
    dirs = [str(lower), str(upper), str(work)]
    if any(c in d for d in dirs for c in ",:\\"):
        raise SandboxError(f"cannot make an overlay: a path has ',', ':' or '\\' in it ({dirs[0]})")
    data = f"lowerdir={dirs[0]},upperdir={dirs[1]},workdir={dirs[2]},metacopy=on"
    _mount("agentgym-overlay", target, "overlay", MS_NOSUID | MS_NODEV, data)


def unmount(target: Path) -> None:
    """Lazy unmount; silent if nothing is mounted there."""
    _libc.umount2(str(target).encode(), MNT_DETACH)


def is_mount_point(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


@dataclass
class Slot:
    """A sandbox uid reserved for one trial (held through an exclusive lock on a file)."""

    number: int
    uid: int
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def slot_lock_dir() -> Path:
    return run_base() / "slots"


def acquire_slot(lock_dir: Path | None = None) -> Slot:
    lock_dir = lock_dir or slot_lock_dir()
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for number in range(MAX_SLOTS):
        fd = os.open(lock_dir / f"{number}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(number=number, uid=SLOT_UID_BASE + number, fd=fd)
    raise SandboxError(f"all {MAX_SLOTS} sandbox uids are in use", hint="run fewer trials in parallel")
