"""The original command policy's five events, on real command strings."""

from __future__ import annotations

import pytest

from agentgym.specs.task import ResolvedPolicy
from agentgym.tools.policy import PathView, check_command, check_path

POLICY = ResolvedPolicy(
    allowed=["ls", "cat", "grep", "wc", "python3", "find", "echo", "cd", "head"],
    prohibited=["rm", "curl", "sudo", "chmod"],
    write_paths_allowed=["eval_artifacts/", "/tmp/"],
)
VIEW = PathView(repo_root="/repo", workdir="/repo")


@pytest.mark.parametrize(
    "command",
    [
        "ls -la",
        "cat README.md | grep foo | wc -l",
        "cd src && ls",
        "find . -name '*.py' | wc -l",
        "echo hi > eval_artifacts/answer.json",
        "echo x >> /tmp/log",
        "python3 -c 'print(1)' 2>/dev/null",
        "FOO=1 ls",
        "grep -r format .",
        "ls /repo/eval_artifacts",
        "echo '--rm-like' | cat",
    ],
)
def test_allowed_commands_pass(command: str) -> None:
    assert check_command(command, None, POLICY, VIEW) is None


@pytest.mark.parametrize(
    ("command", "event"),
    [
        ("rm -rf src", "prohibited_command"),
        ("ls; rm x", "prohibited_command"),
        ("python3 -c \"import os; os.system('rm -rf /')\"", "prohibited_command"),
        ("curl http://x", "prohibited_command"),
        ("git status", "command_not_allowed"),
        ("ls | sort", "command_not_allowed"),
        ("ls && bash -c 'x'", "command_not_allowed"),
        ("/usr/bin/perl -e 1", "command_not_allowed"),
        ("echo 'unbalanced", "command_parse_error"),
        ("   ", "command_parse_error"),
        ("echo x > README.md", "disallowed_write_path"),
        ("echo x > ../outside", "disallowed_write_path"),
        ("cat a >> src/x.py", "disallowed_write_path"),
    ],
)
def test_violations(command: str, event: str) -> None:
    violation = check_command(command, None, POLICY, VIEW)
    assert violation is not None and violation.type == event, violation


def test_cwd_escape() -> None:
    v = check_command("ls", "../..", POLICY, VIEW)
    assert v is not None and v.type == "path_escape"
    assert check_command("ls", "src", POLICY, VIEW) is None


def test_empty_allow_list_means_any_command() -> None:
    open_policy = POLICY.model_copy(update={"allowed": []})
    assert check_command("git log | sort", None, open_policy, VIEW) is None


@pytest.mark.parametrize(
    ("path", "write", "event"),
    [
        ("../etc/passwd", False, "path_escape"),
        ("/etc/passwd", False, "path_escape"),
        ("src/../../x", False, "path_escape"),
        ("README.md", True, "disallowed_write_path"),
        ("eval_artifacts/../README.md", True, "disallowed_write_path"),
    ],
)
def test_path_checks(path: str, write: bool, event: str) -> None:
    v = check_path(path, VIEW, POLICY, write=write)
    assert v is not None and v.type == event


@pytest.mark.parametrize("path", ["README.md", "src/x.py", "/repo/docs", "/tmp/a", "eval_artifacts/answer.json"])
def test_paths_ok_for_reading(path: str) -> None:
    assert check_path(path, VIEW, POLICY, write=False) is None


def test_write_paths_ok() -> None:
    assert check_path("eval_artifacts/answer.json", VIEW, POLICY, write=True) is None
    assert check_path("/tmp/scratch.txt", VIEW, POLICY, write=True) is None
