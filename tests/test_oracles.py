"""The v1 oracles against independent computations (find, ls, grep, git) on a real tree; registry; cache.

A "file" is v1's `Path.is_file()` kept inside the tree: a regular file, or a symlink to a regular file inside
the tree (issue 7, item 26: before, links never counted). The independent computations below say the same
with `find -xtype f` and the links' resolved targets.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentgym.errors import OracleError
from agentgym.oracles import (
    ExpectedCache,
    clear_registry_cache,
    get_oracle,
    has_snapshot_facts,
    known_oracles,
    run_oracle,
    run_oracle_accepted,
    run_snapshot_facts,
    validate_call,
)
from agentgym.oracles import builtin as b
from agentgym.sources.base import Snapshot
from agentgym.specs.task import OracleCall

EXCL = [".git", "eval_artifacts"]
C_ENV = {**os.environ, "LC_ALL": "C"}


def sh(cwd: Path, command: str) -> str:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=C_ENV, capture_output=True, check=False).stdout.decode(
        "utf-8", "surrogateescape"
    )


def git(cwd: Path, *args: str) -> bytes:
    base = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"]
    return subprocess.run([*base, *args], cwd=cwd, capture_output=True, check=True).stdout


def write(root: Path, rel: str, data: bytes | str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def build_tree(base: Path) -> Path:
    """A realistic repository: nested packages, hidden files, binaries, non-UTF-8, symlinks, a real .git."""
    root = base / "repo"
    outside = base / "outside"
    write(outside, "secret.py", "widget = 1\n")
    write(outside, "LICENSE", "outside license\n")
    write(root, "README.md", "\n   \n\t\n  Widget Project — fast  \nsecond line\n")
    write(root, "LICENSE", "MIT License\n")
    write(root, "pyproject.toml", "[project]\nname = 'widget'\n")
    write(root, "src/widget/__init__.py", "from .core import Widget\n")
    write(root, "src/widget/core.py", "class Widget:\n    widget = 'widget'\n    def widgetize(self): ...\n" * 3)
    write(root, "src/widget/sub/deep.py", "# aaaa widget\nWIDGET = 'Widget'\n")
    write(root, "src/widget/sub/data.json", '{"widget": true}\n')
    write(root, "tests/test_core.py", "from widget import Widget\n\ndef test_it():\n    assert Widget\n")
    write(root, "docs/index.md", "# Docs\nwidget docs\n")
    write(root, "docs/guide.rst", "Guide\n=====\n")
    write(root, "docs/ünïcode name.md", "wïdget widget\n")
    write(root, "config.yml", "a: 1\n")
    write(root, ".github/workflows/ci.yaml", "on: push\n")
    write(root, ".config/settings.yml", "widget: 2\n")
    write(root, ".hidden.py", "widget = 'hidden'\n")
    write(root, "data/blob.bin", b"\x00\x01widget\x00widget" * 50)
    write(root, "data/latin1.txt", b"caf\xe9 widget Widget WIDGET\n")
    write(root, "data/big.txt", "x" * 5000)
    write(root, "build/gen.py", "widget\n")
    write(root, "misc/build", "a file named like an excluded dir\n")
    write(root, "empty.txt", b"")
    (root / "link.py").symlink_to("src/widget/core.py")
    (root / "srclink").symlink_to("src")
    (root / "dangling.py").symlink_to("nowhere.py")
    (root / "outlink").symlink_to(outside)
    (root / "outfile.py").symlink_to(outside / "secret.py")  # a link to a file outside: never a file
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    write(root, "eval_artifacts/answer.json", '{"widget": 1}')
    write(root, "eval_artifacts/tool.py", "widget\n")
    os.mkfifo(root / "data" / "pipe")  # not a file; must never be opened
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("oracles"))


def call(fn: str, root: Path, **args: Any) -> Any:
    return run_oracle(OracleCall(fn=fn, args=args), root)


def inside(root: Path, rel: str) -> bool:
    return Path(os.path.realpath(root / rel)).is_relative_to(os.path.realpath(root))


def find_files(root: Path, args: str) -> list[str]:
    """Regular files and links to regular files (`-xtype f`, no -L: linked folders not entered), in the tree."""
    out = sh(root, f"find . -xtype f {args} -print0")
    return [p.removeprefix("./") for p in out.split("\0") if p and inside(root, p)]


def file_links(root: Path) -> list[str]:
    """Symlinks git recorded (mode 120000) whose target is a regular file inside the tree."""
    entries = git(root, "ls-files", "-s", "-z").split(b"\0")
    links = [e.split(b"\t", 1)[1].decode() for e in entries if e.startswith(b"120000")]
    return [p for p in links if inside(root, p) and os.path.isfile(root / p)]


NOT_EXCLUDED = "-not -path '*/.git/*' -not -path '*/eval_artifacts/*'"


# ----------------------------------------------------------------------------------------------- counting


def test_top_level_entry_count_matches_ls(tree: Path) -> None:
    names = sh(tree, "ls -A").splitlines()
    visible = [n for n in names if not n.startswith(".") and n not in EXCL]
    assert call("top_level_entry_count", tree, exclude=EXCL) == len(visible)
    assert call("top_level_entry_count", tree, exclude=EXCL, exclude_hidden=False) == len(names) - 2
    assert call("top_level_entry_count", tree) == len(visible) + 1  # eval_artifacts is not hidden


@pytest.mark.parametrize(
    ("glob", "exclude", "find_args"),
    [
        ("**/*.py", EXCL, f"-name '*.py' {NOT_EXCLUDED}"),
        ("**/*.{yml,yaml}", EXCL, f"\\( -name '*.yml' -o -name '*.yaml' \\) {NOT_EXCLUDED}"),
        ("**/*.{ yml , yaml ,}", EXCL, f"\\( -name '*.yml' -o -name '*.yaml' \\) {NOT_EXCLUDED}"),
        ("*.py", [], "-maxdepth 1 -name '*.py'"),
        ("src/**/*.py", [], "-path './src/*' -name '*.py'"),
        ("docs/*", [], "-path './docs/*'"),
        ("**/*", [*EXCL, "build"], f"{NOT_EXCLUDED} -not -path '*/build/*' -not -name build"),
        ("**", EXCL, NOT_EXCLUDED),
        ("**/*.PY", EXCL, "-name '*.PY'"),
    ],
)
def test_glob_count_matches_find(tree: Path, glob: str, exclude: list[str], find_args: str) -> None:
    expected = find_files(tree, find_args)
    assert call("glob_count", tree, glob=glob, exclude_dirs=exclude) == len(expected)


def test_glob_count_matches_git_ls_files(tree: Path) -> None:
    # git records symlinks with mode 120000: those pointing at a file inside the tree count as files.
    entries = git(tree, "ls-files", "-s", "-z").split(b"\0")
    regular = [e.split(b"\t", 1)[1].decode() for e in entries if e and not e.startswith(b"120000")]
    regular += file_links(tree)
    assert "link.py" in regular and "outfile.py" not in regular
    assert call("glob_count", tree, glob="**/*.py", exclude_dirs=EXCL) == sum(p.endswith(".py") for p in regular)
    assert call("glob_count", tree, glob="**/*", exclude_dirs=EXCL) == len(regular)


def test_glob_each_file_once_and_links_only_inside(tree: Path) -> None:
    once = call("glob_count", tree, glob="**/*.py", exclude_dirs=EXCL)
    assert call("glob_count", tree, glob="**/**/*.{py,py}", exclude_dirs=EXCL) == once
    assert call("glob_count", tree, glob="link.py") == 1  # v1's Path.is_file() follows the link
    assert call("glob_count", tree, glob="outfile.py") == 0  # ... but never out of the tree
    assert call("glob_count", tree, glob="dangling.py") == 0
    assert call("glob_count", tree, glob="srclink/**/*.py") == 0
    assert call("glob_count", tree, glob="outlink/*.py") == 0
    with pytest.raises(OracleError, match="glob_count"):
        call("glob_count", tree, glob="../*.py")


def grep_count(root: Path, token: str, flags: str = "") -> int:
    cmd = f"grep -r -o -F -D skip --binary-files=without-match {flags} --exclude-dir=.git --exclude-dir=eval_artifacts"
    found = len(sh(root, f"{cmd} -e {token} . ").splitlines())  # grep -r skips every symlink
    plain = "grep -o -F -D skip --binary-files=without-match " + flags
    return found + sum(len(sh(root, f"{plain} -e {token} {link}").splitlines()) for link in file_links(root))


@pytest.mark.parametrize(("token", "ci"), [("widget", False), ("widget", True), ("Widget", False), ("aa", False)])
def test_repo_token_count_matches_grep(tree: Path, token: str, ci: bool) -> None:
    expected = grep_count(tree, token, "-i" if ci else "")
    got = call("repo_token_count", tree, token=token, case_insensitive=ci, exclude_dirs=EXCL)
    assert got == expected > 0


def second_token_count(root: Path, token: str, max_bytes: int) -> int:
    """A differently written count: git's file list, regular files only, bytes-level split."""
    total = 0
    for line in git(root, "ls-files", "-s", "-z").split(b"\0"):
        if not line:
            continue
        rel = line.split(b"\t", 1)[1].decode()
        if line.startswith(b"120000") and rel not in file_links(root):
            continue
        data = (root / rel).read_bytes()
        if len(data) <= max_bytes and 0 not in data:
            total += len(data.decode("utf-8", "ignore").split(token)) - 1
    return total


