"""The command policy on real command strings: v1's rule exactly (the default) and the strict opt-in."""

from __future__ import annotations

import pytest

from agentgym.specs.result import SafetyEvent
from agentgym.specs.task import ResolvedPolicy
from agentgym.tools.caps import ARG_RECORD_CAP, cap_entries, cap_strings
from agentgym.tools.policy import PathView, check_command, check_path
from agentgym.tools.toolbox import settle_write_events

POLICY = ResolvedPolicy(
    allowed=["ls", "cat", "grep", "wc", "python3", "find", "echo", "cd", "head"],
    prohibited=["rm", "curl", "sudo", "chmod"],
    write_paths_allowed=["eval_artifacts/", "/tmp/"],
)
VIEW = PathView(repo_root="/repo", workdir="/repo")
HEREDOC = "python3 - <<'PY'\nimport json, os, subprocess\nprint(sorted(os.listdir('.')))\nPY"


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
        "grep -r format .",
        "ls /repo/eval_artifacts",
        "echo '--rm-like' | cat",
        "echo performance",
    ],
)
@pytest.mark.parametrize("mode", ["v1", "strict"])
def test_allowed_commands_pass(command: str, mode: str) -> None:
    assert check_command(command, None, POLICY, VIEW, mode) is None


@pytest.mark.parametrize(
    "command",
    [
        HEREDOC,  # issue 7 item 20: the body's words are data
        "ls LICENSE* || echo none",  # item 21: only the first word is checked
        "ls -R | sort | while read f; do echo $f; done",
        "find . -name '*.py' | xargs wc -l",
        "ls | sort",
        "ls && bash -c 'x'",
        "echo x > README.md",  # v1 has no redirect check: the sandbox decides (unauthorized_write)
        "cat a >> src/x.py",
        "ls /bin/rm",  # `/bin/rm` is one token, not `rm`
        "ls http://curl:80",  # `:` and `/` join a token, so `http://curl:80` is not `curl`
    ],
)
def test_v1_checks_only_the_first_word(command: str) -> None:
    assert check_command(command, None, POLICY, VIEW, "v1") is None


@pytest.mark.parametrize(
    ("command", "event"),
    [
        ("rm -rf src", "prohibited_command"),
        ("ls; rm x", "prohibited_command"),
        ("python3 -c \"import os; os.system('rm -rf /')\"", "prohibited_command"),
        ("echo 'x rm y'", "prohibited_command"),
        ("python3 - <<'PY'\nimport os\n# rm the file\nPY", "prohibited_command"),  # v1: tokens of the body too
        ("curl http://x", "prohibited_command"),
        ("git status", "command_not_allowed"),
        ("/usr/bin/perl -e 1", "command_not_allowed"),
        ("/usr/bin/ls", "command_not_allowed"),  # v1 compares the first token itself, no basename
        ("FOO=1 ls", "command_not_allowed"),  # v1 reads the assignment as the first word
        ("echo 'unbalanced", "command_parse_error"),
        ("   ", "command_parse_error"),
    ],
)
def test_v1_violations(command: str, event: str) -> None:
    violation = check_command(command, None, POLICY, VIEW, "v1")
    assert violation is not None and violation.type == event, violation


@pytest.mark.parametrize(
    "command",
    [
        HEREDOC,
        "python3 - <<'PY'\nimport os\nos.system('git push')  # rm -rf /\nPY",  # body, strings, comments: data
        "ls LICENSE* || echo none",
        "ls -R | grep py | wc -l",
        "echo 'rm -rf /' > /tmp/note",
        "ls  # then rm everything",
        "if ls x; then echo yes; else echo no; fi",
        "for f in *.py; do wc -l $f; done",
        "FOO=1 ls",
        "(cd src && ls) | head",
    ],
)
def test_strict_parses_data_as_data(command: str) -> None:
    assert check_command(command, None, POLICY, VIEW, "strict") is None


@pytest.mark.parametrize(
    ("command", "event"),
    [
        ("ls | sort", "command_not_allowed"),
        ("ls && bash -c 'x'", "command_not_allowed"),
        ("ls -R | while read f; do stat $f; done", "command_not_allowed"),
        ('echo "$(git log)"', "command_not_allowed"),  # a substitution inside a string is code
        ("find . | xargs rm", "prohibited_command"),
        ("find . -exec rm {} +", "prohibited_command"),
        ("ls; /bin/rm x", "prohibited_command"),
        ("cat <<EOF\n$(rm -rf x)\nEOF", "prohibited_command"),  # unquoted heredoc: $(…) runs
        ("echo x > README.md", "disallowed_write_path"),
        ("echo x > ../outside", "disallowed_write_path"),
        ("cat a >> src/x.py", "disallowed_write_path"),
        ("ls &> src/log", "disallowed_write_path"),
        ("echo 'unbalanced", "command_parse_error"),
        ("ls (", "command_parse_error"),
        ("   ", "command_parse_error"),
    ],
)
def test_strict_violations(command: str, event: str) -> None:
    violation = check_command(command, None, POLICY, VIEW, "strict")
    assert violation is not None and violation.type == event, violation


