"""Isolation beyond namespaces (issue 7: keyrings, seccomp, trial cgroup, /dev, SysV IPC, signals, uid slots).

Every test drives a real bubblewrap sandbox (or real processes) and fails without the measure it names.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from test_sandbox_support import SandboxEnv, assert_refused, attempt, make_env, needs_bwrap, open_spec

from agentgym.results.report import render_report, summarize
from agentgym.sandbox import bwrap as bwrap_mod
from agentgym.sandbox import cgroup
from agentgym.sandbox.base import CommandResult, Limits, Sandbox
from agentgym.sandbox.doctor import doctor_report
from agentgym.sandbox.isolation import isolation
from agentgym.sandbox.seccomp import syscall_number

pytestmark = [needs_bwrap, pytest.mark.bwrap]
ROOT = os.geteuid() == 0
needs_cgroup = pytest.mark.skipif(
    not isinstance(cgroup.support(), cgroup.Layout), reason=f"no trial cgroup here: {cgroup.support()}"
)
KEY_SPEC_SESSION_KEYRING = -3
KEYCTL_REVOKE = 3


@pytest.fixture
def sbx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SandboxEnv:
    return make_env(tmp_path, monkeypatch)


async def _run(sandbox: Sandbox, cmd: str, timeout: float = 20.0) -> CommandResult:
    return await sandbox.run(cmd, cwd=None, timeout=timeout)


def _nr(name: str) -> int:
    number = syscall_number(name)
    assert number is not None, name
    return number


def _py(code: str) -> str:
    """A shell command running `code` with the sandbox's python (single quotes must not occur in it)."""
    assert "'" not in code
    return f"python3 -c '{code}'"


# ---- keyrings and seccomp ----------------------------------------------------------------------------


@pytest.fixture
def harness_key() -> tuple[str, int]:
    """A key in the harness's session keyring, revoked afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    description = f"agentgym-test-{uuid.uuid4().hex}"
    payload = b"KEYRING-SECRET"
    serial = libc.syscall(
        _nr("add_key"), b"user", description.encode(), payload, len(payload), KEY_SPEC_SESSION_KEYRING
    )
    assert serial > 0, os.strerror(ctypes.get_errno())
    yield description, serial
    libc.syscall(_nr("keyctl"), KEYCTL_REVOKE, serial)


def test_harness_keyring_is_out_of_reach(sbx: SandboxEnv, harness_key: tuple[str, int]) -> None:
    description, serial = harness_key
    assert description in Path("/proc/keys").read_text()  # the harness itself sees its key
    probe = (
        "import ctypes;c=ctypes.CDLL(None,use_errno=True);"
        f"print(c.syscall({_nr('keyctl')},0,{KEY_SPEC_SESSION_KEYRING},0),ctypes.get_errno());"
        f"print(c.syscall({_nr('keyctl')},11,{serial},0,0),ctypes.get_errno());"  # KEYCTL_READ of the key
        f'print(c.syscall({_nr("add_key")},b"user",b"planted",b"x",1,{KEY_SPEC_SESSION_KEYRING}),ctypes.get_errno())'
    )

    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, _py(probe))
        assert result.stdout.split() == ["-1", "1"] * 3, result  # each call: EPERM
        keys = await _run(sandbox, "cat /proc/keys")
        assert description not in keys.stdout and "KEYRING-SECRET" not in keys.stdout

    attempt(sbx, script)
    assert "planted" not in Path("/proc/keys").read_text()


def test_fresh_session_keyring_even_without_seccomp(
    sbx: SandboxEnv, harness_key: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where libseccomp is missing keyctl works inside, but the harness's keyring is not the sandbox's."""
    _, serial = harness_key
    monkeypatch.setattr(bwrap_mod, "seccomp_filter", lambda: None)
    libc = ctypes.CDLL(None, use_errno=True)
    own = libc.syscall(_nr("keyctl"), 0, KEY_SPEC_SESSION_KEYRING, 0)
    probe = (
        "import ctypes;c=ctypes.CDLL(None,use_errno=True);"
        f"print(c.syscall({_nr('keyctl')},0,{KEY_SPEC_SESSION_KEYRING},0));"
        f"print(c.syscall({_nr('keyctl')},11,{serial},0,0),ctypes.get_errno())"  # KEYCTL_READ of the key
    )

    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, _py(probe))
        inside, read = result.stdout.splitlines()
        assert int(inside) > 0 and int(inside) != own, result
        assert read.split()[0] == "-1", result  # not possessed: no permission (or no such key) any more

    attempt(sbx, script)