@pytest.mark.parametrize("max_bytes", [10, 40, 1_000_000])
def test_repo_token_count_max_bytes(tree: Path, max_bytes: int) -> None:
    got = call("repo_token_count", tree, token="widget", exclude_dirs=EXCL, max_bytes=max_bytes)
    assert got == second_token_count(tree, "widget", max_bytes)


def test_largest_file_matches_find(tree: Path) -> None:
    rows = [
        line.split("\t", 1) for line in sh(tree, f"find . -type f {NOT_EXCLUDED} -printf '%s\\t%P\\n'").splitlines()
    ]
    size, path = max((int(s), p) for s, p in rows)
    assert (
        call("largest_file", tree, exclude_dirs=EXCL)
        == {"path": path, "size": size}
        == {"path": "data/big.txt", "size": 5000}
    )


def test_largest_file_tie_takes_smallest_path_and_accepts_every_tied_path(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for rel in ["zeta/b.txt", "alpha/z.txt", "alpha.txt", "alpha/a.txt", "small.txt"]:
        write(root, rel, "12345" if rel != "small.txt" else "1")
    write(tmp_path, "outside.txt", "1234567890")  # larger, but only reachable through a link leaving the tree
    (root / "out.txt").symlink_to(tmp_path / "outside.txt")
    (root / "alink").symlink_to("zeta/b.txt")  # a link inside the tree counts, with its target's size
    assert b.largest_file(root) == {"path": "alink", "size": 5}
    assert b.largest_file(root, exclude_dirs=["alink"]) == {"path": "alpha.txt", "size": 5}  # '.' sorts before '/'
    assert b.largest_file(root, exclude_dirs=["alink", "alpha.txt"]) == {"path": "alpha/a.txt", "size": 5}
    assert b.largest_file(root / "zeta" / "nothing-here") == {"path": "", "size": 0}
    assert call("largest_file", root, exclude_dirs=["alink", "alpha", "alpha.txt", "zeta"]) == {
        "path": "small.txt",
        "size": 1,
    }
    tied = ["alink", "alpha.txt", "alpha/a.txt", "alpha/z.txt", "zeta/b.txt"]
    assert run_oracle_accepted(OracleCall(fn="largest_file"), root) == [{"path": p, "size": 5} for p in tied]
    assert run_oracle_accepted(
        OracleCall(fn="largest_file", args={"exclude_dirs": ["alpha", "alpha.txt", "zeta", "alink"]}), root
    ) == [{"path": "small.txt", "size": 1}]
    assert run_oracle_accepted(OracleCall(fn="glob_count", args={"glob": "*.txt"}), root) == [2]


def test_dir_top_entry_count_matches_ls(tree: Path) -> None:
    for rel in ["src/widget", "docs", ".github", "data"]:
        expected = len([n for n in sh(tree, f"ls -A '{rel}'").splitlines() if not n.startswith(".")])
        assert call("dir_top_entry_count", tree, path=rel) == expected
    assert call("dir_top_entry_count", tree, path=".", exclude_hidden=False) == len(sh(tree, "ls -A").splitlines())
    assert call("dir_top_entry_count", tree, path="srclink") == call("dir_top_entry_count", tree, path="src")
    assert call("dir_top_entry_count", tree, path="missing") == 0
    assert call("dir_top_entry_count", tree, path="README.md") == 0
    assert call("dir_top_entry_count", tree, path="outlink") == 0  # leaves the tree


# ----------------------------------------------------------------------------------------------- text files


def test_readme_first_nonempty_line(tree: Path) -> None:
    expected = sh(tree, "grep -m1 '[^[:space:]]' README.md").removesuffix("\n")
    assert call("readme_first_nonempty_line", tree) == expected == "  Widget Project — fast  "


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\r\n \t\r\n  Title\r\nnext\r\n", "  Title"),
        (b"\r\r x \rnext", " x "),
        (b"", ""),
        (b"  \n\t\n", ""),
        (b"\n\xff\xfeBad bytes\n", "\ufffd\ufffdBad bytes"),
        (b"\xef\xbb\xbf# BOM kept\n", "\ufeff# BOM kept"),
        (b"no newline at end", "no newline at end"),
    ],
)
def test_readme_line_endings_and_encodings(tmp_path: Path, data: bytes, expected: str) -> None:
    write(tmp_path, "docs/READ ME.txt", data)
    assert call("readme_first_nonempty_line", tmp_path, path="docs/READ ME.txt") == expected


