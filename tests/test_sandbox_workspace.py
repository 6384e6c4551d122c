"""Workspaces (link farm / copies, diff, removal), write-path planning, output capture."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from test_sandbox_support import make_snapshot

from agentgym.errors import SandboxError
from agentgym.fstree import MAX_DEPTH, TreeBudget, copy_tree, remove_tree
from agentgym.sandbox import hostmount
from agentgym.sandbox.executor_limits import Capture
from agentgym.sandbox.scratch import sweep_stale_mounts
from agentgym.sandbox.treediff import diff_trees, drop_escaping_links
from agentgym.sandbox.workspace import OwnerLock, create_workspace, sweep_stale_workspaces, workspaces_root
from agentgym.sandbox.writepaths import WritePath, plan_write_paths, resolve_workdir
from agentgym.sources.base import Snapshot


@pytest.fixture
def snap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Snapshot:
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "cache" / "snapshots" / "s"
    root.mkdir(parents=True)
    (root / "eval_artifacts").mkdir()
    (root / "eval_artifacts" / "stale.json").write_text("{}")
    (root / "private.txt").write_text("owner only\n")
    os.chmod(root / "private.txt", 0o600)
    os.mkfifo(root / "fifo")
    return make_snapshot(root, with_git=False)


def test_link_farm_links_reads_copies_writes(snap: Snapshot) -> None:
    plan = plan_write_paths(["eval_artifacts/", "src/pkg/", "/tmp/"], snap.path)
    ws = create_workspace(snap, plan, link=True)
    try:
        assert (ws.repo / "README.md").stat().st_ino == (snap.path / "README.md").stat().st_ino
        assert (ws.repo / "src/pkg/mod.py").stat().st_ino != (snap.path / "src/pkg/mod.py").stat().st_ino
        assert (ws.repo / "src/pkg/mod.py").stat().st_mode & 0o200
        assert os.readlink(ws.repo / "src/link_to_app.py") == "app.py"
        assert list((ws.repo / "eval_artifacts").iterdir()) == []  # always starts empty
        private = ws.repo / "private.txt"
        assert private.stat().st_ino != (snap.path / "private.txt").stat().st_ino and private.stat().st_mode & 0o004
        assert not (ws.repo / "fifo").exists()
        assert ws.diff_against_snapshot() == []
    finally:
        ws.remove()
    assert not ws.dir.exists() and (snap.path / "README.md").read_text() == "# demo\n"


def test_local_workspace_has_no_links(snap: Snapshot) -> None:
    ws = create_workspace(snap, plan_write_paths(["eval_artifacts/"], snap.path), link=False)
    try:
        for path in ws.repo.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert path.stat().st_nlink == 1, path
        assert ws.diff_against_snapshot() == []
    finally:
        ws.remove()


def test_diff_reports_changes_outside_write_paths(snap: Snapshot) -> None:
    ws = create_workspace(snap, plan_write_paths(["src/pkg/"], snap.path), link=False)
    try:
        (ws.repo / "src/pkg/mod.py").write_text("allowed\n")
        (ws.repo / "src/app.py").write_text("print('APP')\n")  # same size, other content
        (ws.repo / "data/notes.txt").unlink()
        (ws.repo / "data/extra").mkdir()
        (ws.repo / "data/extra/f").write_text("x")
        (ws.repo / "eval_artifacts/answer.json").write_text("{}")  # not an allowed path here
        (ws.repo / "src/link_to_app.py").unlink()
        (ws.repo / "src/link_to_app.py").symlink_to("pkg")
        changes = sorted((c.path, c.change) for c in ws.diff_against_snapshot())
        assert changes == [
            ("data/extra", "added"),
            ("data/notes.txt", "removed"),
            ("eval_artifacts/answer.json", "added"),
            ("src/app.py", "modified"),
            ("src/link_to_app.py", "modified"),
        ]
    finally:
        ws.remove()


def test_sweep_removes_workspaces_of_dead_processes(snap: Snapshot) -> None:
    ws = create_workspace(snap, plan_write_paths(["eval_artifacts/"], snap.path), link=True)
    dead = workspaces_root() / "999999999-deadbeef"
    dead.mkdir()
    (dead / "f").write_text("x")
    assert sweep_stale_workspaces() == 1
    assert not dead.exists() and ws.dir.exists()
    ws.remove()


def test_workspace_of_3785_files_links_instead_of_copying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What makes workspaces cheap (timed in benchmarks/bench_sandbox.py): read-only files are hard links."""
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "cache" / "snapshots" / "big"
    files = {f"pkg{d}/sub{s}/m{f}.py": f"x = {f}\n" for d in range(15) for s in range(12) for f in range(22)}
    snap = make_snapshot(root, dict(list(files.items())[:3784]), with_git=False)
    plan = plan_write_paths(["eval_artifacts/"], snap.path)
    ws = create_workspace(snap, plan, link=True)
    try:
        assert sum(1 for p in ws.repo.rglob("*") if p.is_file()) == 3785
        for rel in ("pkg0/sub0/m0.py", "pkg7/sub5/m3.py"):
            assert (ws.repo / rel).stat().st_ino == (snap.path / rel).stat().st_ino
        assert (ws.repo / "eval_artifacts").is_dir() and not (snap.path / "eval_artifacts").exists()
    finally:
        ws.remove()