REFUSED = ("keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "unshare", "setns", "mount")
REFUSED += ("umount2", "ptrace", "io_uring_setup", "kexec_load", "open_by_handle_at", "pivot_root", "fsopen")


def test_seccomp_refuses_what_tasks_never_need(sbx: SandboxEnv) -> None:
    calls = ";".join(f'print("{n}",c.syscall({_nr(n)},0,0,0,0,0),ctypes.get_errno())' for n in REFUSED)
    namespace_clone = f'print("clone",c.syscall({_nr("clone")},0x20000000|17,0,0,0,0),ctypes.get_errno())'
    clone3 = f'print("clone3",c.syscall({_nr("clone3")},0,0),ctypes.get_errno())'
    probe = f"import ctypes;c=ctypes.CDLL(None,use_errno=True);{calls};{namespace_clone};{clone3}"

    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, _py(probe))
        rows = [line.split() for line in result.stdout.splitlines()]
        assert rows == [[n, "-1", "1"] for n in (*REFUSED, "clone")] + [["clone3", "-1", "38"]], result
        # what coding tasks do still works: threads, processes, git, pytest-style imports
        work = await _run(
            sandbox,
            "python3 -c 'import threading,subprocess,multiprocessing; t=threading.Thread(target=print); t.start();"
            ' t.join(); print(subprocess.run(["git","--version"],capture_output=True).returncode)\''
            " && cd /repo && git status --short | head -1 >/dev/null && git log --oneline | wc -l",
        )
        assert work.exit_code == 0 and work.stdout.split()[-2:] == ["0", "1"], work

    attempt(sbx, script)


# ---- /dev, SysV IPC, memfd, processes ---------------------------------------------------------------


def test_dev_is_read_only_except_shm(sbx: SandboxEnv) -> None:
    limits = Limits(disk_bytes=8 * 1024**2, file_size_bytes=64 * 1024**2)

    async def script(sandbox: Sandbox) -> None:
        assert_refused(await _run(sandbox, "echo x > /dev/planted"), "read-only file system")
        assert_refused(await _run(sandbox, "mkdir /dev/d"), "read-only file system")
        ok = await _run(
            sandbox, "echo x > /dev/null && echo y > /dev/shm/a && cat /dev/shm/a && head -c 3 /dev/zero | wc -c"
        )
        assert ok.exit_code == 0 and ok.stdout.split() == ["y", "3"], ok
        if ROOT:  # /dev/shm lives in the scratch tmpfs: beyond disk_bytes there is no space
            full = await _run(sandbox, "head -c 32M /dev/zero > /dev/shm/big")
            assert_refused(full, "disk limit")
        await _run(sandbox, "rm -f /dev/shm/*")

    attempt(sbx, script, open_spec(limits))


def test_sysv_ipc_objects_do_not_outlive_the_command(sbx: SandboxEnv) -> None:
    make = (
        "import ctypes;c=ctypes.CDLL(None,use_errno=True);"
        "print(c.shmget(0,1<<20,0o1600),c.semget(0,1,0o1600),c.msgget(0,0o1600))"  # IPC_PRIVATE|IPC_CREAT
    )

    async def script(sandbox: Sandbox) -> None:
        made = await _run(sandbox, _py(make) + " && wc -l < /proc/sysvipc/shm")
        ids = made.stdout.split()
        assert len(ids) == 4 and all(int(x) >= 0 for x in ids[:3]) and ids[3] == "2", made  # header + one
        after = await _run(sandbox, "cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | wc -l")
        assert after.stdout.strip() == "3", after  # the three headers only

    attempt(sbx, script)


