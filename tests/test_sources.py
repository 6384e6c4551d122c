"""agentgym.sources: git / path / archive / pypi sources into the content-addressed snapshot cache.

Everything runs on real git repositories, files and a loopback HTTP server in tmp dirs; only
`test_real_pypi_fetch` talks to the package index (and skips with a reason when it cannot).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agentgym.errors import SourceError
from agentgym.sources import Snapshot, cache_root, fetch_snapshot, integrity, tree_digest
from agentgym.sources import cache as cache_mod
from agentgym.sources import git as git_mod
from agentgym.sources import path as path_mod
from agentgym.sources.cache import SnapshotStore
from agentgym.sources.pyindex import index_settings, request, safe_url
from agentgym.specs.loader import load_model
from agentgym.specs.repo import RepoSpec
from tests.conftest import BytesHandler

REGISTRY = Path(__file__).resolve().parents[1] / "agentgym" / "data" / "repos"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "T",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "T",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def run_git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True
    )
    return proc.stdout.strip()


@dataclass
class Origin:
    path: Path
    first: str  # tagged v1
    second: str  # tip of main


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    repo = tmp_path / "origin"
    repo.mkdir()
    run_git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("one\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    (repo / "link").symlink_to("README.md")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "one")
    first = run_git(repo, "rev-parse", "HEAD")
    run_git(repo, "tag", "-a", "v1", "-m", "release 1")
    (repo / "README.md").write_text("two\n")
    run_git(repo, "commit", "-q", "-am", "two")
    return Origin(repo, first, run_git(repo, "rev-parse", "HEAD"))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def fetch(cache: Path, registry: Path, offline: bool = False, **fields: Any) -> Snapshot:
    spec = RepoSpec(id=fields.pop("id", "r"), **fields)
    return fetch_snapshot(spec, registry_dir=registry, cache=cache, offline=offline)


def snapshot_trees(cache: Path) -> list[Path]:
    root = cache / "snapshots"
    return [p for p in root.iterdir() if p.is_dir()] if root.exists() else []


def assert_read_only(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            if stat.S_ISREG(mode):
                assert not mode & 0o222, os.path.join(dirpath, name)


# --- git ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["path", "file_url", "relative"])
def test_git_branch_tag_commit_and_head(origin: Origin, cache: Path, tmp_path: Path, form: str) -> None:
    url = {"path": str(origin.path), "file_url": origin.path.as_uri(), "relative": "origin"}[form]
    cases = [("main", origin.second), ("v1", origin.first), (origin.first, origin.first),
             (origin.first[:10], origin.first), (None, origin.second)]  # fmt: skip
    for ref, expected in cases:
        snap = fetch(cache, tmp_path, url=url, ref=ref)
        assert snap.source == {"kind": "git", "url": url, "ref": ref, "commit": expected}
        assert run_git(snap.path, "rev-parse", "HEAD") == expected
        assert (snap.path / ".git").is_dir()
        assert (snap.path / "README.md").read_text() == ("one\n" if expected == origin.first else "two\n")
        assert os.stat(snap.path / "run.sh").st_mode & stat.S_IXUSR
        assert os.readlink(snap.path / "link") == "README.md"
        assert run_git(snap.path, "remote", "get-url", "origin") == (str(origin.path) if form == "relative" else url)
        assert_read_only(snap.path)
    assert len(snapshot_trees(cache)) == 2  # one per distinct commit


def test_git_unknown_ref(origin: Origin, cache: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^repo 'r': unknown ref 'nope' in "):
        fetch(cache, tmp_path, url=str(origin.path), ref="nope")
    with pytest.raises(SourceError, match=r"unknown ref '0{40}'"):
        fetch(cache, tmp_path, url=str(origin.path), ref="0" * 40)


def test_git_bad_url(cache: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^repo 'r': git cannot fetch .*missing: .*") as err:
        fetch(cache, tmp_path, url=str(tmp_path / "missing"), ref="main")
    assert "\n" not in str(err.value)
    with pytest.raises(SourceError, match=r"offline and https://example\.invalid/x\.git is not in the cache"):
        fetch(cache, tmp_path, offline=True, url="https://example.invalid/x.git", ref="main")


def test_git_cache_hit_needs_no_origin_and_no_git(
    origin: Origin, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_commit = fetch(cache, tmp_path, url=str(origin.path), ref=origin.first)
    by_tag = fetch(cache, tmp_path, url=str(origin.path), ref="v1")
    shutil.rmtree(origin.path)
    shutil.rmtree(cache / "git")  # not even the mirror is consulted

    def no_git(*args: str, **kwargs: Any) -> str:
        raise AssertionError(f"git {args} called on a warm fetch")

    monkeypatch.setattr(git_mod, "git", no_git)
    assert fetch(cache, tmp_path, url=str(origin.path), ref=origin.first) == by_commit
    assert fetch(cache, tmp_path, url=str(origin.path), ref="v1") == by_tag
    assert by_tag.digest == by_commit.digest


def test_git_branch_is_re_resolved(origin: Origin, cache: Path, tmp_path: Path) -> None:
    before = fetch(cache, tmp_path, url=str(origin.path), ref="main")
    (origin.path / "README.md").write_text("three\n")
    run_git(origin.path, "commit", "-q", "-am", "three")
    after = fetch(cache, tmp_path, url=str(origin.path), ref="main")
    assert after.source["commit"] == run_git(origin.path, "rev-parse", "HEAD") != before.source["commit"]
    assert after.digest != before.digest
    assert (after.path / "README.md").read_text() == "three\n"


def test_git_digest_is_the_same_in_two_caches(origin: Origin, tmp_path: Path) -> None:
    one = fetch(tmp_path / "c1", tmp_path, url=str(origin.path), ref="v1")
    two = fetch(tmp_path / "c2", tmp_path, url=origin.path.as_uri(), ref=origin.first)
    assert one.digest == two.digest
    assert tree_digest(one.path, git_commit=origin.first).digest == one.digest


def test_git_concurrent_fetches_make_one_snapshot(origin: Origin, cache: Path, tmp_path: Path) -> None:
    barrier = threading.Barrier(3)
    results: list[Snapshot] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(fetch(cache, tmp_path, url=str(origin.path), ref="main"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3
    assert len({(s.path, s.digest) for s in results}) == 1
    assert snapshot_trees(cache) == [results[0].path]
    assert tree_digest(results[0].path, git_commit=origin.second).digest == results[0].digest
    assert not any((cache / "tmp").iterdir())


# --- path ---------------------------------------------------------------------------------------


def make_tree(root: Path, readme: str = "hello\n") -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "README.md").write_text(readme)
    (root / "tool.sh").write_text("#!/bin/sh\n")
    (root / "tool.sh").chmod(0o755)
    (root / "alias").symlink_to("README.md")
    (root / "empty").mkdir()
    return root


def test_path_source(cache: Path, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    snap = fetch(cache, tmp_path, path="src")
    assert snap.source == {"kind": "path", "path": str(src.resolve())}
    assert snap.digest == tree_digest(src).digest
    assert (snap.path / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (snap.path / "empty").is_dir() and os.readlink(snap.path / "alias") == "README.md"
    assert os.stat(snap.path / "tool.sh").st_mode & stat.S_IXUSR
    assert_read_only(snap.path)
    assert fetch(cache, tmp_path, path=str(src)) == snap
    mtime = os.stat(src / "README.md").st_mtime_ns
    (src / "README.md").write_text("HELLO\n")  # same size, same mtime: the ctime still tells
    os.utime(src / "README.md", ns=(mtime, mtime))
    changed = fetch(cache, tmp_path, path="src")
    assert changed.digest != snap.digest and (snap.path / "README.md").read_text() == "hello\n"
    assert (changed.path / "README.md").read_text() == "HELLO\n"
    with pytest.raises(SourceError, match="repo 'r': path nowhere is not a directory"):
        fetch(cache, tmp_path, path="nowhere")


def test_path_warm_fetch_reads_no_file(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path / "src")
    snap = fetch(cache, tmp_path, path="src")

    def no_hash(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("warm fetch of an unchanged directory re-hashed it")

    monkeypatch.setattr(path_mod, "tree_digest", no_hash)
    assert fetch(cache, tmp_path, path="src") == snap


def test_digest_stability(tmp_path: Path) -> None:
    a, b = make_tree(tmp_path / "a"), make_tree(tmp_path / "b")
    base = tree_digest(a)
    assert base == tree_digest(b) and base.files == 3
    os.utime(b / "README.md", (0, 0))
    (b / "pkg" / "mod.py").chmod(0o600)  # write/read bits and times do not count
    assert tree_digest(b).digest == base.digest
    changes = [
        lambda: (b / "README.md").write_text("hello!\n"),
        lambda: (b / "tool.sh").chmod(0o644),
        lambda: ((b / "alias").unlink(), (b / "alias").symlink_to("pkg")),
        lambda: (b / "pkg" / "mod.py").rename(b / "pkg" / "mod2.py"),
        lambda: (b / "empty").rmdir(),
    ]
    for change in changes:
        shutil.rmtree(b)
        make_tree(b)
        change()
        assert tree_digest(b).digest != base.digest
    assert tree_digest(a, git_commit="1" * 40).digest != tree_digest(a, git_commit="2" * 40).digest


def test_concurrent_publish_of_identical_trees(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "cache")
    trees = [make_tree(tmp_path / f"t{i}") for i in range(2)]
    entries = [store.add_tree(t, source={"kind": "test"}) for t in trees]
    assert entries[0].path == entries[1].path and entries[0].digest == entries[1].digest
    assert len(snapshot_trees(tmp_path / "cache")) == 1


# --- archives -----------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_tar_member(tar: tarfile.TarFile, name: str, data: bytes = b"", **attrs: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def make_targz(path: Path, extra: list[dict[str, Any]] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        add_tar_member(tar, "proj-1.0", type=tarfile.DIRTYPE, mode=0o755)
        add_tar_member(tar, "proj-1.0/README.md", b"archive\n")
        add_tar_member(tar, "proj-1.0/bin/run", b"#!/bin/sh\n", mode=0o755)
        add_tar_member(tar, "proj-1.0/link", type=tarfile.SYMTYPE, linkname="README.md")
        for member in extra or []:
            add_tar_member(tar, **member)
    return path


def make_zip(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("proj-1.0/README.md", b"archive\n")
        info = zipfile.ZipInfo("proj-1.0/bin/run")
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        zf.writestr(info, b"#!/bin/sh\n")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def check_unpacked(snap: Snapshot) -> None:
    assert (snap.path / "README.md").read_text() == "archive\n"
    assert os.stat(snap.path / "bin" / "run").st_mode & stat.S_IXUSR
    assert_read_only(snap.path)


def test_archive_tar_gz(cache: Path, tmp_path: Path) -> None:
    archive = make_targz(tmp_path / "proj.tar.gz")
    snap = fetch(cache, tmp_path, archive="proj.tar.gz", sha256=sha256(archive))
    check_unpacked(snap)
    assert os.readlink(snap.path / "link") == "README.md"
    assert snap.source == {"kind": "archive", "archive": "proj.tar.gz", "sha256": sha256(archive)}
    kept = fetch(cache, tmp_path, archive=str(archive), sha256=sha256(archive), strip_components=0)
    assert (kept.path / "proj-1.0" / "README.md").is_file() and kept.digest != snap.digest


def test_archive_zip(cache: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "proj.zip")
    check_unpacked(fetch(cache, tmp_path, archive="proj.zip", sha256=sha256(archive)))


def test_archive_sha_mismatch_is_refused_before_unpacking(cache: Path, tmp_path: Path) -> None:
    archive = make_targz(tmp_path / "proj.tgz")
    expected = "0" * 64
    message = rf"^repo 'r': sha256 mismatch for proj.tgz \(expected {expected}, got {sha256(archive)}\)$"
    with pytest.raises(SourceError, match=message):
        fetch(cache, tmp_path, archive="proj.tgz", sha256=expected)
    assert snapshot_trees(cache) == [] and not any((cache / "tmp").iterdir())


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ({"name": "proj-1.0/../../evil.txt", "data": b"x"}, "'..'"),
        ({"name": "/tmp/agentgym-evil.txt", "data": b"x"}, "absolute member path"),
        ({"name": "proj-1.0/out", "type": tarfile.SYMTYPE, "linkname": "../../etc"}, "outside the tree"),
        ({"name": "proj-1.0/abs", "type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "absolute path"),
        ({"name": "proj-1.0/hard", "type": tarfile.LNKTYPE, "linkname": "../evil"}, "'..'"),
        ({"name": "proj-1.0/dev", "type": tarfile.CHRTYPE}, "special file"),
    ],
)
def test_archive_unsafe_tar_member_is_refused(cache: Path, tmp_path: Path, member: dict[str, Any], reason: str) -> None:
    archive = make_targz(tmp_path / "bad.tar.gz", [member])
    with pytest.raises(SourceError, match=f"^repo 'r': bad.tar.gz: .*{reason}"):
        fetch(cache, tmp_path, archive="bad.tar.gz", sha256=sha256(archive))
    assert snapshot_trees(cache) == []
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/agentgym-evil.txt").exists()


def test_archive_write_through_symlink_is_refused(cache: Path, tmp_path: Path) -> None:
    members = [
        {"name": "proj-1.0/here", "type": tarfile.SYMTYPE, "linkname": "."},
        {"name": "proj-1.0/here/up", "type": tarfile.SYMTYPE, "linkname": ".."},
    ]
    archive = make_targz(tmp_path / "chain.tar.gz", members)
    with pytest.raises(SourceError, match="lies under a symlink"):
        fetch(cache, tmp_path, archive="chain.tar.gz", sha256=sha256(archive))


def test_archive_unsafe_zip_member_is_refused(cache: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bad.zip", {"proj-1.0/../../evil.txt": b"x"})
    with pytest.raises(SourceError, match=r"bad\.zip: member path with '\.\.'"):
        fetch(cache, tmp_path, archive="bad.zip", sha256=sha256(archive))
    assert not (tmp_path / "evil.txt").exists()


@pytest.fixture
def http_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    served = tmp_path / "served"
    served.mkdir()
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_archive_over_http(cache: Path, tmp_path: Path, http_dir: tuple[Path, str]) -> None:
    served, base = http_dir
    archive = make_targz(served / "proj.tar.gz")
    url, digest = f"{base}/proj.tar.gz", sha256(archive)
    snap = fetch(cache, tmp_path, archive=url, sha256=digest)
    check_unpacked(snap)
    archive.unlink()  # warm: a lookup by sha256, no download
    assert fetch(cache, tmp_path, offline=True, archive=url, sha256=digest) == snap
    with pytest.raises(SourceError, match=r"cannot download .*/missing\.tgz: HTTP 404"):
        fetch(cache, tmp_path, archive=f"{base}/missing.tgz", sha256="1" * 64)
    with pytest.raises(SourceError, match="offline and http"):
        fetch(cache, tmp_path, offline=True, archive=f"{base}/other.tgz", sha256="2" * 64)


def test_warm_lookup_does_not_rehash(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_targz(tmp_path / "proj.tar.gz")
    snap = fetch(cache, tmp_path, archive="proj.tar.gz", sha256=sha256(archive))
    archive.unlink()

    def no_hash(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("warm fetch re-hashed the tree")

    monkeypatch.setattr(cache_mod, "tree_digest", no_hash)
    for _ in range(2):  # the archive is gone and hashing would fail: only the key index can answer
        assert fetch(cache, tmp_path, archive="proj.tar.gz", sha256=snap.source["sha256"]) == snap


def test_cache_root_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("AGENTGYM_CACHE")
    assert cache_root() == Path.home() / ".cache" / "agentgym"


# --- pypi ---------------------------------------------------------------------------------------


TINY_BACKEND = b"""
import os

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = os.path.join(metadata_directory, "tiny_pkg-0.1.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as fh:
        fh.write("Metadata-Version: 2.1\\nName: tiny_pkg\\nVersion: 0.1\\n")
    return "tiny_pkg-0.1.dist-info"
"""


def make_sdist(dest_dir: Path) -> Path:
    """A tiny real sdist whose metadata pip prepares through an in-tree PEP 517 backend (no setuptools)."""
    sdist = dest_dir / "tiny_pkg-0.1.tar.gz"
    files = {
        "pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "tiny_backend"\nbackend-path = ["."]\n',
        "tiny_backend.py": TINY_BACKEND,
        "tiny.py": b"VALUE = 1\n",
        "PKG-INFO": b"Metadata-Version: 2.1\nName: tiny_pkg\nVersion: 0.1\n",
    }
    with tarfile.open(sdist, "w:gz") as tar:
        for name, data in files.items():
            add_tar_member(tar, f"tiny_pkg-0.1/{name}", data)
    return sdist


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No index, only a local find-links folder (what pip would see with these settings)."""
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return make_sdist(links)


def test_pypi_local_sdist(cache: Path, tmp_path: Path, local_index: Path) -> None:
    snap = fetch(cache, tmp_path, id="tiny", pypi="tiny_pkg==0.1", sha256=sha256(local_index))
    assert (snap.path / "tiny.py").read_text() == "VALUE = 1\n"
    assert snap.source == {"kind": "pypi", "pypi": "tiny_pkg==0.1", "sha256": sha256(local_index),
                           "file": "tiny_pkg-0.1.tar.gz"}  # fmt: skip
    assert_read_only(snap.path)
    local_index.unlink()
    assert fetch(cache, tmp_path, offline=True, id="tiny", pypi="tiny_pkg==0.1", sha256=snap.source["sha256"]) == snap


def test_pypi_errors(cache: Path, tmp_path: Path, local_index: Path) -> None:
    with pytest.raises(SourceError, match=r"^repo 'tiny': sha256 mismatch for tiny_pkg-0\.1\.tar\.gz"):
        fetch(cache, tmp_path, id="tiny", pypi="tiny_pkg==0.1", sha256="0" * 64)
    with pytest.raises(SourceError, match=r"^repo 'tiny': no source distribution of tiny_pkg==9\.9 on .*links$"):
        fetch(cache, tmp_path, id="tiny", pypi="tiny_pkg==9.9", sha256="0" * 64)
    with pytest.raises(SourceError, match=r"offline and tiny_pkg==0\.1 is not in the cache"):
        fetch(cache, tmp_path, offline=True, id="tiny", pypi="tiny_pkg==0.1", sha256="0" * 64)


EVIL_SETUP = b"""
import pathlib
pathlib.Path({marker!r}).write_text("the sdist's code ran on the host")
from setuptools import setup
setup(name="evil-pkg", version="1.0")
"""


class SimpleIndex(BytesHandler):
    """A PEP 691 / PEP 503 simple index for one project, serving the JSON or the HTML page."""

    files: ClassVar[dict[str, bytes]] = {}
    json_api: ClassVar[bool] = True
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Accept", "")))
        name = self.path.rsplit("/", 1)[-1]
        if self.path == "/simple/evil-pkg/":
            links = {n: hashlib.sha256(d).hexdigest() for n, d in self.files.items()}
            if self.json_api and "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
                files = [{"filename": n, "url": f"../../files/{n}", "hashes": {"sha256": h}} for n, h in links.items()]
                self._send("application/vnd.pypi.simple.v1+json", json.dumps({"files": files}).encode())
            else:
                body = "".join(f'<a href="../../files/{n}#sha256={h}">{n}</a>' for n, h in links.items())
                self._send("text/html", f"<html><body>{body}</body></html>".encode())
        elif self.path.startswith("/files/") and name in self.files:
            self._send("application/octet-stream", self.files[name])
        else:
            self.send_error(404)


@pytest.mark.parametrize("api", ["json", "html"])
def test_pypi_sdist_is_fetched_as_a_file_and_never_built(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    marker = tmp_path / "EXECUTED"
    sdist = tmp_path / "evil_pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        add_tar_member(tar, "evil_pkg-1.0/setup.py", EVIL_SETUP.replace(b"{marker!r}", repr(str(marker)).encode()))
        add_tar_member(tar, "evil_pkg-1.0/pyproject.toml", b'[build-system]\nrequires = ["setuptools"]\n')
        add_tar_member(tar, "evil_pkg-1.0/evil.py", b"X = 1\n")
        add_tar_member(tar, "evil_pkg-1.0/PKG-INFO", b"Metadata-Version: 2.1\nName: evil-pkg\nVersion: 1.0\n")
    handler = type("Index", (SimpleIndex,), {"files": {sdist.name: sdist.read_bytes(), "evil_pkg-1.0.zip": b"PK"},
                                              "json_api": api == "json", "seen": []})  # fmt: skip
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    try:
        with pytest.raises(SourceError, match=r"^repo 'evil': sha256 mismatch for evil_pkg-1\.0\.tar\.gz"):
            fetch(cache, tmp_path, id="evil", pypi="Evil_Pkg==1.0", sha256="0" * 64)
        snap = fetch(cache, tmp_path, id="evil", pypi="Evil_Pkg==1.0", sha256=sha256(sdist))
        with pytest.raises(SourceError, match=r"^repo 'evil': no source distribution of evil-pkg==2\.0 on http"):
            fetch(cache, tmp_path, id="evil", pypi="evil-pkg==2.0", sha256="0" * 64)
    finally:
        server.shutdown()
        server.server_close()
    assert (snap.path / "evil.py").read_text() == "X = 1\n" and (snap.path / "setup.py").is_file()
    assert snap.source["file"] == "evil_pkg-1.0.tar.gz"
    assert not marker.exists()  # pip download would have run setup.py to prepare the metadata
    pages = [accept for path, accept in handler.seen if path == "/simple/evil-pkg/"]
    assert pages and all(a.startswith("application/vnd.pypi.simple.v1+json") for a in pages)
    assert not any(path.endswith(".zip") for path, _ in handler.seen)  # only the pinned file is fetched


def test_pip_settings_are_read_like_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://mirror.example/simple\nextra-index-url = file:///a file:///b\n"
                    "[download]\nfind-links = /wheels\n[install]\nindex-url = https://ignored.example/simple\n")  # fmt: skip
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    settings = index_settings()
    assert (settings.index_url, settings.extra_index_urls) == (
        "https://mirror.example/simple",
        ["file:///a", "file:///b"],
    )
    assert settings.find_links == ["/wheels"] and not settings.no_index
    monkeypatch.setenv("PIP_INDEX_URL", "https://u:p@env.example/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "yes")
    settings = index_settings()
    assert settings.index_url == "https://u:p@env.example/simple" and settings.pages() == []
    assert safe_url(settings.index_url) == "https://***@env.example/simple"
    assert request(settings.index_url).get_header("Authorization") == "Basic dTpw"


def test_real_pypi_fetch(tmp_path: Path) -> None:
    """The shipped `mmengine` entry, from the package index this machine's pip is configured with."""
    spec = load_model(REGISTRY / "mmengine.yaml", RepoSpec)
    try:
        snap = fetch_snapshot(spec, registry_dir=REGISTRY, cache=tmp_path / "cache")
    except SourceError as exc:
        print(f"skipping: cannot fetch from the package index: {exc}")
        pytest.skip(f"cannot fetch from the package index: {exc}")
    assert (snap.path / "mmengine" / "__init__.py").is_file()
    assert snap.source["file"] == "mmengine-0.10.7.tar.gz"
    assert tree_digest(snap.path).files == 168


# --- snapshots an unisolated trial could reach (issue 7 item 8) ---------------------------------


def test_a_changed_snapshot_is_refused_then_rebuilt(cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("A = 1\n")
    (src / "README.md").write_text("# r\n")
    snap = fetch(cache, tmp_path, path="src")
    integrity.check_before_use(snap)  # no marker: nothing to verify
    integrity.mark_unisolated(snap)
    integrity.check_before_use(snap)  # marked and intact
    target = snap.path / "pkg" / "a.py"
    os.chmod(target, 0o644)
    target.write_text("A = 2\n")  # what a --sandbox local agent can do through the real path
    with pytest.raises(SourceError, match=r"changed after it was cached .*; changed: pkg/a\.py\)"):
        integrity.check_before_use(snap)
    again = fetch(cache, tmp_path, path="src")  # the fetch moves the changed tree away and builds it again
    assert again.digest == snap.digest and (again.path / "pkg" / "a.py").read_text() == "A = 1\n"
    assert not integrity.marker_path(again.path).exists()
    integrity.mark_unisolated(again)
    fd = os.open(again.path, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1100):  # deeper than the interpreter's recursion limit, longer than PATH_MAX
        os.mkdir("d" * 100, dir_fd=fd)
        child = os.open("d" * 100, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    with pytest.raises(SourceError, match=r"changed after it was cached \(digest now unreadable: "):
        integrity.check_before_use(again)
    assert fetch(cache, tmp_path, path="src").digest == snap.digest
    assert [p.name for p in (cache / "tmp").iterdir()] == []  # the changed trees are gone


# --- the shipped registry -----------------------------------------------------------------------


def test_shipped_registry_files() -> None:
    expected = {"mmengine", "opencompass", "xtuner", "mmengine_git", "opencompass_git", "internlm_git"}
    expected |= {"toolz", "semver", "cachetools", "tabulate"}  # the l2 suite's sdists
    specs = {p.stem: load_model(p, RepoSpec) for p in REGISTRY.glob("*.yaml")}
    assert set(specs) == expected
    for stem, spec in specs.items():
        assert spec.id == stem and spec.description
        assert spec.kind == ("url" if stem.endswith("_git") else "pypi")
        assert spec.ref or spec.sha256