def test_write_path_planning(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "README.md").write_text("x")
    plan = plan_write_paths(["eval_artifacts/", "/tmp/", "src/", "src/gen/", "/repo/README.md", "out"], tmp_path)
    assert plan.repo_paths == [
        WritePath("README.md", True),
        WritePath("eval_artifacts"),
        WritePath("out"),
        WritePath("src"),
    ]
    assert plan.tmp and plan.covers("src/gen/x.py") and not plan.covers("srcx")
    assert plan_write_paths(["."], tmp_path).covers("anything")
    for bad in ([], ["../up"], ["/etc/"], [" "]):
        with pytest.raises(SandboxError):
            plan_write_paths(bad, tmp_path)
    assert resolve_workdir(".", tmp_path, "/repo") == "/repo"
    assert resolve_workdir("/repo/src", tmp_path, "/repo") == "/repo/src"
    for bad_dir in ("missing", "../x", "/etc"):
        with pytest.raises(SandboxError):
            resolve_workdir(bad_dir, tmp_path, "/repo")


def test_capture_keeps_head_and_tail() -> None:
    capture = Capture(10)
    for chunk in (b"abc", b"defghij", b"klmnopqrstuvwxyz"):
        capture.feed(chunk)
    text, elided = capture.text()
    assert elided == 16 and text == "abcde\n[... 16 bytes elided ...]\nvwxyz"
    small = Capture(10)
    small.feed(b"hello")
    assert small.text() == ("hello", 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_sweep_unmounts_scratch_of_dead_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hostmount.RUN_BASE_ENV, str(tmp_path / "run"))
    stale = tmp_path / "run" / "999999999-cafe"
    stale.mkdir(parents=True)
    hostmount.mount_tmpfs(stale, 1024**2, 64)
    assert hostmount.is_mount_point(stale)
    assert sweep_stale_mounts() == 1
    assert not stale.exists()


# --- deep and long trees (issue 7 item 3) -------------------------------------------------------

LONG = "d" * 200  # 1,200 levels of this name: a path of ~241,000 characters, far over PATH_MAX


def make_chain(top: Path, depth: int, name: str = LONG, leaf: str = "bottom.txt") -> None:
    """A directory chain made fd-relative (no path could name its bottom), a file at the bottom."""
    top.mkdir(parents=True, exist_ok=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        out = os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b"deep\n")
        os.close(out)
        os.symlink("/etc/passwd", "escape", dir_fd=fd)
        os.fchmod(fd, 0o500)  # the agent locked the bottom directory
    finally:
        os.close(fd)


def chain_depth(top: Path, name: str = LONG) -> int:
    fd, depth = os.open(top, os.O_RDONLY | os.O_DIRECTORY), 0
    try:
        while name in os.listdir(fd):
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, depth = child, depth + 1
    finally:
        os.close(fd)
    return depth


