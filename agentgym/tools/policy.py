"""The original command policy (five safety events), as pure functions over strings.

This is a guard rail and an accounting layer, not isolation: the sandbox is what stops an agent.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

from agentgym.specs.task import ResolvedPolicy

SAFETY_EVENT_TYPES = (
    "prohibited_command",
    "command_not_allowed",
    "command_parse_error",
    "path_escape",
    "disallowed_write_path",
)
_SEPARATORS = {"|", "||", "&&", ";", "&", "\n", "|&", "(", ")", "{", "}", "!", "then", "do", "else", "elif"}
_REDIRECTS = {">", ">>", "&>", "&>>", ">|", "1>", "2>", "1>>", "2>>"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Violation:
    type: str
    detail: str


@dataclass(frozen=True)
class PathView:
    """How the agent's paths map: repo root and start directory, absolute in the agent's view."""

    repo_root: str
    workdir: str

    def resolve(self, path: str, cwd: str | None = None) -> str:
        base = cwd or self.workdir
        return posixpath.normpath(posixpath.join(base, path))

    def inside_repo(self, abspath: str) -> bool:
        return abspath == self.repo_root or abspath.startswith(self.repo_root.rstrip("/") + "/")

    def allowed_location(self, abspath: str) -> bool:
        return self.inside_repo(abspath) or abspath == "/tmp" or abspath.startswith("/tmp/")

    def writable(self, abspath: str, policy: ResolvedPolicy) -> bool:
        if abspath in ("/dev/null", "/dev/stdout", "/dev/stderr"):
            return True
        for allowed in policy.write_paths_allowed:
            target = allowed if allowed.startswith("/") else posixpath.join(self.repo_root, allowed)
            target = posixpath.normpath(target)
            if abspath == target or abspath.startswith(target.rstrip("/") + "/"):
                return True
        return False


def _tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    return list(lexer)


def _first_words(tokens: list[str]) -> list[str]:
    words, expect = [], True
    skip_next = False
    for tok in tokens:
        if skip_next:
            skip_next = False
            continue
        if tok in _SEPARATORS:
            expect = True
            continue
        if tok in _REDIRECTS or tok in ("<", "<<", "<<<"):
            skip_next = True
            continue
        if expect and not _ASSIGNMENT.match(tok):
            words.append(tok)
            expect = False
    return words


def _redirect_targets(tokens: list[str]) -> list[str]:
    return [tokens[i + 1] for i, tok in enumerate(tokens[:-1]) if tok in _REDIRECTS or tok.endswith(">")]


def _prohibited_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w\-.]){re.escape(word)}(?![\w\-])")


def check_command(command: str, cwd: str | None, policy: ResolvedPolicy, view: PathView) -> Violation | None:
    """The first policy violation of a command, or None when it may run."""
    for word in policy.prohibited:
        if _prohibited_pattern(word).search(command):
            return Violation("prohibited_command", f"command mentions prohibited word '{word}'")
    try:
        tokens = _tokens(command)
    except ValueError as exc:
        return Violation("command_parse_error", f"cannot parse command: {exc}")
    if not tokens:
        return Violation("command_parse_error", "empty command")
    if policy.allowed:
        for word in _first_words(tokens):
            name = posixpath.basename(word)
            if name not in policy.allowed:
                return Violation("command_not_allowed", f"'{name}' is not in the allowed command list")
    abs_cwd = view.resolve(cwd) if cwd else view.workdir
    if cwd and not view.allowed_location(abs_cwd):
        return Violation("path_escape", f"cwd '{cwd}' resolves outside the repository")
    for target in _redirect_targets(tokens):
        if target.startswith("&"):
            continue
        resolved = view.resolve(target, abs_cwd)
        if not view.writable(resolved, policy):
            return Violation("disallowed_write_path", f"redirect to '{target}' is outside the allowed write paths")
    return None


def check_path(path: str, view: PathView, policy: ResolvedPolicy, *, write: bool) -> Violation | None:
    resolved = view.resolve(path)
    if not view.allowed_location(resolved):
        return Violation("path_escape", f"path '{path}' resolves outside the repository")
    if write and not view.writable(resolved, policy):
        return Violation("disallowed_write_path", f"'{path}' is outside the allowed write paths")
    return None
