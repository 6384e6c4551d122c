"""One cgroup per bubblewrap trial: total memory (tmpfs, SysV shm and memfd pages included) and task count.

Made under the harness's own cgroup (`<its cgroup>/agentgym/<trial>`), so whatever limits the host puts on
the harness still hold. cgroup v2 is used where its memory and pids controllers are available, otherwise
the v1 `memory` and `pids` hierarchies. The launcher joins the trial's cgroup before bubblewrap starts, so
every process of the trial is counted. At the end leftovers are killed (through pidfds, never a reused
pid) and the cgroup is removed. A trial cgroup's name records its owner: the harness pid and its pid namespace
(`ns<pidns inode>-<pid>-<token>`), so a sweep from another pid namespace (a Ray worker, a container) never
takes a live owner for dead (and older sweeps, which read a leading pid, leave these names alone). Without root, or without a usable hierarchy, there is no cgroup:
`support()` says why and only the per-process rlimits apply.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentgym.errors import SandboxError
from agentgym.fsutil import pid_alive
from agentgym.sandbox.base import Limits

logger = logging.getLogger(__name__)
CONTROLLERS = ("memory", "pids")
GROUP = "agentgym"
DESTROY_SECONDS = 5.0


def pid_namespace() -> str:
    """This process's pid namespace (the inode of /proc/self/ns/pid), "" if it cannot be read."""
    try:
        return "".join(c for c in os.readlink("/proc/self/ns/pid") if c.isdigit())
    except OSError:
        return ""


def owned_name(name: str) -> str:
    """A trial cgroup's directory name: the owner's pid namespace, then `name` (which starts with its pid)."""
    return f"ns{pid_namespace()}-{name}"


@dataclass(frozen=True)
class Layout:
    """Where trial cgroups go: v2 one parent, v1 one parent per controller."""

    version: int
    parents: dict[str, Path]  # controller -> parent directory (v2: the same directory for both)

    def describe(self) -> str:
        where = sorted({str(p) for p in self.parents.values()})
        return f"cgroup v{self.version} {'+'.join(self.parents)} under {', '.join(where)}"


