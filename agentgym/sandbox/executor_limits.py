"""A sandboxed command's limits, for the in-sandbox executor (executor.py): rlimits (and which cannot apply),
the head-and-tail capture of its output, and the phrases that tell a refusal (network, disk, memory, ...)
apart from an ordinary failure. Stdlib only: it is copied into the sandbox beside executor.py."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource

REFUSAL_PATTERNS = (
    ("read-only file system", "read-only file system"),
    ("permission denied", "permission denied"),
    ("operation not permitted", "operation not permitted"),
    ("network is unreachable", "network unreachable"),
    ("connection refused", "network: connection refused"),
    ("couldn't connect to server", "network: connection refused"),
    ("could not resolve host", "network: no name resolution"),
    ("temporary failure in name resolution", "network: no name resolution"),
    ("name or service not known", "network: no name resolution"),
    ("resource temporarily unavailable", "process limit (fork refused)"),
    ("no space left on device", "disk limit (no space left)"),
    ("disk quota exceeded", "disk limit (quota)"),
    ("cannot allocate memory", "memory limit"),
    ("memoryerror", "memory limit"),
    ("cpu time limit exceeded", "cpu limit"),
    ("file size limit exceeded", "file size limit"),
    ("file too large", "file size limit"),
)
LIMIT_NAMES = (
    ("cpu_seconds", resource.RLIMIT_CPU),
    ("memory_bytes", resource.RLIMIT_AS),
    ("file_size_bytes", resource.RLIMIT_FSIZE),
    ("max_processes", resource.RLIMIT_NPROC),
    ("open_files", resource.RLIMIT_NOFILE),
)


class Capture:
    """Keeps the head and the tail of a stream (cap bytes in all) and counts what falls between."""

    def __init__(self, cap: int) -> None:
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    def text(self) -> tuple[str, int]:
        elided = self.total - len(self.head) - len(self.tail)
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if elided <= 0:
            return (self.head + self.tail).decode("utf-8", "replace"), 0
        return f"{head}\n[... {elided} bytes elided ...]\n{tail}", elided


def prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def rlimits_of(limits: dict[str, int]) -> list[tuple[int, int, int]]:
    out = []
    for name, res in LIMIT_NAMES:
        value = int(limits[name])
        hard = value + 1 if name == "cpu_seconds" else value  # SIGXCPU first, SIGKILL a second later
        out.append((res, value, hard))
    out.append((resource.RLIMIT_CORE, 0, 0))
    return out


def apply_rlimits(rlimits: list[tuple[int, int, int]]) -> None:
    for res, soft, hard in rlimits:
        resource.setrlimit(res, (soft, hard))


def check_limits(limits: dict[str, int]) -> list[str]:
    """Limits this process cannot apply (a hard limit below the request and no privilege to raise it)."""
    problems = []
    names = dict((res, name) for name, res in LIMIT_NAMES)
    for res, soft, hard in rlimits_of(limits):
        _, current_hard = resource.getrlimit(res)
        if current_hard != resource.RLIM_INFINITY and hard > current_hard and os.geteuid() != 0:
            problems.append(f"{names.get(res, res)}={soft} is above the hard limit {current_hard}")
    return problems