def test_walkers_copy_diff_and_remove_a_1200_level_tree(tmp_path: Path) -> None:
    work = tmp_path / "work"
    make_chain(work / "eval_artifacts", 1200)
    (tmp_path / "snap").mkdir()
    with pytest.raises(OSError):  # what the old recursive, path-based walks ran into
        os.lstat(os.path.join(work, "eval_artifacts", *[LONG] * 1200))

    budget = TreeBudget(remaining=1024**2, what="copy-back", prefix="eval_artifacts")
    copy_tree(str(work / "eval_artifacts"), str(tmp_path / "copy"), writable=True, budget=budget)
    assert chain_depth(tmp_path / "copy") == MAX_DEPTH
    assert len(budget.notes) == 1 and budget.notes[0].startswith(
        f"copy-back: depth limit {MAX_DEPTH} reached under eval_artifacts/{LONG[:50]}"
    )
    assert len(budget.notes[0]) < 220 and budget.notes[0].endswith("…")

    make_chain(work / "data", 1200)
    make_chain(tmp_path / "snap" / "data", 1200)
    changes = diff_trees(str(tmp_path / "snap"), str(work), lambda rel: False)
    assert (changes[0].path, changes[0].change) == (f"eval_artifacts/{LONG}", "added")  # baseline: empty
    assert [(c.change, c.detail[:60]) for c in changes[1:]] == [
        ("limit", f"diff: depth limit {MAX_DEPTH} reached under data/{LONG[:19]}")
    ]

    sweep = drop_escaping_links(str(work), ["eval_artifacts"])
    assert sweep.dropped == [] and len(sweep.notes) == 1 and "deeper than 256 levels" in sweep.notes[0]
    assert chain_depth(work / "eval_artifacts") == MAX_DEPTH

    for tree in (work, tmp_path / "snap", tmp_path / "copy"):
        remove_tree(str(tree))
        assert not tree.exists()


def test_removal_has_no_depth_limit_and_opens_locked_dirs(tmp_path: Path) -> None:
    make_chain(tmp_path / "t", 1500, name="a")
    os.chmod(tmp_path / "t", 0o000)
    remove_tree(str(tmp_path / "t"))
    assert not (tmp_path / "t").exists()


