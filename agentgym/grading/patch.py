"""The agent's change as a git-style unified diff against the snapshot, and applying a reference or setup patch.

`tree_patch` is bounded (MAX_PATCH_BYTES, then a marker line naming what was left out); binary files
are noted as git notes them. `apply_patch` applies a unified diff to file contents in memory (exact
context, as `git apply` without fuzz) and returns the new content of every file it touches.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from pathlib import Path

from agentgym.errors import SpecError
from agentgym.grading.trees import Entry, changed, read_bytes

MAX_PATCH_BYTES = 1024**2
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _text(data: bytes) -> list[str] | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def _side(root: str, rel: str, entry: Entry | None) -> bytes | None:
    if entry is None:
        return None
    if entry.kind == "link":
        return os.readlink(os.path.join(root, rel)).encode("utf-8", "surrogateescape")
    return read_bytes(root, rel)


def file_diff(rel: str, old: bytes | None, new: bytes | None, modes: tuple[int, int]) -> str:
    head = [f"diff --git a/{rel} b/{rel}\n"]
    if old is None:
        head.append(f"new file mode {modes[1]:o}\n")
    elif new is None:
        head.append(f"deleted file mode {modes[0]:o}\n")
    elif modes[0] != modes[1]:
        head += [f"old mode {modes[0]:o}\n", f"new mode {modes[1]:o}\n"]
    a, b = _text(old or b""), _text(new or b"")
    if a is None or b is None:
        return (
            "".join(head)
            + f"Binary files {'a/' + rel if old is not None else '/dev/null'} and "
            + (f"{'b/' + rel if new is not None else '/dev/null'} differ\n")
        )
    lines = difflib.unified_diff(
        a, b, "a/" + rel if old is not None else "/dev/null", "b/" + rel if new is not None else "/dev/null"
    )
    body = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return "".join(head) + body


def _mode(entry: Entry | None) -> int:
    if entry is None:
        return 0
    if entry.kind == "link":
        return 0o120000
    return 0o100755 if entry.mode & 0o100 else 0o100644


def tree_patch(old_root: Path, new_root: Path, max_bytes: int = MAX_PATCH_BYTES) -> str:
    """The unified diff from `old_root` to `new_root`, at most about `max_bytes`, with a marker if cut."""
    old, new, paths = changed(str(old_root), str(new_root))
    out: list[str] = []
    size = 0
    for index, rel in enumerate(paths):
        a, b = old.get(rel), new.get(rel)
        part = file_diff(rel, _side(str(old_root), rel, a), _side(str(new_root), rel, b), (_mode(a), _mode(b)))
        if size + len(part.encode()) > max_bytes:
            left = len(paths) - index
            out.append(f"# [agentgym: patch cut at {max_bytes} bytes; {left} more changed file(s) not shown]\n")
            break
        out.append(part)
        size += len(part.encode())
    return "".join(out)


def _files(text: str) -> list[tuple[str | None, str | None, list[str]]]:
    """(old path, new path, hunk lines) per file of a unified diff."""
    files: list[tuple[str | None, str | None, list[str]]] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        if lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = _path(lines[i][4:]), _path(lines[i + 1][4:])
            i += 2
            body = []
            while i < len(lines) and not (lines[i].startswith("--- ") or lines[i].startswith("diff ")):
                body.append(lines[i])
                i += 1
            files.append((old, new, body))
        else:
            i += 1
    return files


def _path(raw: str) -> str | None:
    name = raw.rstrip("\n").split("\t")[0].strip()
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def _apply_hunks(source: list[str], body: list[str], where: str) -> list[str]:
    out: list[str] = []
    pos, last = 0, ""
    for line in body:
        match = _HUNK.match(line)
        if match:
            start = int(match.group(1)) - (0 if match.group(2) == "0" else 1)
            if start < pos:
                raise SpecError(f"overlapping hunks in {where}")
            out += source[pos:start]
            pos = start
            continue
        if line.startswith("\\"):
            if last == "+" and out:
                out[-1] = out[-1].rstrip("\n")
            continue
        last, text = line[:1], line[1:]
        if last in (" ", "-"):
            if pos >= len(source) or source[pos].rstrip("\n") != text.rstrip("\n"):
                raise SpecError(f"the patch does not apply to {where} at line {pos + 1}")
            if last == " ":
                out.append(source[pos])
            pos += 1
        elif last == "+":
            out.append(text if text.endswith("\n") else text + "\n")
    return out + source[pos:]


def snapshot_reader(root: Path) -> Callable[[str], str | None]:
    """`read` for apply_patch over a tree: a regular file inside `root`, else None (absent)."""

    def read(rel: str) -> str | None:
        path = root / rel
        if path.is_symlink() or not path.is_file() or not os.path.realpath(path).startswith(str(root) + os.sep):
            return None
        return path.read_text(encoding="utf-8", errors="surrogateescape")

    return read


def apply_patch(text: str, read: Callable[[str], str | None]) -> dict[str, str | None]:
    """New content per path (None = deleted); `read(path)` gives the current text (None if absent)."""
    result: dict[str, str | None] = {}
    for old, new, body in _files(text):
        name = new or old
        if name is None or name.startswith("/") or ".." in name.split("/"):
            raise SpecError(f"the patch names a path outside the repo: {name!r}")
        current = result[old] if old in result else (read(old) if old else "")
        if old is not None and current is None:
            raise SpecError(f"the patch changes {old}, which is not in the repo")
        if new is None:
            result[name] = None
            continue
        result[name] = "".join(_apply_hunks((current or "").splitlines(keepends=True), body, name))
        if old is not None and old != new:
            result[old] = None
    return result
