"""Host-side layout of one bubblewrap trial: the writable scratch, a minimal /etc, the executor.

As root, everything writable lives in a tmpfs of `disk_bytes` mounted under /run/agentgym/<trial>
(reachable by the unprivileged sandbox uid, unlike a cache under /root), next to a read-only bind of
the workspace repo; the allowed write paths are copied in and copied back at stop. Without root there
is no size-limited file system: writable places are the workspace's own copies and only RLIMIT_FSIZE
bounds a single file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from agentgym.errors import SandboxError
from agentgym.fstree import TreeBudget, copy_tree, remove_tree
from agentgym.sandbox import hostmount
from agentgym.sandbox.process import EXECUTOR_FILES
from agentgym.sandbox.workspace import OwnerLock, Workspace, sweep_locked_dirs, walk_errors
from agentgym.sandbox.writepaths import REPO_VIEW

logger = logging.getLogger(__name__)
SANDBOX_UID = 1000  # the uid the agent sees (mapped to the slot uid on the host)
EXTRA_SCRATCH = 1024**2  # /etc and the executor also live in the tmpfs
ETC_FILES = {
    "passwd": "root:x:0:0:root:/root:/bin/bash\nagent:x:1000:1000:agent:/tmp:/bin/bash\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    "group": "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost\n",
    "hostname": "agentgym\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    "gitconfig": "[safe]\n\tdirectory = *\n",  # the repo belongs to another (unmapped) user
}


@dataclass
class Scratch:
    root: Path
    privileged: bool
    repo_source: Path  # bound read-only at /repo
    etc: Path
    exec_dir: Path
    disk_bytes: int
    binds: list[tuple[Path, str]] = field(default_factory=list)  # writable: host path -> agent's path
    ro_binds: list[tuple[Path, str]] = field(default_factory=list)  # read-only extras (a test environment)
    copies: list[tuple[Path, Path]] = field(default_factory=list)  # scratch copy -> workspace path
    notes: list[str] = field(default_factory=list)  # caps hit by the copy-back (the workspace's notes)
    lock: OwnerLock | None = None  # held while the mount exists (see sweep_stale_mounts)
    released: bool = False
    overlay: bool = True  # a whole-repo write path as an overlay (False: a copy, measured in benchmarks/)


def prepare_scratch(
    ws: Workspace,
    uid: int,
    disk_bytes: int,
    privileged: bool,
    ro_mounts: tuple[tuple[str, str], ...] = (),
    overlay: bool = True,
) -> Scratch:
    lock = None
    if privileged:
        root = hostmount.run_base() / ws.dir.name
        _make_run_base()
        lock = OwnerLock(OwnerLock.for_dir(root), owner=True)
        repo_source = root / "repo"
    else:
        root = ws.dir / "scratch"
        repo_source = ws.repo
    scratch = Scratch(
        root=root,
        privileged=privileged,
        repo_source=repo_source,
        etc=root / "etc",
        exec_dir=root / "exec",
        disk_bytes=disk_bytes,
        notes=ws.notes,
        lock=lock,
        overlay=overlay,
    )
    try:
        root.mkdir(mode=0o755)
        if privileged:
            inodes = max(4096, disk_bytes // 1024) + _overlay_entries(ws)
            hostmount.mount_tmpfs(root, disk_bytes + EXTRA_SCRATCH, inodes)
            repo_source.mkdir()
            hostmount.bind_readonly(ws.repo, repo_source)
        for index, (source, view) in enumerate(ro_mounts):  # reachable by the sandbox uid (not under /root)
            reach = root / f"ro{index}" if privileged else Path(source)
            if privileged:
                reach.mkdir()
                hostmount.bind_readonly(Path(source), reach)
            scratch.ro_binds.append((reach, view))
        _populate(scratch, ws, uid)
    except BaseException:
        release_scratch(scratch)
        raise
    return scratch


def _make_run_base() -> None:
    base = hostmount.run_base()
    base.mkdir(mode=0o711, parents=True, exist_ok=True)
    os.chmod(base, 0o711)


def _populate(scratch: Scratch, ws: Workspace, uid: int) -> None:
    _write_etc(scratch.etc)
    scratch.exec_dir.mkdir(mode=0o755)
    for source in EXECUTOR_FILES:
        shutil.copyfile(source, scratch.exec_dir / source.name)
        os.chmod(scratch.exec_dir / source.name, 0o644)
    for name in ("tmp", "shm"):
        path = scratch.root / name
        path.mkdir()
        os.chmod(path, 0o1777)
        os.chown(path, uid, uid)
    scratch.binds.append((scratch.root / "tmp", "/tmp"))
    for index, wp in enumerate(ws.plan.repo_paths):
        view = f"{REPO_VIEW}/{wp.rel}" if wp.rel else REPO_VIEW
        host = ws.repo / wp.rel
        if scratch.privileged and not wp.rel and scratch.overlay:  # the whole repo writable: nothing copied
            scratch.binds.append((_overlay(scratch, ws, uid), view))
        elif scratch.privileged:
            copy = scratch.root / f"w{index}"
            _copy_in(host, copy, uid)
            scratch.binds.append((copy, view))
            scratch.copies.append((copy, host))
        else:
            scratch.binds.append((host, view))


def _overlay(scratch: Scratch, ws: Workspace, uid: int) -> Path:
    """The workspace's (linked) repo under an overlay whose upper layer lives in the size-limited scratch:
    the agent's writes never reach the links, hence never the snapshot. Every entry is handed to `uid`
    through the overlay (metadata-only copy-up), so the sandbox user may edit what it did not create."""
    upper, work, merged = (scratch.root / name for name in ("upper", "ovwork", "merged"))
    for path in (upper, work, merged):
        path.mkdir(mode=0o755)
    hostmount.mount_overlay(ws.repo, upper, work, merged)
    for top, dirs, files in os.walk(merged):
        _hand_over(top, uid)
        for name in dirs + files:
            _hand_over(os.path.join(top, name), uid)
    ws.final = merged
    return merged


def _overlay_entries(ws: Workspace) -> int:
    """Inodes the overlay's hand-over takes in the upper layer (one per entry), on top of the agent's own."""
    if any(not wp.rel for wp in ws.plan.repo_paths):
        return sum(1 + len(dirs) + len(files) for _, dirs, files in os.walk(ws.repo))
    return 0


def _hand_over(path: str, uid: int) -> None:
    """Owned by `uid` and owner-writable, like a checkout (symlinks: owner only)."""
    os.lchown(path, uid, uid)
    mode = os.lstat(path).st_mode
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        os.chmod(path, stat.S_IMODE(mode) | (0o700 if stat.S_ISDIR(mode) else 0o600))


def _write_etc(etc: Path) -> None:
    etc.mkdir(mode=0o755)
    for name, text in ETC_FILES.items():
        (etc / name).write_text(text)
    if os.path.isfile("/etc/ld.so.cache"):
        shutil.copyfile("/etc/ld.so.cache", etc / "ld.so.cache")
    (etc / "alternatives").mkdir()  # mount point for the host's (commands like awk link through it)
    for path in etc.iterdir():
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _copy_in(host: Path, copy: Path, uid: int) -> None:
    budget = TreeBudget(remaining=1 << 62, what="copy-in")  # the tmpfs bounds the bytes (ENOSPC)
    try:
        copy_tree(str(host), str(copy), writable=True, budget=budget, owner=uid)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise SandboxError(
                f"the allowed write path {host.name}/ is larger than the disk limit",
                hint="raise it with --limit disk_bytes=N",
            ) from None
        raise
    for note in budget.all_notes():
        logger.warning("%s", note)  # the console handler escapes control characters


def copy_back(scratch: Scratch) -> list[str]:
    """Replace the workspace's write paths by what the agent left in the scratch (never following links).

    Iterative and fd-relative, capped in depth, entries and bytes (disk_bytes in all: sparse files);
    caps hit go to `scratch.notes`. Returns the files not copied for the byte cap.
    """
    budget = TreeBudget(remaining=scratch.disk_bytes, what="copy-back")
    views = dict(scratch.binds)
    for copy, host in scratch.copies:
        budget.prefix = views[copy].removeprefix(REPO_VIEW).lstrip("/")
        remove_tree(str(host))
        with walk_errors("copy the agent's files back"):
            if copy.exists() or copy.is_symlink():
                copy_tree(str(copy), str(host), writable=True, budget=budget)
            elif not host.parent.is_dir():
                host.parent.mkdir(parents=True)
    if budget.skipped:
        logger.warning(
            "%d file(s) not copied back (over the disk limit), e.g. %s", len(budget.skipped), ascii(budget.skipped[0])
        )
    scratch.notes += budget.all_notes()
    return budget.skipped


def release_scratch(scratch: Scratch) -> None:
    if scratch.released:
        return
    scratch.released = True
    if scratch.privileged:
        _unmount_trial(scratch.root)
    if scratch.lock is not None:
        scratch.lock.release(unlink=True)


def _unmount_trial(root: Path) -> None:
    hostmount.unmount(root / "merged")
    for extra in sorted(root.glob("ro[0-9]*")) if root.is_dir() else []:
        hostmount.unmount(extra)
    hostmount.unmount(root / "repo")
    hostmount.unmount(root)
    with contextlib.suppress(OSError):
        root.rmdir()


def sweep_stale_mounts() -> int:
    """Unmount trial scratches whose owning harness process is gone (their lock is free)."""
    return sweep_locked_dirs(hostmount.run_base(), _unmount_trial)
