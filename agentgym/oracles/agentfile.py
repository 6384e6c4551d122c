"""Bounded, in-tree reads of files the agent wrote (answer.json, answer.md): hostile input, never trusted.

A read never leaves the tree (symlinks are resolved and must stay inside `root`), never opens anything but a
regular file (FIFOs, sockets, devices and folders are refused before `open`), and never reads more than
`limit` bytes (a larger file is refused, or cut when the caller asks for a prefix).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

MAX_AGENT_FILE_BYTES = 1024 * 1024

Status = Literal["ok", "missing", "not_file", "outside", "too_large"]


@dataclass(frozen=True)
class AgentFile:
    status: Status
    data: bytes = b""
    size: int = 0  # size on disk (of the link's target for a link)
    truncated: bool = False  # data holds the first `limit` bytes only

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def human_size(size: int) -> str:
    """`512 bytes`, `3.0 KiB`, `5.0 MiB`: sizes for one-line messages."""
    if size < 1024:
        return f"{size} bytes"
    value, unit = float(size), "bytes"
    for unit in ("KiB", "MiB", "GiB"):  # noqa: B007 (the unit reached is the one printed)
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f} {unit}"


def _inside(base: str, target: str) -> bool:
    return target == base or target.startswith(base.rstrip(os.sep) + os.sep)


def locate(root: Path, rel: str, *, follow_links: bool = True) -> tuple[Status, str, int]:
    """(status, resolved path, size) of `root/rel` without opening it. Never raises for agent content."""
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or ".." in pure.parts:
        return "outside", "", 0
    base = os.path.realpath(root)
    lexical = os.path.join(base, *pure.parts)
    try:
        if not follow_links and os.path.islink(lexical):
            return "missing", "", 0
        target = os.path.realpath(lexical)
        if not _inside(base, target):
            return "outside", "", 0
        info = os.stat(target)
    except (OSError, ValueError):
        return "missing", "", 0
    if not stat.S_ISREG(info.st_mode):
        return "not_file", target, 0
    return "ok", target, info.st_size


def read_agent_file(
    root: Path, rel: str, *, limit: int = MAX_AGENT_FILE_BYTES, follow_links: bool = True, prefix: bool = False
) -> AgentFile:
    """Read `root/rel` safely. Over `limit`: status `too_large` (no data), or with `prefix` the first bytes."""
    status, target, size = locate(root, rel, follow_links=follow_links)
    if status != "ok":
        return AgentFile(status)
    if size > limit and not prefix:
        return AgentFile("too_large", size=size)
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return AgentFile("missing")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return AgentFile("not_file")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError:
        return AgentFile("missing")
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        if not prefix:
            return AgentFile("too_large", size=max(size, len(data)))
        return AgentFile("ok", data[:limit], max(size, len(data)), truncated=True)
    return AgentFile("ok", data, len(data))
