"""The command policy (the original's five safety events), as pure functions over strings.

Two modes for `run_command` and `bash` (recorded in run_config as `command_policy_mode`):
- `v1` (default): the original rule, literally (docs/formats.md "Command policy of v1, exactly"): the first
  word is the first token of `shlex.split` of the whole string and must be in the allow-list; a prohibited
  name anywhere as a token refuses the command; nothing after the first word is inspected further.
- `strict` (opt-in): a real shell parse (tree-sitter-bash, see tools/shellparse.py) where every command
  word of pipelines, lists, loops, subshells and substitutions must be allowed and not prohibited,
  here-document bodies, strings and comments are data, and redirect targets must be writable.

This is a guard rail and an accounting layer, not isolation: the sandbox is what stops an agent.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

from agentgym.specs.task import ResolvedPolicy
from agentgym.tools import shellparse

SAFETY_EVENT_TYPES = (
    "prohibited_command",
    "command_not_allowed",
    "command_parse_error",
    "path_escape",
    "disallowed_write_path",
)
POLICY_MODES = ("v1", "strict")
_V1_TOKEN = re.compile(r"[A-Za-z0-9_./:-]+")
_DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr")


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
        return self.inside_repo(abspath) or in_tmp(abspath)

    def writable(self, abspath: str, policy: ResolvedPolicy) -> bool:
        if abspath in _DEVICES:
            return True
        for allowed in policy.write_paths_allowed:
            target = allowed if allowed.startswith("/") else posixpath.join(self.repo_root, allowed)
            target = posixpath.normpath(target)
            if abspath == target or abspath.startswith(target.rstrip("/") + "/"):
                return True
        return False


def in_tmp(abspath: str) -> bool:
    return abspath == "/tmp" or abspath.startswith("/tmp/")


def _short(text: str, cap: int = 200) -> str:
    return text if len(text) <= cap else text[:cap] + f"… ({len(text) - cap} more characters)"


def check_command(
    command: str, cwd: str | None, policy: ResolvedPolicy, view: PathView, mode: str = "v1"
) -> Violation | None:
    """The first policy violation of a command, or None when it may run."""
    violation = _check_v1(command, policy) if mode == "v1" else _check_strict(command, policy, view, cwd)
    if violation:
        return violation
    if cwd and not view.allowed_location(view.resolve(cwd)):
        return Violation("path_escape", f"cwd '{_short(cwd)}' resolves outside the repository")
    return None


def _check_v1(command: str, policy: ResolvedPolicy) -> Violation | None:
    try:
        words = shlex.split(command, posix=True)
    except ValueError as exc:
        return Violation("command_parse_error", f"cannot parse command: {exc}")
    if not words:
        return Violation("command_parse_error", "empty command")
    first = words[0]
    tokens = set(_V1_TOKEN.findall(command))
    for name in policy.prohibited:
        if name == first or name in tokens:
            return Violation("prohibited_command", f"command mentions prohibited word '{name}'")
    if policy.allowed and first not in policy.allowed:
        return Violation("command_not_allowed", f"'{_short(first)}' is not in the allowed command list")
    return None


def _check_strict(command: str, policy: ResolvedPolicy, view: PathView, cwd: str | None) -> Violation | None:
    parsed = shellparse.parse(command)
    if parsed.error:
        return Violation("command_parse_error", f"cannot parse command: {parsed.error}")
    if not parsed.commands:
        return Violation("command_parse_error", "empty command")
    prohibited = set(policy.prohibited)
    for word in parsed.commands + parsed.words:
        if word in prohibited or posixpath.basename(word) in prohibited:
            return Violation("prohibited_command", f"command uses prohibited word '{_short(word)}'")
    if policy.allowed:
        for word in parsed.commands:
            if posixpath.basename(word) not in policy.allowed:
                return Violation("command_not_allowed", f"'{_short(word)}' is not in the allowed command list")
    abs_cwd = view.resolve(cwd) if cwd else view.workdir
    for target in parsed.redirects:
        if not view.writable(view.resolve(target, abs_cwd), policy):
            return Violation(
                "disallowed_write_path", f"redirect to '{_short(target)}' is outside the allowed write paths"
            )
    return None


def check_path(path: str, view: PathView, policy: ResolvedPolicy, *, write: bool) -> Violation | None:
    """v1: reads only inside the repo (/tmp included in the refusal); writes inside the repo or /tmp/,
    and then only under `write_paths_allowed`."""
    resolved = view.resolve(path)
    inside = view.allowed_location(resolved) if write else view.inside_repo(resolved)
    if not inside:
        return Violation("path_escape", f"path '{_short(path)}' resolves outside the repository")
    if write and not view.writable(resolved, policy):
        return Violation("disallowed_write_path", f"'{_short(path)}' is outside the allowed write paths")
    return None
