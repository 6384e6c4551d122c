"""The bubblewrap sandbox: real isolation for untrusted agent commands.

Profile: new user, pid, net, ipc, uts and cgroup namespaces (no network at all, not even the host's
loopback), `--die-with-parent`, `--new-session`, a cleared environment (PATH, HOME=/tmp, LANG, TZ and
the task's allow-listed variables only), /usr and a minimal /etc read-only, the workspace read-only at
/repo with each allowed write path bound writable on top, a private /tmp and /dev/shm, everything else
absent (no /root, /home, cache, run folder or other workspaces). As root the sandbox runs as a dedicated
unprivileged host uid per concurrent trial (RLIMIT_NPROC is then enforced, host root files unreadable)
and writable scratch is a tmpfs of `disk_bytes`. A launcher first puts the trial in its own cgroup (total
memory and tasks, where one can be made) and a fresh session keyring; bubblewrap loads a seccomp filter
(agentgym.sandbox.seccomp) before the executor starts; /dev is read-only but for /dev/shm in the scratch.
Problems are SandboxErrors, never a silent fallback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agentgym.errors import SandboxError
from agentgym.sandbox import cgroup
from agentgym.sandbox.base import CommandResult, SandboxSpec, WriteEvent
from agentgym.sandbox.cgroup import TrialCgroup
from agentgym.sandbox.hostmount import Slot, acquire_slot
from agentgym.sandbox.process import EXECUTOR_SCRIPT, ExecutorSandbox, Launch, View, executor_config
from agentgym.sandbox.scratch import (
    SANDBOX_UID,
    Scratch,
    copy_back,
    prepare_scratch,
    release_scratch,
    sweep_stale_mounts,
)
from agentgym.sandbox.seccomp import Filter, build_filter, syscall_number
from agentgym.sandbox.workspace import Workspace, create_workspace, sweep_stale_workspaces
from agentgym.sandbox.writepaths import REPO_VIEW, TMP_VIEW, plan_write_paths, resolve_workdir
from agentgym.sources.base import Snapshot

LOCAL_HINT = "use --sandbox local to run without isolation"
SANDBOX_PYTHON = "/usr/bin/python3"
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
EXEC_VIEW = "/.agentgym"
LAUNCHER_ENV = {"PATH": "/usr/bin:/bin"}  # setpriv/bwrap get nothing of the harness environment (API keys)
PROBE_UID = 65534
SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
LAUNCHER_SCRIPT = Path(__file__).with_name("launcher.py")
SECCOMP_FD = 9  # where the launcher opens the filter for bubblewrap's --seccomp
KEYCTL_FALLBACK = {"x86_64": 250, "aarch64": 219}  # only when libseccomp cannot tell
OOM_LABEL = "memory limit (trial cgroup: out-of-memory kill)"
logger = logging.getLogger(__name__)


def bwrap_path() -> str | None:
    return shutil.which("bwrap") or (os.path.exists("/usr/bin/bwrap") and "/usr/bin/bwrap") or None


def setpriv_argv(uid: int) -> list[str]:
    """Prefix that drops to an unprivileged host uid (only when the harness is root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxError("setpriv (util-linux) is missing: cannot drop root for the sandbox", hint=LOCAL_HINT)
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


def namespace_args() -> list[str]:
    return [
        "--unshare-user",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        "agentgym",
        "--die-with-parent",
        "--new-session",
    ]


def launch_args() -> list[str]:
    # The executor is the namespace's init: signals from inside cannot kill it, orphans come to it,
    # and no bwrap helper process sits in the sandbox holding our pipes (/proc/1/fd would expose them).
    return [*namespace_args(), "--as-pid-1"]


def system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in SYSTEM_LINKS:
        host = f"/{name}"
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
    return args


def env_args(extra: dict[str, str]) -> list[str]:
    env = {"PATH": SANDBOX_PATH, "HOME": TMP_VIEW, "LANG": "C.UTF-8", "TZ": "UTC", **extra}
    args = ["--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


@functools.lru_cache(maxsize=1)
def bwrap_available() -> tuple[bool, str]:
    """Whether bubblewrap can build a sandbox here (probed once per process)."""
    path = bwrap_path()
    if path is None:
        return False, "bwrap not found (install the bubblewrap package)"
    try:
        argv = [
            *setpriv_argv(PROBE_UID),
            path,
            *namespace_args(),
            *system_args(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--",
            "/usr/bin/true",
        ]
        probe = subprocess.run(argv, env=LAUNCHER_ENV, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired, SandboxError) as exc:
        return False, f"bwrap probe failed: {exc}"
    if probe.returncode != 0:
        return False, f"bwrap cannot create namespaces: {probe.stderr.strip() or probe.returncode}"
    return True, path


def keyctl_number() -> int | None:
    return syscall_number("keyctl") or KEYCTL_FALLBACK.get(platform.machine())


@functools.lru_cache(maxsize=1)
def seccomp_filter() -> Filter | None:
    """The filter, or None (with one warning per process) where libseccomp is not usable."""
    built = build_filter()
    if isinstance(built, str):
        logger.warning("sandbox runs WITHOUT a seccomp filter: %s", built)
        return None
    return built


def launcher_argv(argv: list[str], group: TrialCgroup | None, seccomp_file: Path | None) -> list[str]:
    """Wrap `argv` in the launcher: trial cgroup, fresh session keyring, the filter at SECCOMP_FD."""
    keyctl = keyctl_number()
    groups = group.procs if group else []
    fds = [str(SECCOMP_FD), str(seccomp_file)] if seccomp_file else []
    python = sys.executable or SANDBOX_PYTHON
    return [
        python, "-I", "-S", str(LAUNCHER_SCRIPT), "-" if keyctl is None else str(keyctl),
        str(len(groups)), *groups, str(len(fds) // 2), *fds, *argv,
    ]  # fmt: skip


@dataclass
class BwrapHost:
    """Host side of one bubblewrap trial."""

    ws: Workspace
    slot: Slot | None
    scratch: Scratch | None = None
    cgroup: TrialCgroup | None = None

    @property
    def host_root(self) -> Path:
        return self.ws.tree

    async def finish(self) -> list[WriteEvent]:
        if self.scratch is not None and not self.scratch.released:
            scratch = self.scratch
            await asyncio.to_thread(copy_back, scratch)
            if self.ws.final is None:  # an overlay's merged view is the final tree: it stays until release
                await asyncio.to_thread(release_scratch, scratch)
        await asyncio.to_thread(self.ws.drop_escaping_links)
        return await asyncio.to_thread(self.ws.diff_against_snapshot)

    async def release(self) -> None:
        try:
            if self.cgroup is not None:  # first: nothing of the trial may outlive it (nor keep its uid)
                await asyncio.to_thread(self.cgroup.destroy)
            if self.scratch is not None:
                await asyncio.to_thread(release_scratch, self.scratch)
        finally:
            if self.slot is not None:
                self.slot.release()
            await asyncio.to_thread(self.ws.remove)


@dataclass
class BwrapSandbox(ExecutorSandbox):
    """The executor sandbox plus what only the host sees: out-of-memory kills in the trial's cgroup."""

    group: TrialCgroup | None = None

    async def run(self, command: str, *, cwd: str | None, timeout: float) -> CommandResult:
        before = self.group.oom_kills() if self.group else 0
        result = await super().run(command, cwd=cwd, timeout=timeout)
        if self.group is not None and self.group.oom_kills() > before:
            result.blocked.append(OOM_LABEL)
        return result


def build_launch(host: BwrapHost, spec: SandboxSpec, uid: int, bwrap: str, seccomp_file: Path | None) -> Launch:
    assert host.scratch is not None
    scratch = host.scratch
    mounts = [
        "--ro-bind",
        str(scratch.etc),
        "/etc",
        "--ro-bind-try",
        "/etc/alternatives",
        "/etc/alternatives",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--bind",
        str(scratch.root / "shm"),
        "/dev/shm",
        "--remount-ro",  # bubblewrap's /dev is a tmpfs of half the RAM: only /dev/shm (in the scratch) is writable
        "/dev",
    ]
    if not any(view == REPO_VIEW for _, view in scratch.binds):
        mounts += ["--ro-bind", str(scratch.repo_source), REPO_VIEW]
    for source, view in scratch.binds:
        mounts += ["--bind", str(source), view]
    for source, view in scratch.ro_binds:
        mounts += ["--ro-bind", str(source), view]
    for hidden in spec.hidden_paths:
        if os.path.isdir(hidden):
            mounts += ["--tmpfs", hidden, "--remount-ro", hidden]
    mounts += ["--ro-bind", str(scratch.exec_dir), EXEC_VIEW, "--remount-ro", "/", "--chdir", REPO_VIEW]
    config = executor_config(
        repo=REPO_VIEW,
        tmp=TMP_VIEW,
        writable=[view for _, view in scratch.binds],
        mode="pidns",
        limits=spec.limits,
        disk_quota=scratch.privileged,
    )
    argv = [
        *setpriv_argv(uid),
        bwrap,
        *launch_args(),
        *env_args(spec.env),
        *system_args(),
        *mounts,
        *(["--seccomp", str(SECCOMP_FD)] if seccomp_file else []),
        "--",
        SANDBOX_PYTHON,
        "-I",
        "-S",
        f"{EXEC_VIEW}/{EXECUTOR_SCRIPT.name}",
        config,
    ]
    return Launch(
        argv=launcher_argv(argv, host.cgroup, seccomp_file),
        env=dict(LAUNCHER_ENV),
        log_path=host.ws.dir / "executor.log",
        start_hint=LOCAL_HINT,
    )


@functools.lru_cache(maxsize=1)
def _sweep_once() -> None:
    """Clean up after harness processes that died mid-trial (mounts first: they bind workspaces)."""
    if os.geteuid() == 0:
        cgroup.sweep_stale()
        sweep_stale_mounts()
    sweep_stale_workspaces()


class BwrapSandboxFactory:
    name = "bwrap"

    def __init__(self, *, overlay: bool = True) -> None:
        self.overlay = overlay  # False: a whole-repo write path is copied into the scratch (benchmarks/)

    async def open(self, snapshot: Snapshot, spec: SandboxSpec) -> ExecutorSandbox:
        ok, detail = bwrap_available()
        if not ok:
            raise SandboxError(f"bubblewrap cannot run: {detail}", hint=LOCAL_HINT)
        if not os.access(SANDBOX_PYTHON, os.X_OK):
            raise SandboxError(f"{SANDBOX_PYTHON} is missing: the in-sandbox executor needs it", hint=LOCAL_HINT)
        plan = plan_write_paths(spec.policy.write_paths_allowed, snapshot.path)
        workdir = resolve_workdir(spec.initial_working_dir, snapshot.path, REPO_VIEW)
        await asyncio.to_thread(_sweep_once)
        privileged = os.geteuid() == 0
        cow = privileged and plan.covers("")  # the whole repo writable: an overlay (scratch.py), not a copy
        skip = frozenset({".git"}) if spec.skip_git else frozenset()
        ws = await asyncio.to_thread(create_workspace, snapshot, plan, link=True, cow=cow, skip=skip)
        host = BwrapHost(ws=ws, slot=None)
        try:
            host.slot = acquire_slot() if privileged else None  # host-wide: never two trials on one uid
            uid = host.slot.uid if host.slot else os.getuid()
            host.scratch = await asyncio.to_thread(
                prepare_scratch, ws, uid, spec.limits.disk_bytes, privileged, spec.ro_mounts, self.overlay
            )
            host.cgroup = await asyncio.to_thread(cgroup.create, ws.dir.name, spec.limits)
            launch = build_launch(host, spec, uid, detail, _write_filter(ws))
            view = View(REPO_VIEW, workdir, TMP_VIEW)
            sandbox = BwrapSandbox(name=self.name, launch=launch, view=view, host=host, group=host.cgroup)
            await sandbox.start()
        except BaseException:
            await host.release()
            raise
        return sandbox


def _write_filter(ws: Workspace) -> Path | None:
    """The compiled filter in the (host-only) workspace folder, for the launcher to open."""
    flt = seccomp_filter()
    if flt is None:
        return None
    path = ws.dir / "seccomp.bpf"
    path.write_bytes(flt.bpf)
    return path
