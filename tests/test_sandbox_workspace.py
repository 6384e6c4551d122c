"""Workspaces (link farm / copies, diff, removal), write-path planning, output capture."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_sandbox_support import make_snapshot

from agentgym.errors import SandboxError
from agentgym.sandbox import hostmount
from agentgym.sandbox.executor import Capture
from agentgym.sandbox.scratch import sweep_stale_mounts
from agentgym.sandbox.workspace import create_workspace, sweep_stale_workspaces, workspaces_root
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