def test_readme_missing_or_escaping_is_an_error(tree: Path) -> None:
    with pytest.raises(OracleError, match=r"oracle 'readme_first_nonempty_line' failed: .*nope\.md"):
        call("readme_first_nonempty_line", tree, path="nope.md")
    with pytest.raises(OracleError, match="readme_first_nonempty_line"):
        call("readme_first_nonempty_line", tree, path="outlink/secret.py")
    with pytest.raises(OracleError, match="readme_first_nonempty_line"):
        call("readme_first_nonempty_line", tree, path="/etc/hostname")


def test_has_license_file(tree: Path, tmp_path: Path) -> None:
    assert call("has_license_file", tree, paths=["LICENSE", "LICENSE.md"]) is True
    assert call("has_license_file", tree, paths=["COPYING", "LICENSE.md", "src"]) is False
    assert call("has_license_file", tree, paths=["outlink/LICENSE"]) is False
    write(tmp_path, "legal/LICENSE.txt", "text")
    (tmp_path / "LICENSE").symlink_to("legal/LICENSE.txt")
    (tmp_path / "LICENSE.md").symlink_to(tree.parent / "outside" / "LICENSE")
    assert call("has_license_file", tmp_path, paths=["LICENSE"]) is True
    assert call("has_license_file", tmp_path, paths=["LICENSE.md"]) is False


