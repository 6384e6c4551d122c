"""Tool profiles (`--tools v1|coding`): every coding tool, its error messages, caps and safety events, through the
real Toolbox and the real sandboxes (bubblewrap and local) on a real git snapshot. The CLI end to end:
test_tool_profiles_run.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from test_sandbox_support import BWRAP_OK, BWRAP_WHY, POLICY, SandboxEnv, make_env, make_snapshot, open_spec

from agentgym.sandbox import get_sandbox_factory
from agentgym.sources.base import Snapshot
from agentgym.specs.events import EventLog
from agentgym.specs.task import ResolvedPolicy
from agentgym.tools.profiles import CODING, V1, coding_call
from agentgym.tools.toolbox import Toolbox, ToolOutcome

BWRAP = pytest.param("bwrap", marks=[pytest.mark.bwrap, pytest.mark.skipif(not BWRAP_OK, reason=BWRAP_WHY)])
KINDS = [BWRAP, "local"]
Script = Callable[["Box"], Awaitable[None]]


class Box:
    """A coding-profile Toolbox on an open sandbox, with short-hands for calls and their records."""

    def __init__(self, toolbox: Toolbox) -> None:
        self.toolbox = toolbox

    async def __call__(self, name: str, **args: Any) -> ToolOutcome:
        return await self.toolbox.call(name, json.dumps(args))

    async def ok(self, name: str, **args: Any) -> dict[str, Any]:
        outcome = await self(name, **args)
        assert outcome.record.ok, outcome.record.error
        return outcome.record.tool_output

    async def error(self, name: str, **args: Any) -> str:
        outcome = await self(name, **args)
        assert not outcome.record.ok, outcome.record.tool_output
        assert json.loads(outcome.message) == {"ok": False, "error": outcome.record.error}
        return outcome.record.error or ""

    def safety(self) -> list[tuple[str, bool]]:
        return [(e.type, e.penalized) for e in self.toolbox.log.safety_records()]


def play(
    kind: str,
    snapshot: Snapshot,
    script: Script,
    *,
    policy: ResolvedPolicy = POLICY,
    output_cap: int = 8192,
    profile: Any = CODING,
    **toolbox_args: Any,
) -> dict[str, str]:
    """Open a sandbox, run `script` on a Box, stop; return the files under eval_artifacts/ of the final tree."""

    async def go() -> dict[str, str]:
        sandbox = await get_sandbox_factory(kind).open(snapshot, open_spec(policy=policy))
        try:
            toolbox = Toolbox(
                sandbox=sandbox,
                policy=policy,
                deadline=time.monotonic() + 120,
                log=EventLog("t", 0),
                output_cap=output_cap,
                profile=profile,
                **{"max_commands": 10, **toolbox_args},
            )
            await script(Box(toolbox))
            assert await sandbox.stop() == []
            root = sandbox.host_root / "eval_artifacts"
            return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}
        finally:
            await sandbox.cleanup()

    return asyncio.run(go())


@pytest.fixture
def sbx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SandboxEnv:
    return make_env(tmp_path, monkeypatch)


@pytest.mark.parametrize("kind", KINDS)
def test_bash_runs_counts_times_out_and_keeps_the_policy(sbx: SandboxEnv, kind: str) -> None:
    async def script(box: Box) -> None:
        out = await box.ok("bash", command="cat src/pkg/mod.py; exit 3")
        assert (out["stdout"], out["exit_code"]) == ("X = 1\n", 3)
        assert (await box.ok("bash", command="sleep 5", timeout=1)).get("timed_out") is True
        assert "refused (prohibited_command)" in await box.error("bash", command="rm -rf src")
        assert "missing required argument(s): command" in await box.error("bash")
        assert await box.error("bash", command="ls", timeout="soon") == "timeout must be a number of seconds"
        records = box.toolbox.log.tool_records()
        assert [r.tool_name for r in records] == ["bash"] * 5
        assert box.toolbox.commands_used == 5  # every bash call counts, as every run_command does in v1
        assert box.toolbox.log.commands_used() == 5

    policy = ResolvedPolicy(allowed=[], prohibited=["rm"], write_paths_allowed=["eval_artifacts/"])
    play(kind, sbx.snapshot, script, policy=policy)


@pytest.mark.parametrize("kind", KINDS)
def test_view_file_range_directory_and_errors(sbx: SandboxEnv, kind: str) -> None:
    async def script(box: Box) -> None:
        whole = await box.ok("view", path="data/notes.txt")
        assert whole["lines"] == 50 and whole["content"].splitlines()[0] == "     1\tnotes"
        part = await box.ok("view", path="data/notes.txt", view_range=[2, 3])
        assert part["content"] == "     2\tnotes\n     3\tnotes" and part["shown_lines"] == [2, 3]
        tail = await box.ok("view", path="data/notes.txt", view_range=[49, -1])
        assert tail["content"].splitlines() == ["    49\tnotes", "    50\tnotes"]
        listing = await box.ok("view", path="src")
        assert {e["name"]: e["type"] for e in listing["entries"]} == {
            "app.py": "file",
            "link_to_app.py": "symlink",
            "pkg": "dir",
        }
        assert await box.error("view", path="nope.txt") == "view: nope.txt does not exist"
        empty = await box.ok("view", path="src/pkg/__init__.py", view_range=[1, -1])
        assert (empty["content"], empty["lines"]) == ("", 0)
        assert "outside the file's lines 1-50" in await box.error("view", path="data/notes.txt", view_range=[0, 2])
        assert "is before start 5" in await box.error("view", path="data/notes.txt", view_range=[5, 2])
        assert "two integers" in await box.error("view", path="data/notes.txt", view_range="1-2")
        ranged = await box.ok("view", path="src", view_range=[1, 2])
        assert ranged["note"] == "a directory: view_range ignored (it applies to files)" and len(ranged["entries"]) == 3
        assert box.safety() == []

    play(kind, sbx.snapshot, script)


@pytest.mark.parametrize("kind", KINDS)
def test_path_escapes_are_refused_as_safety_events(sbx: SandboxEnv, kind: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("host secret\n")

    async def script(box: Box) -> None:
        assert "refused (path_escape)" in await box.error("view", path="../outside.txt")
        assert "refused (path_escape)" in await box.error("view", path=str(outside))
        assert "refused (path_escape)" in await box.error("grep", pattern="secret", path="..")
        assert "refused (path_escape)" in await box.error("glob", pattern="*", path="/etc")
        assert "refused (path_escape)" in await box.error("create", path="/etc/agentgym-x.txt", file_text="x")
        assert box.safety() == [("path_escape", True)] * 5

    play(kind, sbx.snapshot, script)


@pytest.mark.parametrize("kind", KINDS)
def test_links_out_of_the_repository_are_path_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret\n")
    root = tmp_path / "cache" / "snapshots" / ("ef" * 32)
    root.mkdir(parents=True)
    (root / "out_dir").symlink_to(outside)
    (root / "out_file.txt").symlink_to(outside / "secret.txt")
    snapshot = make_snapshot(root, {"README.md": "r\n", "src/app.py": "print('app')\n"})

    async def script(box: Box) -> None:
        viewed = await box.error("view", path="out_file.txt")  # bwrap: the target is not even in the sandbox's view
        assert viewed.startswith("path_escape: ") if kind == "local" else viewed == "view: out_file.txt does not exist"
        assert (await box.error("grep", pattern="secret", path="out_dir")).startswith("path_escape: out_dir resolves")
        assert (await box.error("glob", pattern="*", path="out_dir")).startswith("path_escape: ")
        assert (await box.ok("grep", pattern="secret"))["content"] == "no matches"  # links are never followed
        assert (await box.ok("glob", pattern="out_*"))["content"] == "out_dir\nout_file.txt"
        assert box.safety() == [("path_escape", True)] * (3 if kind == "local" else 2)

    play(kind, snapshot, script)


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_str_replace_with_every_error(sbx: SandboxEnv, kind: str) -> None:
    async def script(box: Box) -> None:
        made = await box.ok("create", path="eval_artifacts/answer.md", file_text="a\nTODO\nb\nTODO\nc\n")
        assert made["bytes_written"] == 16
        exists = await box.error("create", path="eval_artifacts/answer.md", file_text="again")
        assert exists == "create: eval_artifacts/answer.md already exists; use str_replace to edit it"
        assert await box.error("create", path="eval_artifacts", file_text="x") == (
            "create: eval_artifacts is an existing directory"
        )
        none = await box.error("str_replace", path="eval_artifacts/answer.md", old_str="MISSING", new_str="x")
        assert "old_str not found in eval_artifacts/answer.md (0 occurrences)" in none
        two = await box.error("str_replace", path="eval_artifacts/answer.md", old_str="TODO", new_str="x")
        assert "old_str occurs 2 times in eval_artifacts/answer.md (lines 2, 4)" in two
        assert "old_str is empty" in await box.error(
            "str_replace", path="eval_artifacts/answer.md", old_str="", new_str=""
        )
        assert "does not exist (use create" in await box.error(
            "str_replace", path="eval_artifacts/nope.md", old_str="a", new_str="b"
        )
        done = await box.ok("str_replace", path="eval_artifacts/answer.md", old_str="TODO\nb", new_str="core util")
        assert done["replaced_at_line"] == 2 and "     2\tcore util" in done["snippet"]
        assert (await box.ok("view", path="eval_artifacts/answer.md"))["lines"] == 4
        await box.ok("create", path="/tmp/scratch.txt", file_text="t")
        assert box.safety() == []
        assert box.toolbox.commands_used == 0  # file tools are not commands

    assert play(kind, sbx.snapshot, script) == {"answer.md": "a\ncore util\nTODO\nc\n"}


@pytest.mark.parametrize("kind", KINDS)
def test_writes_outside_the_allowed_paths_are_refused(sbx: SandboxEnv, kind: str) -> None:
    async def script(box: Box) -> None:
        refused = await box.error("str_replace", path="README.md", old_str="demo", new_str="hacked")
        assert refused.startswith("refused (disallowed_write_path): ")  # policy or sandbox (a workspace under /tmp)
        assert "refused (disallowed_write_path)" in await box.error("create", path="src/new.py", file_text="x")
        assert box.safety() == [("disallowed_write_path", True)] * 2
        assert (await box.ok("view", path="README.md"))["content"] == "     1\t# demo"

    play(kind, sbx.snapshot, script)


@pytest.mark.parametrize("kind", KINDS)
def test_glob_and_grep(sbx: SandboxEnv, kind: str) -> None:
    async def script(box: Box) -> None:
        py = await box.ok("glob", pattern="**/*.py")
        assert py["content"].splitlines() == [
            "src/app.py",
            "src/link_to_app.py",
            "src/pkg/__init__.py",
            "src/pkg/mod.py",
        ]
        assert (await box.ok("glob", pattern="*.md"))["content"] == "README.md"
        assert (await box.ok("glob", pattern="pkg/*", path="src"))["content"] == "pkg/__init__.py\npkg/mod.py"
        assert (await box.ok("glob", pattern="*.nothing"))["content"] == "no paths"
        assert "src/app.py is not a directory" in await box.error("glob", pattern="*", path="src/app.py")
        hits = await box.ok("grep", pattern=r"X\s*=", path=".")
        assert (hits["content"], hits["total"]) == ("src/pkg/mod.py:1:X = 1", 1)
        printed = await box.ok("grep", pattern="print")  # the symlink to app.py is not followed
        assert printed["content"] == "src/app.py:1:print('app')"
        assert (await box.ok("grep", pattern="notes", include="*.py"))["content"] == "no matches"
        assert (await box.ok("grep", pattern="^notes$", include="*.txt"))["total"] == 50
        assert (await box.ok("grep", pattern="X", path="src/pkg/mod.py"))["content"] == "src/pkg/mod.py:1:X = 1"
        bad = await box.error("grep", pattern="(unclosed")
        assert bad.startswith("grep: invalid regular expression '(unclosed': missing ), unterminated subpattern")
        assert "no such file or directory" in await box.error("grep", pattern="x", path="nope")
        assert box.safety() == [] and box.toolbox.commands_used == 0

    play(kind, sbx.snapshot, script)


@pytest.mark.parametrize("kind", KINDS)
def test_output_caps_with_markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    files = {f"many/f{i:03}.txt": "needle here\n" * 3 for i in range(250)}
    snapshot = make_snapshot(tmp_path / "cache" / "snapshots" / ("cd" * 32), {**files, "README.md": "r\n"})

    async def script(box: Box) -> None:
        listed = await box.ok("glob", pattern="many/*.txt")
        assert listed["total"] == 250 and listed["content"].endswith("[… 50 more paths not shown …]")
        assert listed["content"].splitlines()[0] == "many/f000.txt"
        grep = await box.ok("grep", pattern="needle")
        assert grep["total"] == 750 and "bytes elided" in grep["content"] and "550 more matches" in grep["content"]
        assert len(grep["content"].encode()) < 2 * 512 + 200
        loud = await box.ok("bash", command="python3 -c \"print('x' * 5000)\"")
        assert "bytes elided" in loud["stdout"] and len(loud["stdout"]) < 700
        big = await box.ok("view", path="many")
        assert "elided" in big and big["total_entries"] == 250

    play(kind, snapshot, script, output_cap=512)


def test_refused_budget_names_the_profiles_tools(sbx: SandboxEnv) -> None:
    async def script(box: Box) -> None:
        await box.ok("bash", command="true")
        refused = await box.error("bash", command="true")
        assert refused == (
            "max_commands=1 reached: this bash was not run. Use create to save your answer and reply without a tool call."
        )
        await box.ok("create", path="eval_artifacts/answer.json", file_text="{}")  # the answer can still be saved
        assert box.toolbox.commands_used == 1

    assert play("local", sbx.snapshot, script, max_commands=1, command_budget="refuse") == {"answer.json": "{}"}


def test_profiles_keep_to_their_own_tools(sbx: SandboxEnv) -> None:
    async def coding(box: Box) -> None:
        error = await box.error("run_command", command="ls")
        assert error == "unknown tool 'run_command' (available: bash, create, glob, grep, str_replace, view)"

    async def v1(box: Box) -> None:
        assert "unknown tool 'bash'" in await box.error("bash", command="ls")
        assert box.toolbox.commands_used == 0

    play("local", sbx.snapshot, coding)
    play("local", sbx.snapshot, v1, profile=V1)


def test_oracle_steps_map_onto_coding_tools() -> None:
    assert coding_call("run_command", {"command": "ls", "timeout_seconds": 5}) == (
        "bash",
        {"command": "ls", "timeout": 5},
    )
    assert coding_call("run_command", {"command": "ls", "cwd": "a b"}) == ("bash", {"command": "cd 'a b' && ls"})
    assert coding_call("read_file", {"path": "x", "max_bytes": 3}) == ("view", {"path": "x"})
    assert coding_call("list_dir", {"path": "src"}) == ("view", {"path": "src"})
    assert coding_call("write_file", {"path": "p", "content": "c"}) == ("create", {"path": "p", "file_text": "c"})
    assert V1.oracle_call("read_file", {"path": "x"}) == ("read_file", {"path": "x"})
    assert CODING.names == {"bash", "view", "str_replace", "create", "glob", "grep"}
