"""Attacks on the bubblewrap sandbox. Each must fail, be on record, and leave the host untouched."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sandbox_support import (
    SECRET,
    SandboxEnv,
    assert_refused,
    attempt,
    host_processes_with,
    make_env,
    needs_bwrap,
    open_spec,
)

from agentgym.sandbox import get_sandbox_factory
from agentgym.sandbox.base import CommandResult, Limits, Sandbox, SandboxRefusal

pytestmark = [needs_bwrap, pytest.mark.bwrap]


@pytest.fixture
def sbx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SandboxEnv:
    return make_env(tmp_path, monkeypatch)


async def _run(sandbox: Sandbox, cmd: str, timeout: float = 10.0) -> CommandResult:
    return await sandbox.run(cmd, cwd=None, timeout=timeout)


# ---- deletion --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "python3 -c \"import shutil; shutil.rmtree('/repo/src')\"",
        'perl -e \'unlink("/repo/README.md") or die "unlink: $!\\n"\'',
        "find /repo -name '*.py' -delete",
        "cd /repo && git clean -fdx && test ! -e untracked.txt",
        "rm -rf /repo/data /repo/.git",
        "chmod 777 /repo/README.md",
        "mv /repo/README.md /repo/eval_artifacts/stolen",
    ],
)
def test_deleting_or_changing_the_repo_fails(sbx: SandboxEnv, command: str) -> None:
    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, command)
        assert_refused(result)
        assert result.blocked, result
        check = await _run(
            sandbox, "test -f /repo/README.md && test -f /repo/src/app.py && test -f /repo/untracked.txt"
        )
        assert check.exit_code == 0

    attempt(sbx, script)


# ---- escapes through links and .. -----------------------------------------------------------------


def test_write_through_planted_symlink_via_run(sbx: SandboxEnv) -> None:
    sentinel = sbx.host / "sentinel.txt"

    async def script(sandbox: Sandbox) -> None:
        plant = await _run(sandbox, f"ln -s /repo/README.md eval_artifacts/r && ln -s {sentinel} eval_artifacts/h")
        assert plant.exit_code == 0
        assert_refused(await _run(sandbox, "echo pwned > eval_artifacts/r"), "read-only file system")
        assert_refused(await _run(sandbox, "echo pwned > eval_artifacts/h"))

    attempt(sbx, script)


def test_write_through_planted_symlink_via_file_tools(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        await _run(sandbox, "ln -s /repo/src eval_artifacts/srcdir && ln -s /etc eval_artifacts/etc")
        kinds = []
        for path in ("eval_artifacts/srcdir/new.py", "eval_artifacts/srcdir/app.py", "eval_artifacts/etc/passwd"):
            with pytest.raises(SandboxRefusal) as refused:
                await sandbox.write_file(path, "pwned", append=False)
            kinds.append(refused.value.kind)
        assert kinds == ["sandbox_blocked", "sandbox_blocked", "path_escape"]
        with pytest.raises(SandboxRefusal) as refused:
            await sandbox.read_file("eval_artifacts/etc/hostname", 100)
        assert refused.value.kind == "path_escape"

    attempt(sbx, script)


def test_dotdot_escapes_fail(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        assert_refused(await _run(sandbox, "echo x > /repo/../escape"), "read-only file system")
        assert_refused(await _run(sandbox, "cd /repo/eval_artifacts && echo x > ../../escape2"))
        for path in ("../outside.txt", "eval_artifacts/../../etc/x", "/repo/../../usr/x"):
            with pytest.raises(SandboxRefusal) as refused:
                await sandbox.write_file(path, "x", append=False)
            assert refused.value.kind == "path_escape"
        for path in ("../../etc/hostname", "/proc/self/environ", "/.agentgym/executor.py"):
            with pytest.raises(SandboxRefusal) as refused:
                await sandbox.read_file(path, 100)
            assert refused.value.kind == "path_escape"
        with pytest.raises(SandboxRefusal) as refused:
            await sandbox.write_file("src/new.py", "x", append=False)
        assert refused.value.kind == "sandbox_blocked"

    attempt(sbx, script)


# ---- reading the host ------------------------------------------------------------------------------


@pytest.fixture
def fake_ssh_key() -> Iterator[Path]:
    ssh = Path.home() / ".ssh"
    key = ssh / "id_test"
    made_dir, made_key = not ssh.exists(), not key.exists()
    ssh.mkdir(mode=0o700, exist_ok=True)
    if made_key:
        key.write_text("FAKE-PRIVATE-KEY-CONTENT\n")
        os.chmod(key, 0o600)
    yield key
    if made_key:
        key.unlink()
    if made_dir:
        shutil.rmtree(ssh)


def test_reading_the_host_fails(sbx: SandboxEnv, fake_ssh_key: Path) -> None:
    secrets = [fake_ssh_key.read_text().strip(), "run-folder-content", "root:"]
    targets = [
        "/etc/shadow",
        str(fake_ssh_key),
        "/root/.ssh/id_test",
        str(sbx.host / "run" / "results.jsonl"),
        str(sbx.snapshot.path / "README.md"),
        str(sbx.cache),
        "/proc/1/root/etc/shadow",
        "/home",
    ]

    async def script(sandbox: Sandbox) -> None:
        for target in targets:
            result = await _run(sandbox, f"cat {target} || ls -la {target}")
            assert_refused(result)
            assert not any(secret in result.stdout for secret in secrets), (target, result.stdout)

    attempt(sbx, script)


def test_api_key_never_visible(sbx: SandboxEnv) -> None:
    assert os.environ["OPENAI_API_KEY"] == SECRET

    async def script(sandbox: Sandbox) -> None:
        result = await _run(
            sandbox,
            "env; cat /proc/*/environ; cat /proc/1/environ; echo $OPENAI_API_KEY; "
            "grep -ra sk-test /proc/*/environ /proc/*/cmdline 2>/dev/null; exit 1",
        )
        assert SECRET not in result.stdout + result.stderr
        assert_refused(result)
        listing = await sandbox.list_dir("/tmp")
        assert all(SECRET not in entry.name for entry in listing)

    attempt(sbx, script)


# ---- network ---------------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, addr = server.accept()
                accepted.append(str(addr))
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def test_network_is_unreachable(sbx: SandboxEnv, listener: tuple[int, list[str]]) -> None:
    port, accepted = listener
    probe = socket.create_connection(("127.0.0.1", port), timeout=2)  # the listener works from the host
    probe.close()
    time.sleep(0.3)
    accepted.clear()
    commands = [
        f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)\"",
        f"echo hi > /dev/tcp/127.0.0.1/{port}",
        "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 80), timeout=2)\"",
    ]
    if shutil.which("curl"):
        commands += [f"curl -sS -m 3 http://127.0.0.1:{port}/", "curl -sS -m 3 https://example.com/"]

    async def script(sandbox: Sandbox) -> None:
        for command in commands:
            result = await _run(sandbox, command)
            assert_refused(result, "network")

    attempt(sbx, script)
    assert accepted == []


# ---- resources -------------------------------------------------------------------------------------


def test_fork_bomb_is_bounded(sbx: SandboxEnv) -> None:
    limits = Limits(max_processes=64, cpu_seconds=5)

    async def script(sandbox: Sandbox) -> None:
        started = time.monotonic()
        result = await _run(
            sandbox, "bomb() { bomb | bomb & }; bomb; sleep 2; for i in $(seq 200); do sleep 5 & done; wait", timeout=4
        )
        assert time.monotonic() - started < 10
        assert_refused(result)
        assert any("process limit" in b or "timeout" in b for b in result.blocked), result
        after = await _run(sandbox, "ls /proc | grep -c '^[0-9]'")
        assert int(after.stdout) <= 4  # the executor, bash, ls and grep

    attempt(sbx, script, open_spec(limits))
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still fork


def test_infinite_loop_times_out(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        started = time.monotonic()
        result = await _run(sandbox, "while :; do :; done", timeout=1)
        assert result.timed_out and time.monotonic() - started < 5
        assert_refused(result, "timeout")

    attempt(sbx, script)


def test_cpu_limit_kills_busy_loop(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, "python3 -c 'while True: pass'", timeout=20)
        assert not result.timed_out
        assert_refused(result, "cpu limit")

    attempt(sbx, script, open_spec(Limits(cpu_seconds=1)))


def test_sleeping_past_the_timeout(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        started = time.monotonic()
        result = await _run(sandbox, "sleep 60; echo woke", timeout=1)
        assert time.monotonic() - started < 5
        assert result.timed_out and "woke" not in result.stdout
        assert_refused(result, "timeout")

    attempt(sbx, script)


def test_gigabyte_of_output_is_capped(sbx: SandboxEnv) -> None:
    cap = 64 * 1024

    async def script(sandbox: Sandbox) -> None:
        started = time.monotonic()
        result = await _run(sandbox, "yes | head -c 1G", timeout=60)
        assert time.monotonic() - started < 20
        assert len(result.stdout.encode()) <= cap + 100
        assert result.stdout_elided > 0
        assert f"[... {result.stdout_elided} bytes elided ...]" in result.stdout
        assert_refused(result, "output limit")

    attempt(sbx, script, open_spec(Limits(output_bytes=cap)))


def test_filling_the_disk_fails(sbx: SandboxEnv) -> None:
    limits = Limits(disk_bytes=8 * 1024**2)

    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, "dd if=/dev/zero of=eval_artifacts/big bs=1M count=64")
        assert_refused(result, "disk limit" if os.geteuid() == 0 else "file size limit")
        result = await _run(
            sandbox, "dd if=/dev/zero of=/tmp/big bs=1M count=64; dd if=/dev/zero of=/dev/shm/x bs=1M count=64"
        )
        assert_refused(result)
        await _run(sandbox, "rm -f eval_artifacts/big")

    attempt(sbx, script, open_spec(limits if os.geteuid() == 0 else Limits(file_size_bytes=8 * 1024**2)))


def test_file_size_limit(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, "head -c 3M /dev/zero > /tmp/big")
        assert_refused(result, "file size limit")
        with pytest.raises(SandboxRefusal) as refused:
            await sandbox.write_file("eval_artifacts/big.txt", "x" * (2 * 1024**2), append=False)
        assert refused.value.kind == "sandbox_blocked"

    attempt(sbx, script, open_spec(Limits(file_size_bytes=1024**2)))


def test_memory_limit(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, "python3 -c 'x = bytearray(512 * 1024 * 1024)'")
        assert_refused(result, "memory limit")

    attempt(sbx, script, open_spec(Limits(memory_bytes=256 * 1024**2)))


# ---- processes that try to outlive the command or the trial ----------------------------------------


def test_background_processes_do_not_outlive_the_command(sbx: SandboxEnv) -> None:
    marker = f"agentgym-marker-{uuid.uuid4().hex}"
    spawn = (
        f"nohup sh -c 'sleep 1000' {marker}-nohup >/dev/null 2>&1 & "
        f"setsid sh -c 'sleep 1000' {marker}-setsid >/dev/null 2>&1 & "
        f"( sh -c 'sleep 1000' {marker}-double & ) ; "
        f"sh -c 'trap \"\" HUP TERM; sleep 1000' {marker}-trap & disown; echo spawned"
    )

    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, spawn)
        assert result.stdout.strip() == "spawned"
        assert host_processes_with(marker) == []
        left = await _run(sandbox, f"pgrep -f '[{marker[0]}]{marker[1:]}' || echo none")
        assert left.stdout.strip() == "none"

    attempt(sbx, script)
    assert host_processes_with(marker) == []


def test_processes_do_not_outlive_the_trial(sbx: SandboxEnv) -> None:
    marker = f"agentgym-marker-{uuid.uuid4().hex}"

    async def script(sandbox: Sandbox) -> None:
        task = asyncio.ensure_future(
            sandbox.run(f"setsid nohup sh -c 'sleep 1000' {marker} & sleep 1000", cwd=None, timeout=100)
        )
        for _ in range(100):
            await asyncio.sleep(0.05)
            if host_processes_with(marker):
                break
        assert host_processes_with(marker), "the command did not start"
        task.cancel()  # the trial ends while the command still runs
        with contextlib.suppress(asyncio.CancelledError):
            await task

    attempt(sbx, script)
    assert host_processes_with(marker) == []


def test_signalling_the_harness_fails(sbx: SandboxEnv) -> None:
    spec = open_spec(env={"HARNESS_PID": str(os.getpid())})

    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, "kill -9 $HARNESS_PID")
        assert_refused(result)
        assert "No such process" in result.stderr
        own = await _run(sandbox, "kill -9 1; kill -9 $PPID; echo still-here")  # the executor itself
        assert "still-here" in own.stdout
        assert (await _run(sandbox, "echo ok")).stdout == "ok\n"

    attempt(sbx, script, spec)


def test_mount_and_namespace_tricks_fail(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        assert_refused(await _run(sandbox, "mount -t tmpfs none /repo/src"))
        assert_refused(await _run(sandbox, "unshare -U -r true"))
        assert_refused(await _run(sandbox, "ln /repo/README.md eval_artifacts/hard"))
        assert_refused(await _run(sandbox, "touch /newfile"), "read-only file system")
        assert_refused(await _run(sandbox, "touch /usr/bin/evil"), "read-only file system")

    attempt(sbx, script)


def test_links_and_sparse_files_left_for_the_harness_are_defused(sbx: SandboxEnv) -> None:
    """After stop, the final tree must not lead host-side readers (scoring) to host files or fill the disk."""
    before = sbx.watched()

    async def go() -> None:
        spec = open_spec(Limits(file_size_bytes=200 * 1024**3))  # only the disk limit can stop the sparse file
        sandbox = await get_sandbox_factory("bwrap").open(sbx.snapshot, spec)
        try:
            result = await sandbox.run(
                f"ln -s /etc/shadow eval_artifacts/answer.json; ln -s {sbx.host}/sentinel.txt eval_artifacts/s; "
                "ln -s ../../../../../../etc/passwd eval_artifacts/up; ln -s ../README.md eval_artifacts/ok; "
                "truncate -s 100G eval_artifacts/huge; ls -l eval_artifacts/huge >&2; echo done",
                cwd=None,
                timeout=10,
            )
            assert result.stdout == "done\n"
            changes = await sandbox.stop()  # the byte cap of the copy-back is recorded (issue 7 item 3)
            assert [c for c in changes if c.change != "limit"] == []
            left = sorted(p.name for p in (sandbox.host_root / "eval_artifacts").iterdir())
            if os.geteuid() == 0:  # sparse in the tmpfs but over disk_bytes: never written to the host disk
                assert [c.detail for c in changes] == [
                    "copy-back: not copied (over the disk limit): eval_artifacts/huge"
                ]
                assert "107374182400" in result.stderr or "100G" in result.stderr, result.stderr
                assert left == ["ok"]
            assert not any(p.is_symlink() and p.name != "ok" for p in (sandbox.host_root / "eval_artifacts").iterdir())
            assert (sandbox.host_root / "eval_artifacts" / "ok").read_text() == "# demo\n"
        finally:
            await sandbox.cleanup()

    asyncio.run(go())
    assert sbx.watched() == before
