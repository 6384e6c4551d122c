"""The nine v1 oracles. Each takes the repo root plus documented keyword arguments and returns JSON.

Conventions shared by all of them (documented for task authors):

* A file is a regular file, or a symlink whose target is a regular file inside the tree (v1 used
  `Path.is_file()`, which follows links; a link leaving the tree never counts and is never read).
  Symlinked directories are never descended into (as v1's `**` glob did not). FIFOs, sockets and
  devices are not files. A link counts under its own path, with its target's size.
* `exclude_dirs` drops a file if any component of its relative path (directories or its own name) is
  in the list; `.git` and `eval_artifacts` are not excluded implicitly — the task must list them.
* Directories that cannot be listed and files that cannot be read are skipped.
* Paths given as arguments are relative to the root; an absolute path or a `..` component is an error.
  A path whose symlinks resolve outside the root is treated as missing.
* Files the agent wrote (`answer_md_*`) are read through `agentfile`: at most 1 MiB (larger is an
  error naming the size), regular files only, never through a link leaving the tree.
* Text is decoded as UTF-8 (`readme_first_nonempty_line` and `answer_md_*` replace invalid bytes,
  `repo_token_count` drops them, as v1 did).
* Relative paths in results are POSIX strings; a non-UTF-8 file name keeps Python's surrogate escapes.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from agentgym.errors import OracleError
from agentgym.oracles.agentfile import MAX_AGENT_FILE_BYTES, human_size, read_agent_file

LICENSE_NAMES = ("LICENSE", "LICENSE.md")
_TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0"})
_KV_LINE = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*:(.*)$")  # value stripped in Python: no backtracking
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_MAX_INT_TEXT = 40  # longer digit runs are wrong anyway, and int() of 5,000 digits raises


# ----------------------------------------------------------------------------------------------- helpers


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _link_target_size(path: str, base: str) -> int | None:
    """Size of a symlink's target if it is a regular file inside `base`, else None."""
    try:
        target = os.path.realpath(path)
        if not target.startswith(base.rstrip(os.sep) + os.sep):
            return None
        info = os.stat(target)
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def iter_files(root: Path, exclude_dirs: list[str] | None = None) -> Iterator[tuple[str, int]]:
    """Yield (relative posix path, size in bytes) of every file under `root` (module docstring: "file").

    Symlinked directories are not entered; directories named in `exclude_dirs` are pruned and files
    named in it are dropped. Unlistable directories are skipped. Order is unspecified.
    """
    excluded = set(exclude_dirs or [])
    base = os.path.realpath(root)
    stack: list[tuple[str, str]] = [(os.fspath(root), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as entries:
                items = list(entries)
        except OSError:
            continue
        for entry in items:
            if entry.name in excluded:
                continue
            rel = f"{prefix}{entry.name}"
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append((entry.path, f"{rel}/"))
            elif stat.S_ISREG(info.st_mode):
                yield rel, info.st_size
            elif stat.S_ISLNK(info.st_mode):
                size = _link_target_size(entry.path, base)
                if size is not None:
                    yield rel, size


def resolve_inside(root: Path, rel: str) -> Path | None:
    """`root/rel` with symlinks resolved, or None if it resolves outside `root`.

    Raises ValueError for an absolute path or one with a `..` component (a task-author mistake).
    """
    if not isinstance(rel, str) or not rel:
        raise ValueError(f"path must be a non-empty string, got {rel!r}")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"path {rel!r} must be relative to the repo root and stay inside it")
    base = root.resolve()
    target = (base / pure).resolve()
    if target != base and base not in target.parents:
        return None
    return target


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _read_agent_file(root: Path, rel: str) -> str | None:
    """Text of a file the agent wrote, or None if it is missing, not a regular file or outside the tree.

    A file over 1 MiB is an error (the check fails naming the size) and is not read.
    """
    resolve_inside(root, rel)  # a task-author mistake (absolute path, `..`) is still an error
    found = read_agent_file(root, rel)
    if found.status == "too_large":
        limit = human_size(MAX_AGENT_FILE_BYTES)
        raise OracleError(f"{rel} is {human_size(found.size)}, over the {limit} limit; not read")
    return found.data.decode("utf-8", errors="replace") if found.ok else None


def _as_list(value: list[str] | str | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# ----------------------------------------------------------------------------------------------- globs


def expand_braces(pattern: str) -> list[str]:
    """Expand the first `{a,b,...}` group (one level, as v1 did); options are stripped, empty ones dropped."""
    start = pattern.find("{")
    end = pattern.find("}", start + 1) if start >= 0 else -1
    if start < 0 or end < 0:
        return [pattern]
    options = [opt.strip() for opt in pattern[start + 1 : end].split(",") if opt.strip()]
    if not options:
        return [pattern]
    return [f"{pattern[:start]}{opt}{pattern[end + 1 :]}" for opt in options]


def _pattern_parts(pattern: str) -> tuple[str, ...]:
    pure = PurePosixPath(pattern)
    if not pattern or pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"glob {pattern!r} must be a non-empty pattern relative to the repo root")
    return tuple(part for part in pattern.split("/") if part not in ("", "."))


def glob_matches(parts: tuple[str, ...], path_parts: tuple[str, ...]) -> bool:
    """Whether a file's path components match pattern components.

    `**` as a whole component matches zero or more components; other components use case-sensitive
    fnmatch, where `*` also matches names starting with a dot (as pathlib's glob did for v1).
    """

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(parts):
            return j == len(path_parts)
        if parts[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(path_parts) + 1))
        return j < len(path_parts) and fnmatch.fnmatchcase(path_parts[j], parts[i]) and match(i + 1, j + 1)

    return match(0, 0)


