"""What the sandboxes must do for an honest agent (bubblewrap and local alike)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from test_sandbox_support import BWRAP_OK, BWRAP_WHY, POLICY, SECRET, SandboxEnv, make_env, open_spec, run_in

from agentgym.errors import SandboxError
from agentgym.sandbox import get_sandbox_factory, process
from agentgym.sandbox.base import Limits, Sandbox, SandboxRefusal
from agentgym.specs.task import ResolvedPolicy

KINDS = [pytest.param("bwrap", marks=[pytest.mark.bwrap, pytest.mark.skipif(not BWRAP_OK, reason=BWRAP_WHY)]), "local"]


@pytest.fixture
def sbx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SandboxEnv:
    return make_env(tmp_path, monkeypatch)


@pytest.mark.parametrize("kind", KINDS)
def test_commands_files_and_exit_codes(sbx: SandboxEnv, kind: str) -> None:
    async def script(sandbox: Sandbox) -> None:
        result = await sandbox.run("echo hi", cwd=None, timeout=10)
        assert (result.stdout, result.stderr, result.exit_code, result.blocked) == ("hi\n", "", 0, [])
        assert (await sandbox.run("exit 3", cwd=None, timeout=10)).exit_code == 3
        assert (await sandbox.run("echo err >&2; false", cwd=None, timeout=10)).stderr == "err\n"
        assert (await sandbox.run("pwd", cwd=None, timeout=10)).stdout.strip() == sandbox.workdir
        assert (await sandbox.run("pwd", cwd="src/pkg", timeout=10)).stdout.strip() == f"{sandbox.repo_root}/src/pkg"
        assert (await sandbox.run("cat mod.py", cwd="src/pkg", timeout=10)).stdout == "X = 1\n"
        assert (await sandbox.run("./scripts/run.sh", cwd=None, timeout=10)).stdout == "ran\n"
        written = await sandbox.write_file("eval_artifacts/answer.json", '{"a": 1}', append=False)
        assert written == 8
        await sandbox.write_file("eval_artifacts/answer.json", "\n", append=True)
        read = await sandbox.read_file(f"{sandbox.repo_root}/eval_artifacts/answer.json", 1000)
        assert (read.content, read.size, read.truncated) == ('{"a": 1}\n', 9, False)
        part = await sandbox.read_file("data/notes.txt", 10)
        assert (part.content, part.size, part.truncated) == ("notes\nnote", 300, True)
        entries = {e.name: e for e in await sandbox.list_dir(".")}
        assert {"README.md", "src", "eval_artifacts", "scripts"} <= set(entries)
        assert entries["src"].type == "dir" and entries["README.md"].type == "file"
        assert {e.name: e.type for e in await sandbox.list_dir("src")}["link_to_app.py"] == "symlink"
        with pytest.raises(SandboxRefusal) as missing:
            await sandbox.read_file("nope.txt", 10)
        assert missing.value.kind == "not_found"
        tmp = (await sandbox.run('printf %s "$HOME"', cwd=None, timeout=10)).stdout  # /tmp under bwrap
        await sandbox.write_file(f"{tmp}/scratch.txt", "t", append=False)
        assert (await sandbox.read_file(f"{tmp}/scratch.txt", 10)).content == "t"

    changes = run_in(kind, sbx, script)
    assert changes == []


@pytest.mark.parametrize("kind", KINDS)
def test_final_tree_is_on_the_host_after_stop(sbx: SandboxEnv, kind: str) -> None:
    async def go() -> None:
        sandbox = await get_sandbox_factory(kind).open(sbx.snapshot, open_spec())
        try:
            await sandbox.run("mkdir -p eval_artifacts/sub && echo 42 > eval_artifacts/sub/x", cwd=None, timeout=10)
            await sandbox.write_file("eval_artifacts/answer.json", "{}", append=False)
            assert await sandbox.stop() == []
            assert await sandbox.stop() == []  # idempotent
            root = sandbox.host_root
            assert (root / "eval_artifacts" / "sub" / "x").read_text() == "42\n"
            assert (root / "eval_artifacts" / "answer.json").read_text() == "{}"
            assert (root / "src" / "app.py").read_text() == "print('app')\n"
        finally:
            await sandbox.cleanup()
        assert not sandbox.host_root.exists()

    asyncio.run(go())


@pytest.mark.parametrize("kind", KINDS)
def test_output_is_elided_in_the_middle(sbx: SandboxEnv, kind: str) -> None:
    async def script(sandbox: Sandbox) -> None:
        result = await sandbox.run("seq 1 20000; seq 1 5000 >&2", cwd=None, timeout=10)
        total = len("".join(f"{i}\n" for i in range(1, 20001)))
        assert result.stdout.startswith("1\n2\n3\n") and result.stdout.endswith("19999\n20000\n")
        assert result.stdout_elided == total - 4000
        assert f"\n[... {total - 4000} bytes elided ...]\n" in result.stdout
        assert result.stderr_elided > 0 and result.stderr.endswith("5000\n")
        small = await sandbox.run("echo short", cwd=None, timeout=10)
        assert (small.stdout, small.stdout_elided) == ("short\n", 0)

    run_in(kind, sbx, script, open_spec(Limits(output_bytes=4000)))


@pytest.mark.parametrize("kind", KINDS)
def test_environment_is_clean(sbx: SandboxEnv, kind: str) -> None:
    async def script(sandbox: Sandbox) -> None:
        result = await sandbox.run("env", cwd=None, timeout=10)
        names = {line.split("=", 1)[0] for line in result.stdout.splitlines()}
        assert SECRET not in result.stdout
        assert "OPENAI_API_KEY" not in names and "ALLOWED_VAR" in names
        assert {"PATH", "HOME", "LANG", "TZ"} <= names
        assert names <= {
            "PATH",
            "HOME",
            "LANG",
            "TZ",
            "PWD",
            "SHLVL",
            "_",
            "ALLOWED_VAR",
            "TMPDIR",
            "AGENTGYM_TRIAL_TOKEN",
        }

    run_in(kind, sbx, script, open_spec(env={"ALLOWED_VAR": "yes"}))


@pytest.mark.parametrize("kind", KINDS)
def test_limits_are_configurable(sbx: SandboxEnv, kind: str) -> None:
    limits = Limits(
        cpu_seconds=7, memory_bytes=512 * 1024**2, file_size_bytes=3 * 1024**2, max_processes=99, open_files=77
    )

    async def script(sandbox: Sandbox) -> None:
        result = await sandbox.run("ulimit -t; ulimit -v; ulimit -f; ulimit -u; ulimit -n", cwd=None, timeout=10)
        assert result.stdout.split() == ["7", str(512 * 1024), str(3 * 1024), "99", "77"]

    run_in(kind, sbx, script, open_spec(limits))


@pytest.mark.parametrize("kind", KINDS)
def test_open_refuses_what_it_cannot_apply(sbx: SandboxEnv, kind: str) -> None:
    async def try_open(spec_policy: ResolvedPolicy, limits: Limits | None = None, workdir: str = ".") -> None:
        await get_sandbox_factory(kind).open(sbx.snapshot, open_spec(limits, policy=spec_policy, workdir=workdir))

    no_write = ResolvedPolicy(allowed=[], prohibited=[], write_paths_allowed=[])
    outside = ResolvedPolicy(allowed=[], prohibited=[], write_paths_allowed=["/etc/"])
    for policy, limits, workdir in [
        (no_write, None, "."),
        (outside, None, "."),
        (POLICY, None, "missing/dir"),
        (POLICY, Limits(open_files=10**9), "."),
    ]:
        if os.geteuid() == 0 and kind == "local" and limits is not None:
            continue  # root may raise any limit
        with pytest.raises(SandboxError):
            asyncio.run(try_open(policy, limits, workdir))
    assert not any((sbx.cache / "workspaces").glob("*"))  # nothing left behind


def test_unknown_sandbox_name() -> None:
    with pytest.raises(SandboxError):
        get_sandbox_factory("docker")


@pytest.mark.parametrize("kind", KINDS)
def test_custom_write_paths(sbx: SandboxEnv, kind: str) -> None:
    policy = ResolvedPolicy(allowed=[], prohibited=[], write_paths_allowed=["src/pkg/", "out", "README.md"])

    async def script(sandbox: Sandbox) -> None:
        ok = await sandbox.run(
            "echo Y = 2 >> src/pkg/mod.py && echo new > src/pkg/new.py && echo o > out/o.txt "
            "&& echo changed > README.md",
            cwd=sandbox.repo_root,
            timeout=10,
        )
        assert ok.exit_code == 0, ok
        with pytest.raises(SandboxRefusal):
            await sandbox.write_file("src/app.py", "x", append=False)
        with pytest.raises(SandboxRefusal):
            await sandbox.write_file("eval_artifacts/a", "x", append=False)

    changes = run_in(kind, sbx, script, open_spec(policy=policy, workdir="src"))
    assert changes == []
    assert (sbx.snapshot.path / "src" / "pkg" / "mod.py").read_text() == "X = 1\n"
    assert (sbx.snapshot.path / "README.md").read_text() == "# demo\n"


def test_local_sandbox_reports_unauthorized_writes(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        await sandbox.run(
            "echo bad >> src/app.py; rm data/notes.txt; echo n > new.txt; mkdir newdir; "
            "chmod +x README.md; echo ok > eval_artifacts/x",
            cwd=None,
            timeout=10,
        )

    changes = run_in("local", sbx, script)
    assert sorted((c.path, c.change) for c in changes) == [
        ("README.md", "modified"),
        ("data/notes.txt", "removed"),
        ("new.txt", "added"),
        ("newdir", "added"),
        ("src/app.py", "modified"),
    ]
    assert (sbx.snapshot.path / "src" / "app.py").read_text() == "print('app')\n"  # copies, not links


@pytest.mark.bwrap
@pytest.mark.skipif(not BWRAP_OK, reason=BWRAP_WHY)
def test_parallel_trials_are_apart(sbx: SandboxEnv) -> None:
    async def go() -> None:
        factory = get_sandbox_factory("bwrap")
        boxes = await asyncio.gather(*(factory.open(sbx.snapshot, open_spec()) for _ in range(3)))
        try:
            roots = {box.host_root for box in boxes}
            assert len(roots) == 3
            results = await asyncio.gather(
                *(box.run("echo $$ > /tmp/me; sleep 0.2; cat /tmp/me", cwd=None, timeout=10) for box in boxes)
            )
            assert all(r.exit_code == 0 for r in results)
            if os.geteuid() == 0:  # each trial runs as its own host uid
                uids = {os.stat(f"/proc/{box.client.proc.pid}").st_uid for box in boxes}  # type: ignore[union-attr]
                assert len(uids) == 3 and 0 not in uids
        finally:
            for box in boxes:
                await box.cleanup()

    asyncio.run(go())


def test_local_executor_lost_and_restarted(sbx: SandboxEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "RUN_GRACE", 0.5)

    async def script(sandbox: Sandbox) -> None:
        killed = await sandbox.run("kill -9 $PPID; sleep 5", cwd=None, timeout=10)
        assert killed.exit_code == -1 and killed.blocked
        assert (await sandbox.run("echo back", cwd=None, timeout=10)).stdout == "back\n"
        assert isinstance(sandbox, process.ExecutorSandbox) and sandbox.client and sandbox.client.proc
        os.kill(sandbox.client.proc.pid, signal.SIGSTOP)  # a hung executor: the harness deadline fires
        started = time.monotonic()
        hung = await sandbox.run("echo never", cwd=None, timeout=0.5)
        assert time.monotonic() - started < 5 and hung.blocked and hung.exit_code == -1
        assert (await sandbox.run("echo again", cwd=None, timeout=10)).stdout == "again\n"

    assert run_in("local", sbx, script) == []
