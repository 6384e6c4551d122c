"""File operations and OS housekeeping of the in-sandbox executor (stdlib only; see executor.py).

Shipped next to executor.py into the sandbox; the file operations resolve paths like the kernel and never
follow a final symlink, so nothing the agent planted leads them outside the repo and the private tmp.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat

TYPE_CHECKING = False  # typing is not imported at run time: ~2 ms of every sandbox's start
if TYPE_CHECKING:
    from typing import Any

BLOCKED_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
# Kept as they are: SIGCHLD (waitpid), the already ignored SIGPIPE/SIGXFSZ (Popen restores them for
# commands), and faults a no-op handler would turn into an endless loop.
FAULT_SIGNALS = ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGSYS")
UNHANDLED_SIGNALS = ("SIGKILL", "SIGSTOP", "SIGCHLD", "SIGPIPE", "SIGXFSZ", *FAULT_SIGNALS)
IPC_RMID = 0


class Refusal(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def ignore_signals() -> None:
    """A do-nothing handler for every signal that can have one (nothing from inside can stop us)."""
    for sig in signal.valid_signals():
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = ""  # a real-time signal without a name of its own
        if name not in UNHANDLED_SIGNALS:
            with contextlib.suppress(OSError, ValueError):  # those reserved by the C library refuse
                signal.signal(sig, _no_op)


def _no_op(_sig: int, _frame: object) -> None:
    return None


def remove_sysv_ipc(libc: Any) -> int:
    """Remove every SysV IPC object of our IPC namespace (they would outlive the command). Returns how many."""
    removers = (
        ("shm", lambda ident: libc.shmctl(ident, IPC_RMID, None)),
        ("sem", lambda ident: libc.semctl(ident, 0, IPC_RMID)),
        ("msg", lambda ident: libc.msgctl(ident, IPC_RMID, None)),
    )
    removed = 0
    for table, remove in removers:
        for ident in _ipc_ids(f"/proc/sysvipc/{table}"):
            removed += remove(ident) == 0
    return removed


def _ipc_ids(path: str) -> list[int]:
    try:
        with open(path) as handle:
            rows = handle.read().splitlines()[1:]
    except OSError:
        return []
    return [int(row.split()[1]) for row in rows if len(row.split()) > 1 and row.split()[1].isdigit()]


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class FileOps:
    """read/write/list for the executor: paths resolved inside `repo` and `tmp`, writes only under `writable`."""

    repo: str
    tmp: str
    writable: list[str]
    limits: dict[str, Any]

    def resolve(self, path: str, *, write: bool = False) -> str:
        if not os.path.isabs(path):
            path = os.path.join(self.repo, path)
        real = os.path.realpath(path)
        if not (_inside(real, self.repo) or _inside(real, self.tmp)):
            raise Refusal("path_escape", f"{path} resolves to {real}, outside {self.repo} and {self.tmp}")
        if write and not any(_inside(real, w) for w in self.writable):
            raise Refusal("sandbox_blocked", f"{path} is read-only (not under an allowed write path)")
        return real

    def read(self, req: dict[str, Any]) -> dict[str, Any]:
        real = self.resolve(req["path"])
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise _os_refusal(exc, req["path"]) from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise Refusal("error", f"{req['path']} is a directory")
            if not stat.S_ISREG(info.st_mode):
                raise Refusal("error", f"{req['path']} is not a regular file")
            data = handle.read(max(0, int(req["max_bytes"])))
        return {"content": data.decode("utf-8", "replace"), "size": info.st_size, "truncated": len(data) < info.st_size}

    def write(self, req: dict[str, Any]) -> dict[str, Any]:
        real = self.resolve(req["path"], write=True)
        data = str(req["content"]).encode("utf-8")
        if len(data) > int(self.limits["file_size_bytes"]):
            raise Refusal("sandbox_blocked", f"{req['path']}: file size limit ({self.limits['file_size_bytes']} bytes)")
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        flags |= os.O_APPEND if req.get("append") else os.O_TRUNC
        try:
            os.makedirs(os.path.dirname(real), exist_ok=True)
            fd = os.open(real, flags, 0o644)
            with os.fdopen(fd, "wb") as handle:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise Refusal("error", f"{req['path']} is not a regular file")
                handle.write(data)
        except OSError as exc:
            raise _os_refusal(exc, req["path"]) from None
        return {"written": len(data)}

    def list(self, req: dict[str, Any]) -> dict[str, Any]:
        real = self.resolve(req["path"])
        try:
            with os.scandir(real) as it:
                entries = [_entry(e) for e in it]
        except OSError as exc:
            raise _os_refusal(exc, req["path"]) from None
        return {"entries": sorted(entries, key=lambda e: e["name"])}


def _entry(entry: os.DirEntry[str]) -> dict[str, Any]:
    info = entry.stat(follow_symlinks=False)
    kind = (
        "symlink"
        if stat.S_ISLNK(info.st_mode)
        else "dir"
        if stat.S_ISDIR(info.st_mode)
        else "file"
        if stat.S_ISREG(info.st_mode)
        else "other"
    )
    return {"name": entry.name, "type": kind, "size": info.st_size}


def _os_refusal(exc: OSError, path: str) -> Refusal:
    if exc.errno == errno.ENOENT:
        return Refusal("not_found", f"{path}: no such file or directory")
    if exc.errno == errno.ELOOP:
        return Refusal("path_escape", f"{path}: is a symbolic link")
    if exc.errno in BLOCKED_ERRNOS:
        return Refusal("sandbox_blocked", f"{path}: {os.strerror(exc.errno or 0)}")
    return Refusal("error", f"{path}: {exc.strerror or exc}")