def test_answer_md_contains(tmp_path: Path) -> None:
    args = {"path": "eval_artifacts/answer.md", "must_contain": ["# Title", "src", "tests"]}
    assert call("answer_md_contains", tmp_path, **args) is False
    write(tmp_path, "eval_artifacts/answer.md", b"# Title\n- src\n- tests\xff\n")
    assert call("answer_md_contains", tmp_path, **args) is True
    assert call("answer_md_contains", tmp_path, path="eval_artifacts/answer.md", must_contain=["docs"]) is False
    assert call("answer_md_contains", tmp_path, path="eval_artifacts/answer.md", must_contain=[]) is True
    assert call("answer_md_contains", tmp_path, path="eval_artifacts", must_contain=[]) is False


KV_ARGS = {"path": "eval_artifacts/answer.md", "repo_id": "demo", "exclude_top_level": EXCL}


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("repo_id: demo\ntop_level_entries: 3\nhas_license: true\n", True),
        ("# Answer\n\nREPO_ID : demo\nTop_Level_Entries:3\nHas_License: Yes\n", True),
        ("repo_id: demo\ntop_level_entries: 3\nhas_license: y\n", True),
        ("repo_id: demo\ntop_level_entries: +3\nhas_license: 1\n", True),
        ("repo_id: demo\ntop_level_entries: 3\nhas_license: false\n", False),
        ("repo_id: demo\ntop_level_entries: 3\nhas_license: 0\n", False),
        ("repo_id: demo\ntop_level_entries: 3\nhas_license: maybe\n", False),
        ("repo_id: demo\ntop_level_entries: 4\nhas_license: true\n", False),
        ("repo_id: demo\ntop_level_entries: three\nhas_license: true\n", False),
        ("repo_id: Demo\ntop_level_entries: 3\nhas_license: true\n", False),
        ("repo_id: demo\nhas_license: true\n", False),
        ("repo_id: other\nrepo_id: demo\ntop_level_entries: 3\nhas_license: TRUE\n", True),
    ],
)
def test_answer_md_kv_matches(tmp_path: Path, text: str, ok: bool) -> None:
    for rel in ["LICENSE", "a.py", "src/x.py", ".hidden", ".git/HEAD"]:
        write(tmp_path, rel, "x")
    write(tmp_path, "eval_artifacts/answer.md", text)
    assert call("answer_md_kv_matches", tmp_path, **KV_ARGS) is ok