@pytest.mark.parametrize("mode", ["v1", "strict"])
def test_cwd_escape(mode: str) -> None:
    v = check_command("ls", "../..", POLICY, VIEW, mode)
    assert v is not None and v.type == "path_escape"
    assert check_command("ls", "src", POLICY, VIEW, mode) is None


@pytest.mark.parametrize("mode", ["v1", "strict"])
def test_empty_allow_list_means_any_command(mode: str) -> None:
    open_policy = POLICY.model_copy(update={"allowed": []})
    assert check_command("git log | sort", None, open_policy, VIEW, mode) is None


@pytest.mark.parametrize(
    ("path", "write", "event"),
    [
        ("../etc/passwd", False, "path_escape"),
        ("/etc/passwd", False, "path_escape"),
        ("src/../../x", False, "path_escape"),
        ("/tmp/a", False, "path_escape"),  # issue 7 item 24: v1 refuses reads of /tmp
        ("/tmp", False, "path_escape"),
        ("/etc/x", True, "path_escape"),
        ("README.md", True, "disallowed_write_path"),
        ("eval_artifacts/../README.md", True, "disallowed_write_path"),
    ],
)
def test_path_checks(path: str, write: bool, event: str) -> None:
    v = check_path(path, VIEW, POLICY, write=write)
    assert v is not None and v.type == event


@pytest.mark.parametrize("path", ["README.md", "src/x.py", "/repo/docs", "eval_artifacts/answer.json", "missing"])
def test_paths_ok_for_reading(path: str) -> None:
    assert check_path(path, VIEW, POLICY, write=False) is None


def test_write_paths_ok() -> None:
    assert check_path("eval_artifacts/answer.json", VIEW, POLICY, write=True) is None
    assert check_path("/tmp/scratch.txt", VIEW, POLICY, write=True) is None


def test_strict_bounds_a_pathological_command() -> None:
    v = check_command("ls " + "$(ls " * 3000 + ")" * 3000, None, POLICY, VIEW, "strict")
    assert v is None or v.type == "command_parse_error"
    long = check_command("ls " + "x " * 200_000, None, POLICY, VIEW, "strict")
    assert long is not None and long.type == "command_parse_error" and "longer than" in long.detail
    many = check_command("ls " + "x " * 60_000, None, POLICY, VIEW, "strict")
    assert many is not None and "too complex" in many.detail


def test_list_and_string_caps_keep_a_marker() -> None:
    entries = [{"name": "n" * 300 + str(i), "type": "file", "size": 0} for i in range(20_000)]
    kept, marker = cap_entries(entries, 16 * 1024)
    assert 0 < len(kept) < 100 and marker is not None and f"{20_000 - len(kept)} of 20000 entries elided" in marker
    assert cap_entries(entries[:3], 16 * 1024) == (entries[:3], None)
    capped = cap_strings({"content": "y" * 100_000, "nested": [{"k": "z" * 50_000}], "n": 3})
    assert len(capped["content"]) < ARG_RECORD_CAP + 64 and "bytes elided" in capped["content"]
    assert "bytes elided" in capped["nested"][0]["k"] and capped["n"] == 3


@pytest.mark.parametrize(("profile", "penalties"), [("v1", [False, False, False]), ("v2", [True, False, False])])
def test_unauthorized_writes_cost_one_penalty_per_trial(profile: str, penalties: list[bool]) -> None:
    events = [
        SafetyEvent(type="unauthorized_write", detail="modified: src/a.py"),
        SafetyEvent(type="path_escape", detail="/etc"),
        SafetyEvent(type="unauthorized_write", detail="added: x"),
        SafetyEvent(type="unauthorized_write", detail="command wrote outside the allowed write paths"),
    ]
    settled = settle_write_events(events, profile)
    assert [e.penalized for e in settled if e.type == "unauthorized_write"] == penalties
    assert settled[1].penalized is True  # the policy's events are untouched