# ----------------------------------------------------------------------------------------------- oracles


def top_level_entry_count(root: Path, exclude: list[str] | None = None, exclude_hidden: bool = True) -> int:
    """Entries (files, directories, symlinks, ...) directly in the root, minus `exclude` and hidden names."""
    excluded = set(_as_list(exclude))
    return sum(1 for name in os.listdir(root) if name not in excluded and not (exclude_hidden and _is_hidden(name)))


def readme_first_nonempty_line(root: Path, path: str = "README.md") -> str:
    """First line holding a non-whitespace character, as written minus its line break; "" if none.

    Lines end at `\\n`, `\\r\\n` or `\\r` (Python's universal newlines); whitespace is `str.isspace`.
    A missing file is an error (the task points at the wrong file).
    """
    target = resolve_inside(root, path)
    if target is None or not target.is_file():
        raise FileNotFoundError(f"{path} is not a file inside the repo")
    text = _read_text(target).replace("\r\n", "\n").replace("\r", "\n")
    return next((line for line in text.split("\n") if line.strip()), "")


def glob_count(root: Path, glob: str, exclude_dirs: list[str] | None = None) -> int:
    """Files matching a recursive glob (first `{a,b}` group expanded), each counted once."""
    patterns = [_pattern_parts(p) for p in expand_braces(glob)]
    count = 0
    for rel, _size in iter_files(root, _as_list(exclude_dirs)):
        path_parts = tuple(rel.split("/"))
        if any(glob_matches(parts, path_parts) for parts in patterns):
            count += 1
    return count


def repo_token_count(
    root: Path,
    token: str,
    case_insensitive: bool = False,
    exclude_dirs: list[str] | None = None,
    max_bytes: int | None = 1_000_000,
) -> int:
    """Non-overlapping occurrences of `token` in files of at most `max_bytes` without NUL bytes."""
    if not token:
        raise ValueError("token must be a non-empty string")
    needle = token.lower() if case_insensitive else token
    total = 0
    for rel, size in iter_files(root, _as_list(exclude_dirs)):
        if max_bytes is not None and size > max_bytes:
            continue
        try:
            data = (root / rel).read_bytes()
        except OSError:
            continue
        if b"\x00" in data:
            continue
        text = data.decode("utf-8", errors="ignore")
        total += (text.lower() if case_insensitive else text).count(needle)
    return total


def _largest_candidates(root: Path, exclude_dirs: list[str] | None = None) -> list[dict[str, Any]]:
    """Every file of the largest size, smallest path (codepoint order) first; `[{"path": "", "size": 0}]` if none."""
    best_size, paths = -1, []
    for rel, size in iter_files(root, _as_list(exclude_dirs)):
        if size > best_size:
            best_size, paths = size, [rel]
        elif size == best_size:
            paths.append(rel)
    if best_size < 0:
        return [{"path": "", "size": 0}]
    return [{"path": rel, "size": best_size} for rel in sorted(paths)]


def largest_file(root: Path, exclude_dirs: list[str] | None = None) -> dict[str, Any]:
    """`{"path", "size"}` of the largest file; a tie gives the smallest path (codepoint order).

    v1 broke ties by walk order, so every tied path is an accepted answer (`accepted_values`), and the
    runner and `tasks generate` warn the task author about the tie.
    """
    return _largest_candidates(root, exclude_dirs)[0]


