"""What the L1 task generator learns from a snapshot before it writes tasks: the words a generated task must
never contain (the default policy's prohibited names) and the facts its questions are about (README, file
extensions, a busy sub-folder, a frequent identifier), gathered in one look at the tree.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agentgym.errors import AgentGymError
from agentgym.oracles.builtin import iter_files

PROHIBITED = ["rm", "sudo", "curl", "wget", "ssh", "scp", "dd", "mkfs", "mount", "umount", "chmod", "chown"]
EXCLUDE = [".git", "eval_artifacts"]
README_PREFERENCE = ["README.md", "README.rst", "README.txt", "README"]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_EXT = re.compile(r"^[A-Za-z0-9]{1,10}$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,23}")
_TOKEN_SCAN_FILES = 2000
_TOKEN_SCAN_BYTES = 20_000_000


def mentions_word(text: str, word: str) -> bool:
    """Whether `word` occurs in `text` as a whole word (case-insensitive, to be conservative)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", text, re.IGNORECASE) is not None


def clean_word(text: str) -> bool:
    return not any(mentions_word(text, word) for word in PROHIBITED)


@dataclass(frozen=True)
class RepoFacts:
    """What the generator needs to know about a tree to pick arguments."""

    files: list[tuple[str, int]]
    top_dirs: list[str]
    top_files: list[str]
    readme: str
    exts: list[str]
    subdir: str
    token: str


def _is_text(root: Path, rel: str, size: int, limit: int = 1_000_000) -> bool:
    if size == 0 or size > limit:
        return False
    try:
        return b"\x00" not in (root / rel).read_bytes()
    except OSError:
        return False


def _pick_readme(root: Path, files: list[tuple[str, int]], top_files: list[str]) -> str:
    ranked = [n for n in README_PREFERENCE if n in top_files]
    ranked += sorted(n for n in top_files if n.lower().startswith("readme") and n not in ranked)
    sizes = dict(files)
    for name in [*ranked, *sorted(top_files), *sorted(sizes)]:
        if name in sizes and _is_text(root, name, sizes[name]):
            return name
    raise AgentGymError(f"{root}: no non-empty text file to ask about; cannot generate tasks")


def _rank_exts(files: list[tuple[str, int]]) -> list[str]:
    counts = Counter(PurePosixPath(rel).suffix[1:] for rel, _ in files)
    usable = [e for e in counts if _EXT.match(e) and clean_word(e)]
    return sorted(usable, key=lambda e: (-counts[e], e))


def _entry_count(path: Path) -> int:
    try:
        return sum(1 for child in path.iterdir() if not child.name.startswith("."))
    except OSError:
        return -1


def _pick_subdir(root: Path, top_dirs: list[str]) -> str:
    candidates = [d for d in top_dirs if _SAFE_NAME.match(d) and clean_word(d)]
    if not candidates:
        return "."
    return min(candidates, key=lambda d: (-_entry_count(root / d), d))


def _pick_token(root: Path, files: list[tuple[str, int]]) -> str:
    counts: Counter[str] = Counter()
    budget = _TOKEN_SCAN_BYTES
    for rel, size in sorted(files)[:_TOKEN_SCAN_FILES]:
        if budget <= 0:
            break
        if _is_text(root, rel, size):
            budget -= size
            counts.update(_IDENT.findall((root / rel).read_bytes().decode("utf-8", "ignore")))
    usable = [t for t in counts if clean_word(t)]
    return min(usable, key=lambda t: (-counts[t], t)) if usable else "TODO"


def _top_entries(root: Path) -> tuple[list[str], list[str]]:
    dirs, files = [], []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or child.name in EXCLUDE or child.is_symlink():
            continue
        if child.is_dir():
            dirs.append(child.name)
        elif child.is_file():
            files.append(child.name)
    return dirs, files


def inspect_tree(root: Path) -> RepoFacts:
    """Look at a snapshot once and gather what the tasks ask about."""
    files = sorted(iter_files(root, EXCLUDE))
    top_dirs, top_files = _top_entries(root)
    return RepoFacts(
        files=files,
        top_dirs=top_dirs,
        top_files=top_files,
        readme=_pick_readme(root, files, top_files),
        exts=_rank_exts(files),
        subdir=_pick_subdir(root, top_dirs),
        token=_pick_token(root, files),
    )