def test_answer_md_kv_without_license(tmp_path: Path) -> None:
    write(tmp_path, "eval_artifacts/answer.md", "repo_id: demo\ntop_level_entries: 0\nhas_license: no\n")
    assert call("answer_md_kv_matches", tmp_path, **KV_ARGS) is True
    assert call("answer_md_kv_matches", tmp_path, **{**KV_ARGS, "exclude_top_level": []}) is False


def test_answer_md_outside_tree_is_missing(tmp_path: Path) -> None:
    write(tmp_path, "elsewhere.md", "repo_id: demo")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "answer.md").symlink_to(tmp_path / "elsewhere.md")
    assert call("answer_md_contains", tmp_path / "repo", path="answer.md", must_contain=["demo"]) is False


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "ok.txt", "tok tok")
    write(tmp_path, "locked.txt", "tok")
    write(tmp_path, "closed/inner.txt", "tok")
    (tmp_path / "locked.txt").chmod(0)
    (tmp_path / "closed").chmod(0)
    try:
        assert call("repo_token_count", tmp_path, token="tok") == 2
        assert call("glob_count", tmp_path, glob="**/*.txt") == 2  # like find: locked counts, closed/ unseen
    finally:
        (tmp_path / "closed").chmod(0o755)


# ----------------------------------------------------------------------------------------------- registry


def test_unknown_oracle_names_it_and_the_known_ones() -> None:
    with pytest.raises(OracleError) as err:
        get_oracle("no_such_oracle")
    assert str(err.value).startswith("unknown oracle 'no_such_oracle' (known: answer_md_contains, ")
    assert "top_level_entry_count" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("fn", "args", "message"),
    [
        (
            "glob_count",
            {"pattern": "*"},
            "oracle 'glob_count': unknown argument 'pattern' (accepted: glob, exclude_dirs)",
        ),
        ("glob_count", {}, "oracle 'glob_count': missing required argument 'glob'"),
        ("glob_count", {"glob": "*", "exclude_dirs": ".git"}, "oracle 'glob_count': argument 'exclude_dirs' must be"),
        ("repo_token_count", {"token": "x", "max_bytes": True}, "argument 'max_bytes' must be int | None, got bool"),
        ("has_license_file", {"paths": ["a", 1]}, "oracle 'has_license_file': argument 'paths'"),
        ("answer_md_kv_matches", {"path": "a", "repo_id": "r"}, "missing required argument 'exclude_top_level'"),
    ],
)
def test_validate_call_messages(fn: str, args: dict[str, Any], message: str) -> None:
    with pytest.raises(OracleError) as err:
        validate_call(OracleCall(fn=fn, args=args))
    assert message in str(err.value)