@dataclass
class TrialCgroup:
    layout: Layout
    dirs: list[Path]  # one per hierarchy

    @property
    def procs(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def oom_kills(self) -> int:
        """How many processes the kernel killed for the memory limit so far."""
        parent = self.layout.parents.get("memory")
        if parent is None:
            return 0
        name = "memory.events" if self.layout.version == 2 else "memory.oom_control"
        path = parent / self.dirs[0].name / name
        with contextlib.suppress(OSError, ValueError):
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def destroy(self) -> bool:
        """Kill what is left in it, then remove it. False (and a warning) if it could not be removed."""
        deadline = time.monotonic() + DESTROY_SECONDS
        removed = True
        for directory in self.dirs:
            while _kill_members(directory) and time.monotonic() < deadline:
                time.sleep(0.01)
            try:
                _rmdir_when_empty(directory, deadline)
            except FileNotFoundError:
                pass
            except OSError as exc:
                logger.warning("trial cgroup %s not removed: %s", directory, exc.strerror)
                removed = False
        return removed


def _members(directory: Path) -> list[int]:
    try:
        return [int(x) for x in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill_members(directory: Path) -> bool:
    """SIGKILL every member through a pidfd taken while it is still a member. True if any were left."""
    members = _members(directory)
    for pid in members:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if pid in _members(directory):  # still ours: the pidfd now pins this very process
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os.close(pidfd)
    return bool(members)


def _rmdir_when_empty(directory: Path, deadline: float) -> None:
    while True:
        try:
            directory.rmdir()
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise
            _kill_members(directory)
            time.sleep(0.01)


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, options) of every cgroup file system."""
    out = []
    with open("/proc/self/mounts") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                out.append((parts[1], parts[2], set(parts[3].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path."""
    paths = {}
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _v2_layout(mount: str, own: str) -> Layout | str:
    base = Path(mount) / own.lstrip("/")
    available = set((base / "cgroup.controllers").read_text().split())
    if not set(CONTROLLERS) <= available:
        return f"cgroup v2: no memory/pids controllers for {base}"
    parent = base / GROUP
    enable = " ".join(f"+{c}" for c in CONTROLLERS)
    try:
        if not set(CONTROLLERS) <= set((base / "cgroup.subtree_control").read_text().split()):
            (base / "cgroup.subtree_control").write_text(enable)  # EBUSY if our cgroup holds processes
        parent.mkdir(exist_ok=True)
        (parent / "cgroup.subtree_control").write_text(enable)
    except OSError as exc:
        return f"cgroup v2: cannot delegate memory/pids below {base} ({exc.strerror}); run the harness in a delegated cgroup"
    return Layout(version=2, parents={c: parent for c in CONTROLLERS})


def _v1_layout(mounts: list[tuple[str, str, set[str]]], own: dict[str, str]) -> Layout | str:
    parents = {}
    for controller in CONTROLLERS:
        for point, fstype, options in mounts:
            if fstype == "cgroup" and controller in options:
                parents[controller] = Path(point) / own.get(controller, "/").lstrip("/") / GROUP
                break
    if not parents:
        return "no cgroup hierarchy with the memory or pids controller is mounted"
    try:
        for parent in parents.values():
            parent.mkdir(exist_ok=True)
    except OSError as exc:
        return f"cgroup v1: cannot create {parent} ({exc.strerror})"
    return Layout(version=1, parents=parents)


@functools.lru_cache(maxsize=1)
def support() -> Layout | str:
    """How trial cgroups are made here (probed once per process), or why they cannot be."""
    if os.geteuid() != 0:
        return "not root: no cgroup per trial"
    try:
        mounts, own = _mounts(), _own_paths()
        reasons = []
        for point, fstype, _ in mounts:
            if fstype == "cgroup2":
                layout = _v2_layout(point, own.get("", "/"))
                if isinstance(layout, Layout):
                    return layout
                reasons.append(layout)
        layout = _v1_layout(mounts, own)
    except OSError as exc:
        return f"cannot read the cgroup layout: {exc}"
    return layout if isinstance(layout, Layout) or not reasons else "; ".join([*reasons, layout])


def _limit_files(version: int, limits: Limits) -> dict[str, list[tuple[str, str]]]:
    """controller -> [(file, value)] in the order they must be written; missing optional files skipped."""
    memory, tasks = str(limits.trial_memory_bytes), str(limits.trial_processes)
    if version == 2:
        return {"memory": [("memory.max", memory), ("memory.swap.max?", "0")], "pids": [("pids.max", tasks)]}
    return {
        "memory": [("memory.limit_in_bytes", memory), ("memory.memsw.limit_in_bytes?", memory)],
        "pids": [("pids.max", tasks)],
    }


def create(name: str, limits: Limits) -> TrialCgroup | None:
    """The trial's cgroup with its limits set, or None where cgroups are not supported (see support())."""
    layout = support()
    if not isinstance(layout, Layout):
        return None
    group = TrialCgroup(layout=layout, dirs=[])
    try:
        for controller, settings in _limit_files(layout.version, limits).items():
            parent = layout.parents.get(controller)
            if parent is None:
                continue
            directory = parent / owned_name(name)
            if directory not in group.dirs:
                directory.mkdir()
                group.dirs.append(directory)
            for filename, value in settings:
                optional = filename.endswith("?")
                path = directory / filename.rstrip("?")
                if not (optional and not path.exists()):
                    path.write_text(value)
    except OSError as exc:
        group.destroy()
        raise SandboxError(f"cannot set up the trial cgroup {name}: {exc}", hint="see `agentgym doctor`") from None
    return group


def provably_dead(entry_name: str, alive: Callable[[int], bool] = pid_alive) -> bool:
    """Whether the owner recorded in a trial cgroup's name is gone: only an owner of this very pid namespace can
    be proved dead (a pid of another namespace means nothing here; a name without a namespace is left alone)."""
    namespace, _, owner = entry_name.removeprefix("ns").partition("-")
    pid = owner.split("-", 1)[0]
    here = pid_namespace()
    if not entry_name.startswith("ns") or not here or namespace != here or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and not alive(int(pid))


def sweep_stale(alive: Callable[[int], bool] = pid_alive) -> int:
    """Remove trial cgroups whose harness process is provably gone (see provably_dead)."""
    layout = support()
    if not isinstance(layout, Layout):
        return 0
    count = 0
    for parent in set(layout.parents.values()):
        with contextlib.suppress(OSError):
            for entry in parent.iterdir():
                if entry.is_dir() and provably_dead(entry.name, alive):
                    count += TrialCgroup(layout=layout, dirs=[entry]).destroy()
    return count