def has_license_file(root: Path, paths: list[str]) -> bool:
    """True if any of `paths` is a file (a symlink counts if its target is a regular file in the tree)."""
    for rel in _as_list(paths):
        target = resolve_inside(root, rel)
        if target is not None and target.is_file():
            return True
    return False


def dir_top_entry_count(root: Path, path: str, exclude_hidden: bool = True) -> int:
    """Entries directly inside the folder `path` (0 if it is missing, not a folder or outside the tree)."""
    target = resolve_inside(root, path)
    if target is None or not target.is_dir():
        return 0
    return sum(1 for name in os.listdir(target) if not (exclude_hidden and _is_hidden(name)))


def answer_md_contains(root: Path, path: str, must_contain: list[str]) -> bool:
    """The file exists and contains every string of `must_contain`."""
    text = _read_agent_file(root, path)
    return text is not None and all(needle in text for needle in _as_list(must_contain))


def parse_kv_lines(text: str) -> dict[str, str]:
    """`key: value` lines (keys lowercased; blank lines and `#` lines ignored; a later key wins)."""
    pairs: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _KV_LINE.match(raw)
        if match:
            pairs[match.group(1).lower()] = match.group(2).strip()
    return pairs


def _parse_bool_word(value: str) -> bool | None:
    word = value.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


def _kv_facts(
    root: Path, path: str, repo_id: str, exclude_top_level: list[str], exclude_hidden: bool = True
) -> dict[str, Any]:
    """What `answer_md_kv_matches` expects, computed on the pristine snapshot at plan time."""
    return {
        "top_level_entries": top_level_entry_count(root, exclude=exclude_top_level, exclude_hidden=exclude_hidden),
        "has_license": has_license_file(root, list(LICENSE_NAMES)),
    }


def _kv_judge(
    root: Path,
    facts: dict[str, Any],
    path: str,
    repo_id: str,
    exclude_top_level: list[str],
    exclude_hidden: bool = True,
) -> bool:
    """Whether the agent's file (in its final tree `root`) states `repo_id` and the snapshot's `facts`."""
    text = _read_agent_file(root, path)
    if text is None:
        return False
    pairs = parse_kv_lines(text)
    if pairs.get("repo_id") != repo_id:
        return False
    entries = pairs.get("top_level_entries", "")
    if len(entries) > _MAX_INT_TEXT or not _INT_TEXT.match(entries) or int(entries) != facts.get("top_level_entries"):
        return False
    claimed = _parse_bool_word(pairs.get("has_license", ""))
    return claimed is not None and claimed == facts.get("has_license")


def answer_md_kv_matches(
    root: Path, path: str, repo_id: str, exclude_top_level: list[str], exclude_hidden: bool = True
) -> bool:
    """The file's `repo_id`, `top_level_entries` and `has_license` lines match the tree.

    Called on one tree, the counts come from that tree. The runner instead computes them on the pristine
    snapshot (`snapshot_facts`, at plan time) and judges only the agent's file in its final tree (`judge`),
    so folders the harness or the agent made do not change the expected counts.
    """
    facts = _kv_facts(root, path, repo_id, exclude_top_level, exclude_hidden)
    return _kv_judge(root, facts, path, repo_id, exclude_top_level, exclude_hidden)


# Optional parts an oracle may carry (also open to plugins; see registry.py):
#   accepted_values(root, **args) -> non-empty list, first item == fn(root, **args): every right answer.
#   snapshot_facts(root, **args) -> JSON, and judge(final_root, facts, **args) -> bool: a two-tree oracle_bool.
largest_file.accepted_values = _largest_candidates  # type: ignore[attr-defined]
answer_md_kv_matches.snapshot_facts = _kv_facts  # type: ignore[attr-defined]
answer_md_kv_matches.judge = _kv_judge  # type: ignore[attr-defined]


BUILTIN_ORACLES = {
    fn.__name__: fn
    for fn in (
        top_level_entry_count,
        readme_first_nonempty_line,
        glob_count,
        repo_token_count,
        largest_file,
        has_license_file,
        dir_top_entry_count,
        answer_md_contains,
        answer_md_kv_matches,
    )
}
# Bump when a built-in's result changes for some tree, so cached expected values are recomputed.
BUILTIN_REVISION = "2"