@needs_cgroup
def test_memfd_pages_beyond_the_trial_memory_are_refused(sbx: SandboxEnv) -> None:
    # Ten memfds of 32 MiB: each below RLIMIT_FSIZE and invisible to RLIMIT_AS, 320 MiB in all.
    fill = (
        "import os;fds=[os.memfd_create(str(i)) for i in range(10)];chunk=bytes(1<<20)\n"
        'for fd in fds:\n [os.write(fd,chunk) for _ in range(32)]\nprint("filled")'
    )

    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, f"python3 -c '{fill}'", timeout=60)
        assert "filled" not in result.stdout
        assert_refused(result, "memory limit")
        assert (await _run(sandbox, "echo alive")).stdout == "alive\n"  # the trial goes on

    attempt(sbx, script, open_spec(Limits(trial_memory_bytes=128 * 1024**2)))


@needs_cgroup
def test_trial_process_count_is_bounded(sbx: SandboxEnv) -> None:
    forks = (
        "import os,time\nn=0\nfor i in range(100):\n try:\n  pid=os.fork()\n except OSError:\n  break\n"
        " if pid==0:\n  time.sleep(30)\n  os._exit(0)\n n+=1\nprint(n)"
    )

    async def script(sandbox: Sandbox) -> None:
        result = await _run(sandbox, f"python3 -c '{forks}'")
        assert int(result.stdout) < 40, result  # RLIMIT_NPROC (256) alone would allow all 100

    attempt(sbx, script, open_spec(Limits(trial_processes=40, max_processes=256)))


@needs_cgroup
def test_trial_cgroup_is_removed_with_the_trial(sbx: SandboxEnv) -> None:
    layout = cgroup.support()
    assert isinstance(layout, cgroup.Layout)

    def ours() -> list[Path]:
        return [
            e
            for p in set(layout.parents.values())
            for e in p.iterdir()
            if e.name.startswith(cgroup.owned_name(f"{os.getpid()}-"))
        ]

    async def script(sandbox: Sandbox) -> None:
        groups = ours()
        assert len(groups) == len(set(layout.parents)) if layout.version == 1 else len(groups) == 1
        for group in groups:  # the executor and the bwrap monitor are in it
            assert len((group / "cgroup.procs").read_text().split()) >= 2

    attempt(sbx, script)
    assert ours() == []


@needs_cgroup
def test_cgroups_of_dead_harnesses_are_swept() -> None:
    """Only owners of this pid namespace can be proved dead: a dead pid of ours is swept; the same pid recorded
    from another pid namespace (a Ray worker, a container), or with no namespace, is left alone."""
    layout = cgroup.support()
    assert isinstance(layout, cgroup.Layout)
    dead = subprocess.Popen(["true"])
    dead.wait()
    parents = set(layout.parents.values())
    stale = [p / cgroup.owned_name(f"{dead.pid}-{uuid.uuid4().hex[:12]}") for p in parents]
    live = [p / cgroup.owned_name(f"{os.getpid()}-{uuid.uuid4().hex[:12]}") for p in parents]
    elsewhere = [p / f"ns1-{dead.pid}-{uuid.uuid4().hex[:12]}" for p in parents]  # another pid namespace
    unmarked = [p / f"{dead.pid}-{uuid.uuid4().hex[:12]}" for p in parents]
    for path in stale + live + elsewhere + unmarked:
        path.mkdir()
    try:
        assert cgroup.sweep_stale() >= len(stale)
        assert not any(p.exists() for p in stale)
        assert all(p.exists() for p in live + elsewhere + unmarked)
    finally:
        for path in stale + live + elsewhere + unmarked:
            if path.exists():
                path.rmdir()


def test_owner_provably_dead_only_in_its_own_pid_namespace() -> None:
    here = cgroup.pid_namespace()
    assert here.isdigit()
    gone = {4242}

    def alive(pid: int) -> bool:
        return pid not in gone

    assert cgroup.owned_name("4242-abc") == f"ns{here}-4242-abc"
    assert cgroup.provably_dead(f"ns{here}-4242-abc", alive)
    assert not cgroup.provably_dead(f"ns{here}-4243-abc", alive)  # alive
    assert not cgroup.provably_dead(f"ns{int(here) + 1}-4242-abc", alive)  # recorded in another namespace
    assert not cgroup.provably_dead("4242-abc", alive)  # no namespace recorded: cannot tell
    assert not cgroup.provably_dead(f"ns{here}-{os.getpid()}-abc", lambda _p: False)  # never our own
    assert not cgroup.provably_dead(f"ns{here}-x-abc", alive)


