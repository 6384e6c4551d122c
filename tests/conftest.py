"""Shared fixtures: real git repos in temp folders, config trees, a scripted model server on 127.0.0.1."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_FILES = {
    "README.md": "\n   \n  # Demo Project  \nSome text.\n",
    "LICENSE": "MIT\n",
    "setup.py": "print('setup')\n",
    "src/pkg/__init__.py": "",
    "src/pkg/core.py": "def core():\n    return 'TODO'\n# TODO: more\n",
    "src/pkg/util.py": "X = 1\n",
    "docs/index.md": "# Docs\nTODO later\n",
    ".hidden": "secret-ish\n",
}


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def make_git_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    for rel, text in (files or REPO_FILES).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


TASK_TOP = """\
id: demo_task_001
repo: demo
difficulty: easy
initial_working_dir: .
instruction: |
  Count the entries in the repository root, excluding .git and eval_artifacts and hidden entries.
  Write eval_artifacts/answer.json as {"top_level_entries": <int>}.
outputs:
  - key: top_level_entries
    type: int
    oracle:
      fn: top_level_entry_count
      args: {exclude: [".git", "eval_artifacts"], exclude_hidden: true}
max_commands: 5
timeout_seconds: 60
"""

TASK_README = """\
id: demo_task_002
repo: demo
initial_working_dir: .
instruction: |
  Give the first non-empty line of README.md exactly. Write eval_artifacts/answer.json as {"line": <str>}.
command_policy:
  allowed: [cat, head, ls]
  prohibited: [rm]
outputs:
  - key: line
    type: str
    oracle:
      fn: readme_first_nonempty_line
      args: {path: README.md}
"""

TASK_MD = """\
id: demo_task_003
repo: demo
difficulty: medium
initial_working_dir: .
instruction: |
  Write eval_artifacts/answer.md mentioning the words 'core' and 'util'.
outputs:
  - key: md_ok
    type: oracle_bool
    oracle:
      fn: answer_md_contains
      args: {path: eval_artifacts/answer.md, must_contain: [core, util]}
"""


def write_config(root: Path, repo_url: str, tasks: dict[str, str] | None = None) -> Path:
    (root / "repos").mkdir(parents=True)
    (root / "repos" / "demo.yaml").write_text(f"id: demo\nurl: {repo_url}\nref: main\ninitial_working_dir: .\n")
    task_dir = root / "tasks" / "l1" / "demo"
    task_dir.mkdir(parents=True)
    for name, text in (
        tasks or {"task_001.yaml": TASK_TOP, "task_002.yaml": TASK_README, "task_003.yaml": TASK_MD}
    ).items():
        (task_dir / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("AGENTGYM_CACHE", str(path))
    return path


@pytest.fixture
def demo_repo(tmp_path: Path) -> Path:
    return make_git_repo(tmp_path / "origin")


@pytest.fixture
def demo_config(tmp_path: Path, demo_repo: Path) -> Path:
    return write_config(tmp_path / "cfg", str(demo_repo))


def scripted_run_args(cfg: Path, runs_root: Path, base_url: str, model: str = "scripted-model") -> list[str]:
    """`agentgym run` arguments for a config tree, a runs root and a scripted server."""
    return ["run", "--config-dir", str(cfg), "--runs-root", str(runs_root), "--model", model, "--base-url", base_url]


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run the real `agentgym` CLI in a subprocess, with a clean model environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MODEL_NAME", "BASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "agentgym.cli.main", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session", autouse=True)
def _remove_session_temp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Remove this session's temp folders with our own fd-relative removal at the end.

    Several tests leave 1,200-level trees behind; pytest's own clean-up of old sessions uses the recursive
    `shutil.rmtree` of Python 3.11 and would print a RecursionError at exit of a later session.
    """
    yield
    from agentgym.fstree import remove_tree

    try:
        remove_tree(str(tmp_path_factory.getbasetemp()))
    except OSError as exc:  # a mount left by a failed test: say so, keep the run's result
        print(f"\nwarning: could not remove the session's temp folders: {exc}", file=sys.stderr)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Debian chromium per test module, driven by Playwright (the HTML report and viewer tests)."""
    from tests.html_fixtures import chromium_path, launch

    chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


class BytesHandler(http.server.BaseHTTPRequestHandler):
    """A quiet test HTTP handler with one way to send a body (package-index servers of the tests)."""

    def _send(self, kind: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