def test_validate_call_accepts_good_calls() -> None:
    validate_call(OracleCall(fn="repo_token_count", args={"token": "x", "max_bytes": None, "exclude_dirs": []}))
    validate_call(OracleCall(fn="largest_file"))


# ----------------------------------------------------------------------------------------------- plugins


PLUGIN_SOURCE = """
from pathlib import Path

CALLS: list[str] = []


def count_calls(root: Path, label: str = "x") -> dict:
    CALLS.append(label)
    return {"label": label, "entries": len(list(root.iterdir())), "calls": len(CALLS)}


def not_json(root: Path) -> set:
    return {1, 2}


def broken(root: Path, *, level: int) -> int:
    raise RuntimeError("boom\\nsecond line")


def glob_count(root: Path) -> int:
    return -1
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real installed distribution (dist-info on sys.path) exposing oracles in group agentgym.oracles."""
    module = f"agentgym_test_plugin_{uuid.uuid4().hex[:8]}"
    site = tmp_path / "site"
    write(site, f"{module}.py", PLUGIN_SOURCE)
    dist = site / f"{module}-1.2.3.dist-info"
    write(dist, "METADATA", f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.2.3\n")
    lines = [f"{name} = {module}:{name}" for name in ("count_calls", "not_json", "broken", "glob_count")]
    write(dist, "entry_points.txt", "[agentgym.oracles]\n" + "\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(site))
    clear_registry_cache()
    yield module
    clear_registry_cache()
    sys.modules.pop(module, None)


def test_entry_point_oracles_load_lazily(plugin: str, tmp_path: Path) -> None:
    assert "count_calls" in known_oracles()
    assert plugin not in sys.modules
    fn = get_oracle("count_calls")
    assert fn is get_oracle("count_calls") and fn.__module__ == plugin
    validate_call(OracleCall(fn="count_calls", args={"label": "a"}))
    with pytest.raises(OracleError, match="oracle 'count_calls': unknown argument 'nope'"):
        validate_call(OracleCall(fn="count_calls", args={"nope": 1}))
    with pytest.raises(OracleError, match="missing required argument 'level'"):
        validate_call(OracleCall(fn="broken"))
    assert get_oracle("glob_count") is b.glob_count  # a plugin cannot replace a built-in


def test_entry_point_failures_become_oracle_errors(plugin: str, tmp_path: Path) -> None:
    with pytest.raises(OracleError, match=r"^oracle 'broken' failed: RuntimeError: boom$"):
        run_oracle(OracleCall(fn="broken", args={"level": 1}), tmp_path)
    with pytest.raises(OracleError, match="oracle 'not_json' returned a value that is not JSON"):
        run_oracle(OracleCall(fn="not_json"), tmp_path)


# ----------------------------------------------------------------------------------------------- cache


def test_cache_hit_does_not_recompute(plugin: str, tree: Path, tmp_path: Path) -> None:
    calls: list[str] = importlib.import_module(plugin).CALLS
    snap = Snapshot(repo_id="demo", path=tree, digest="sha256:aaa")
    cache = ExpectedCache(tmp_path / "cache")
    first = cache.get_or_compute(snap, OracleCall(fn="count_calls", args={"label": "a"}))
    assert first["calls"] == 1 and calls == ["a"]
    assert cache.get_or_compute(snap, OracleCall(fn="count_calls", args={"label": "a"})) == first
    assert (
        ExpectedCache(tmp_path / "cache").get_or_compute(snap, OracleCall(fn="count_calls", args={"label": "a"}))
        == first
    )
    assert calls == ["a"]
    cache.get_or_compute(snap, OracleCall(fn="count_calls", args={"label": "b"}))
    other = Snapshot(repo_id="demo", path=tree, digest="sha256:bbb")
    cache.get_or_compute(other, OracleCall(fn="count_calls", args={"label": "a"}))
    assert calls == ["a", "b", "a"]


def test_cache_file_is_small_json_and_survives_corruption(plugin: str, tree: Path, tmp_path: Path) -> None:
    snap = Snapshot(repo_id="demo", path=tree, digest="d1")
    cache = ExpectedCache(tmp_path / "cache")
    oc = OracleCall(fn="count_calls", args={"label": "z"})
    cache.get_or_compute(snap, oc)
    path = cache.path_for(snap, oc)
    entry = json.loads(path.read_text())
    assert entry["fn"] == "count_calls" and entry["impl"].startswith(f"{plugin}:count_calls@1.2.3")
    assert entry["digest"] == "d1" and entry["args"] == {"label": "z"}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left behind
    path.write_text("{not json")
    assert cache.get_or_compute(snap, oc)["calls"] == 2
    assert json.loads(path.read_text())["value"]["calls"] == 2


def test_cache_builtin_values_equal_direct_run(tree: Path, tmp_path: Path) -> None:
    snap = Snapshot(repo_id="demo", path=tree, digest="d2")
    cache = ExpectedCache(tmp_path / "cache")
    for oc in [
        OracleCall(fn="largest_file", args={"exclude_dirs": EXCL}),
        OracleCall(fn="readme_first_nonempty_line"),
        OracleCall(fn="glob_count", args={"glob": "**/*.md", "exclude_dirs": EXCL}),
    ]:
        assert cache.get_or_compute(snap, oc) == run_oracle(oc, tree) == cache.get_or_compute(snap, oc)
    # Argument order does not change the key.
    a = OracleCall(fn="glob_count", args={"glob": "*", "exclude_dirs": []})
    z = OracleCall(fn="glob_count", args={"exclude_dirs": [], "glob": "*"})
    assert cache.path_for(snap, a) == cache.path_for(snap, z)
    with pytest.raises(OracleError, match="unknown oracle 'nope'"):
        cache.get_or_compute(snap, OracleCall(fn="nope"))


def test_kv_oracle_splits_into_snapshot_facts_and_a_judge(tmp_path: Path) -> None:
    pristine, final = tmp_path / "pristine", tmp_path / "final"
    for root in (pristine, final):
        write(root, "LICENSE.md", "x")
        write(root, "a.py", "x")
    write(final, "made_during_the_trial/x", "x")
    write(final, "eval_artifacts/answer.md", "repo_id: demo\ntop_level_entries: 2\nhas_license: true\n")
    oc = OracleCall(fn="answer_md_kv_matches", args=KV_ARGS)
    assert has_snapshot_facts("answer_md_kv_matches") and not has_snapshot_facts("answer_md_contains")
    facts = run_snapshot_facts(oc, pristine)
    assert facts == {"top_level_entries": 2, "has_license": True}
    assert run_oracle(oc, final, facts=facts) is True
    assert run_oracle(oc, final) is False  # the final tree alone has 3 entries
    assert (
        run_snapshot_facts(OracleCall(fn="answer_md_contains", args={"path": "a", "must_contain": []}), final) is None
    )


def test_kv_lines_of_hostile_shape_parse_linearly_and_correctly() -> None:
    # The old pattern `:\s*(.*?)\s*$` backtracked quadratically: this line took many minutes; now it is instant.
    spaces = " " * 200_000
    assert b.parse_kv_lines(f"Top_Level_Entries:{spaces}x{spaces}y{spaces}\n# c\n") == {
        "top_level_entries": f"x{spaces}y"
    }
    assert b.parse_kv_lines("repo_id :\t demo \t\nhas_license:\n") == {"repo_id": "demo", "has_license": ""}


def test_kv_entry_count_of_thousands_of_digits_is_wrong_not_an_error(tmp_path: Path) -> None:
    write(tmp_path, "eval_artifacts/answer.md", f"repo_id: demo\ntop_level_entries: {'9' * 5000}\nhas_license: no\n")
    assert call("answer_md_kv_matches", tmp_path, **KV_ARGS) is False