# ---- the executor and signals ------------------------------------------------------------------------

START_TIME = "cut -d' ' -f22 /proc/1/stat"


def test_executor_survives_signals_from_inside(sbx: SandboxEnv) -> None:
    async def script(sandbox: Sandbox) -> None:
        before = (await _run(sandbox, START_TIME)).stdout
        for sig in ("INT", "TERM", "HUP", "QUIT", "USR1", "USR2", "ALRM", "PIPE", "TSTP", "TTIN", "XCPU", "PWR"):
            sent = await _run(sandbox, f"kill -{sig} 1; kill -{sig} $PPID; echo sent")
            assert sent.stdout == "sent\n" and not sent.blocked, (sig, sent)
        assert (await _run(sandbox, START_TIME)).stdout == before  # the same executor, never restarted
        # commands still get default dispositions: nothing ignored, SIGTERM/SIGINT kill them
        status = await _run(sandbox, "cat /proc/self/status")  # cat handles no signal itself
        masks = dict(line.split(":\t") for line in status.stdout.splitlines() if line.startswith(("SigIgn", "SigCgt")))
        assert masks == {"SigIgn": "0" * 16, "SigCgt": "0" * 16}, status
        child = await _run(sandbox, "sleep 100 & kill -TERM $!; wait $!; echo $?")
        assert child.stdout == "143\n"
        python = await _run(sandbox, "python3 -c 'import os,signal,time; os.kill(os.getpid(), signal.SIGINT)'")
        assert python.exit_code == 130 and "KeyboardInterrupt" in python.stderr

    attempt(sbx, script)


# ---- uid slots across harness processes ---------------------------------------------------------------

HOLD_SLOT = "import sys;from agentgym.sandbox.hostmount import acquire_slot;print(acquire_slot().uid,flush=True);sys.stdin.read()"


def test_uid_slots_are_host_wide_across_caches(tmp_path: Path) -> None:
    """Two harness processes with different caches must never get the same sandbox uid at once."""
    procs = []
    try:
        uids = []
        for name in ("a", "b"):
            env = {
                **os.environ,
                "AGENTGYM_CACHE": str(tmp_path / f"cache-{name}"),
                "PYTHONPATH": os.pathsep.join(sys.path),
            }
            if not ROOT:
                env["AGENTGYM_SANDBOX_RUN"] = str(tmp_path / "run")  # host-wide base, writable without root
            proc = subprocess.Popen(
                [sys.executable, "-c", HOLD_SLOT], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            procs.append(proc)
            assert proc.stdout is not None
            uids.append(int(proc.stdout.readline()))
        assert uids[0] != uids[1]
    finally:
        for proc in procs:
            proc.communicate("", timeout=10)


# ---- what is reported ----------------------------------------------------------------------------------


def test_doctor_and_report_list_the_isolation() -> None:
    rows = {name: (ok, detail) for name, ok, detail in doctor_report()}
    assert rows["seccomp filter"][0] and "keyctl inside: errno=1" in rows["seccomp filter"][1]
    assert rows["session keyring"] == (True, "a fresh one per sandbox")
    assert rows["trial cgroup"][0] == isinstance(cgroup.support(), cgroup.Layout)
    assert "/dev" in rows and "SysV IPC" in rows
    info = isolation("bwrap", Limits())
    assert set(info) == {"seccomp", "keyring", "cgroup", "dev", "ipc"} and info["seccomp"].startswith("on:")
    assert isolation("local", Limits())["cgroup"].startswith("none")
    summary = summarize([], {"run_id": "r", "isolation": info, "scoring": {}}, status="finished")
    report = render_report(summary, [])
    assert f"seccomp: {info['seccomp']}" in report and f"cgroup: {info['cgroup']}" in report