def test_copy_stops_at_the_entry_limit_and_drops_deep_escaping_links(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(50):
        (src / f"f{i:02}").write_text("x")
    budget = TreeBudget(remaining=1024, max_entries=10, what="copy-back")
    copy_tree(str(src), str(tmp_path / "dst"), writable=True, budget=budget)
    assert len(list((tmp_path / "dst").iterdir())) == 10
    assert budget.notes == ["copy-back: entry limit 10 reached at f10"]

    budget = TreeBudget(remaining=5, what="copy-back", prefix="eval_artifacts")
    copy_tree(str(src), str(tmp_path / "dst2"), writable=True, budget=budget)  # 5 of 50 one-byte files fit
    assert len(list((tmp_path / "dst2").iterdir())) == 5 and len(budget.skipped) == 45
    assert budget.all_notes()[0] == "copy-back: not copied (over the disk limit): eval_artifacts/f05"
    assert len(budget.all_notes()) == 11 and budget.all_notes()[-1] == "copy-back: 35 more like these"

    make_chain(tmp_path / "repo" / "eval_artifacts", 40, name="a")
    sweep = drop_escaping_links(str(tmp_path / "repo"), ["eval_artifacts"])
    assert sweep.dropped == ["eval_artifacts/" + "a/" * 40 + "escape"] and sweep.notes == []


def test_workspace_with_a_deep_tree_is_removed_and_swept(snap: Snapshot) -> None:
    plan = plan_write_paths(["eval_artifacts/"], snap.path)
    ws = create_workspace(snap, plan, link=True)
    make_chain(ws.repo / "eval_artifacts", 1200)
    changes = ws.diff_against_snapshot()
    assert changes == []  # eval_artifacts/ is allowed: nothing to report, nothing walked
    ws.drop_escaping_links()
    assert [c.detail[:57] for c in ws.diff_against_snapshot()] == [
        "after the trial: removed what lies deeper than 256 levels"
    ]
    ws.remove()
    assert not ws.dir.exists() and not OwnerLock.for_dir(ws.dir).exists()

    left = workspaces_root() / "999999999-deep"  # a crashed harness left a deep tree (no lock: pid rule)
    make_chain(left, 1100, name="x")
    assert sweep_stale_workspaces() == 1 and not left.exists()


# --- sweeps across processes and pid namespaces (issue 7 item 9) ---------------------------------

HOLDER = """
import sys
from pathlib import Path
from agentgym.sandbox.workspace import create_workspace
from agentgym.sandbox.writepaths import plan_write_paths
from agentgym.sources.base import Snapshot
snap = Snapshot("demo", Path(sys.argv[1]), "ab" * 32)
ws = create_workspace(snap, plan_write_paths(["eval_artifacts/"], snap.path), link=True)
print(ws.dir, flush=True)
sys.stdin.read()  # hold the workspace until the test closes our stdin
"""


def test_sweep_spares_a_live_workspace_whose_pid_means_nothing_here(snap: Snapshot, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(snap.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        made = Path(holder.stdout.readline().strip())
        assert made.is_dir() and made.parent == workspaces_root()
        # as seen from another pid namespace: the owner's pid is one that does not exist here
        alien = made.with_name("999999999-" + made.name.split("-", 1)[1])
        os.rename(made, alien)
        os.rename(OwnerLock.for_dir(made), OwnerLock.for_dir(alien))
        assert sweep_stale_workspaces() == 0
        assert (alien / "repo" / "README.md").is_file()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert sweep_stale_workspaces() == 1  # the owner is gone: its lock is free
    assert not alien.exists() and not OwnerLock.for_dir(alien).exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_scratch_mount_sweep_is_lock_based(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hostmount.RUN_BASE_ENV, str(tmp_path / "run"))
    live = tmp_path / "run" / "999999999-live"
    live.mkdir(parents=True)
    code = "import fcntl,sys,os; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); "
    code += "print('held', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(OwnerLock.for_dir(live))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "held\n"
        hostmount.mount_tmpfs(live, 1024**2, 64)
        assert sweep_stale_mounts() == 0 and hostmount.is_mount_point(live)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert sweep_stale_mounts() == 1
    assert not live.exists() and not OwnerLock.for_dir(live).exists()


NOT_ROOT_REMOVE = """
import os, sys
from agentgym.fstree import remove_tree
top = sys.argv[1]
fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
for _ in range(1100):
    os.mkdir("a" * 100, dir_fd=fd)
    child = os.open("a" * 100, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = child
os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
os.fchmod(fd, 0o000)  # the agent locked the bottom directory: only its owner's chmod opens it again
os.close(fd)
os.chmod(top, 0o500)
remove_tree(top)
print("gone" if not os.path.exists(top) else "left")
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="drops to an unprivileged uid")
def test_removal_as_the_owner_opens_directories_the_agent_locked() -> None:
    base = Path(tempfile.mkdtemp(prefix="agentgym-locked-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        os.chown(base, 65534, 65534)  # the harness user owns the workspaces folder
        top = base / "t"
        top.mkdir()
        os.chown(top, 65534, 65534)
        # the unprivileged uid may not be able to read this checkout (a 0700 clone): give it its own copy
        package = Path(remove_tree.__code__.co_filename).parent
        shutil.copytree(package, base / "pkg" / "agentgym", ignore=shutil.ignore_patterns("__pycache__", "data"))
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(base / "pkg")}
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", NOT_ROOT_REMOVE]
        proc = subprocess.run([*cmd, str(top)], env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.stdout == "gone\n", proc.stderr
    finally:
        remove_tree(str(base))


def test_an_owner_lock_waits_out_a_sweeper_holding_its_fresh_lock_file(tmp_path: Path) -> None:
    """A sweeper takes a new lock file for an orphan (its directory does not exist yet) and unlinks it: the
    owner creating that directory waits and locks again instead of failing with EAGAIN."""
    import fcntl
    import threading

    from agentgym.sandbox.workspace import OwnerLock

    path = tmp_path / "ws-1.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the sweeper's hold

    def sweeper_done() -> None:
        path.unlink()
        os.close(fd)

    with pytest.raises(BlockingIOError):
        OwnerLock(path)  # a sweeper asking: a held lock means alive
    timer = threading.Timer(0.05, sweeper_done)
    timer.start()
    lock = OwnerLock(path, owner=True)
    timer.join()
    assert path.exists() and os.fstat(lock.fd).st_ino == path.stat().st_ino  # holds the file now named there
    lock.release(unlink=True)
