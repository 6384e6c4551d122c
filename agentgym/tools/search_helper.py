"""The `glob` and `grep` tools' walker, run INSIDE the sandbox (never on the host tree).

The toolbox runs this file's source as `python3 -I -S -c SOURCE REQUEST` through Sandbox.run, so it sees only
what the agent's commands see and runs under the same limits and timeout (a pattern that backtracks burns the
sandbox's time, not the harness's). Standard library only; `-I` keeps the repository's files off sys.path.
REQUEST is JSON: {"op": "glob"|"grep", "repo", "root", "shown", "pattern", "include"}; one JSON object is printed.
Symbolic links are listed but never followed or read; `.git` is skipped; hidden files are included.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from typing import Any

MAX_RESULTS = 200  # paths or matching lines returned; the rest are counted
MAX_WALK = 100_000  # entries visited before the walk stops (and says so)
MAX_LINE = 300  # characters of a matching line shown
MAX_FILE = 4 * 1024 * 1024  # bytes of a file grep reads; larger files are skipped (and counted)
SKIP_DIRS = {".git"}


def translate(pattern: str) -> str:
    """A glob as a regex over '/'-separated relative paths: `**` any depth, `*` and `?` within one name."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def walk(root: str, state: dict[str, Any]) -> Any:
    """(relative path, is_dir, is_regular_file) of everything under root, sorted, links not followed."""
    for dirpath, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirs + files):
            state["walked"] += 1
            if state["walked"] > MAX_WALK:
                state["walk_stopped"] = True
                return
            rel = name if rel_dir == "." else rel_dir + "/" + name
            try:
                mode = os.lstat(os.path.join(dirpath, name)).st_mode  # a link to a folder is a link, not a folder
            except OSError:  # removed meanwhile (a background process of the agent)
                continue
            yield rel, stat.S_ISDIR(mode), stat.S_ISREG(mode)


def do_glob(req: dict[str, Any], state: dict[str, Any]) -> list[str]:
    regex = re.compile(translate(req["pattern"].lstrip("/")), re.DOTALL)
    found = []
    for rel, is_dir, _reg in walk(req["root"], state):
        if regex.fullmatch(rel):
            found.append(rel + ("/" if is_dir else ""))
    return sorted(found)


def grep_file(path: str, shown: str, regex: Any, found: list[str], state: dict[str, Any]) -> None:
    try:
        if os.path.getsize(path) > MAX_FILE:
            state["skipped_large"] += 1
            return
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        state["unreadable"] += 1
        return
    if b"\0" in data[:8192]:
        state["skipped_binary"] += 1
        return
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if regex.search(line):
            found.append(f"{shown}:{number}:{line[:MAX_LINE]}" + (" [… line cut …]" if len(line) > MAX_LINE else ""))


def do_grep(req: dict[str, Any], state: dict[str, Any]) -> list[str]:
    regex = re.compile(req["pattern"])
    include = req.get("include") or ""
    wanted = re.compile(translate(include), re.DOTALL) if include else None
    found: list[str] = []
    if not os.path.isdir(req["root"]):
        grep_file(req["root"], req["shown"], regex, found, state)
        return found
    for rel, _is_dir, regular in walk(req["root"], state):
        name = rel if "/" in include else rel.rsplit("/", 1)[-1]
        if regular and (wanted is None or wanted.fullmatch(name)):
            shown = os.path.normpath(os.path.join(req["shown"], rel))
            grep_file(os.path.join(req["root"], rel), shown, regex, found, state)
    return found


def inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def main(argv: list[str]) -> dict[str, Any]:
    req = json.loads(argv[1])
    root = req["root"]
    if not inside(os.path.realpath(root), os.path.realpath(req["repo"])):
        return {"error": "path_escape", "detail": f"{req['shown']} resolves to {os.path.realpath(root)}, outside"}
    if not os.path.lexists(root):
        return {"error": "not_found", "detail": f"{req['shown']}: no such file or directory"}
    if req["op"] == "glob" and not os.path.isdir(root):
        return {"error": "not_a_directory", "detail": f"{req['shown']} is not a directory"}
    state = {"walked": 0, "walk_stopped": False, "skipped_large": 0, "skipped_binary": 0, "unreadable": 0}
    found = do_glob(req, state) if req["op"] == "glob" else do_grep(req, state)
    return {"results": found[:MAX_RESULTS], "total": len(found), **state}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv), ensure_ascii=False))
