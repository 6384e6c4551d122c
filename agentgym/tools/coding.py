"""The `coding` profile's file tools on top of the Sandbox primitives, with the v1 policy and caps.

view / str_replace / create use Sandbox.read_file, write_file and list_dir; glob / grep run
tools/search_helper.py inside the sandbox through Sandbox.run. Reads are checked like read_file (inside the
repository), writes like write_file (write_paths_allowed, safety events). None of them counts as a command.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentgym.sandbox.base import SandboxRefusal
from agentgym.tools.caps import PATH_CAP, elide
from agentgym.tools.policy import check_path

if TYPE_CHECKING:
    from agentgym.tools.toolbox import Toolbox

MAX_EDIT_BYTES = 1024 * 1024  # files str_replace edits and view reads (more: use bash)
MAX_PATTERN = 1000  # characters of a glob or grep pattern
MAX_PATH = 4096  # characters of a glob or grep path (it travels as a command argument)
SEARCH_TIMEOUT = 60.0  # seconds one glob or grep may take (also bounded by the task's budget)
SHOWN_LINES = 4  # line numbers named in a "several occurrences" error
HELPER_SOURCE = (Path(__file__).parent / "search_helper.py").read_text(encoding="utf-8")
FILE_TOOLS = ("view", "str_replace", "create", "glob", "grep")
Result = tuple[dict[str, Any], str | None]


async def dispatch(box: Toolbox, name: str, args: dict[str, Any]) -> Result:
    if name in ("glob", "grep"):
        return await _search(box, name, args)
    path = str(args["path"])
    violation = check_path(path, box.view, box.policy, write=name != "view")
    if violation:
        return box._refuse(violation)
    if name == "view":
        return await _view(box, path, args.get("view_range"))
    if name == "create":
        return await _create(box, path, str(args["file_text"]))
    return await _str_replace(box, path, str(args["old_str"]), str(args["new_str"]))


async def _is_dir(box: Toolbox, path: str) -> bool:
    """Whether a path the sandbox would not read as a file lists as a directory (the sandboxes word the
    refusal differently, so the listing decides)."""
    try:
        await box.sandbox.list_dir(path)
    except SandboxRefusal:
        return False
    return True


def _numbered(lines: list[str], first: int) -> str:
    return "\n".join(f"{n:6}\t{line}" for n, line in enumerate(lines, first))


async def _view(box: Toolbox, path: str, view_range: Any) -> Result:
    shown = elide(path, PATH_CAP)
    try:
        read = await box.sandbox.read_file(path, MAX_EDIT_BYTES)
    except SandboxRefusal as refusal:
        if refusal.kind == "not_found":
            return {}, f"view: {shown} does not exist"
        if refusal.kind == "error" and await _is_dir(box, path):
            listing = await box._list_dir(path, shown)
            if view_range is not None:  # small models send one anyway: list, and say why it was not used
                listing["note"] = "a directory: view_range ignored (it applies to files)"
            return listing, None
        raise
    lines = read.content.splitlines()
    first, last, error = _range(view_range, len(lines))
    if error:
        return {}, f"view: {error}"
    text = elide(_numbered(lines[first - 1 : last], first), box.output_cap * 2)
    if read.truncated:
        text += f"\n[… file has {read.size} bytes; only the first {MAX_EDIT_BYTES} were read; use bash …]"
    return {"path": shown, "content": text, "lines": len(lines), "shown_lines": [first, last]}, None


def _range(view_range: Any, count: int) -> tuple[int, int, str | None]:
    if view_range is None or count == 0:  # an empty file is shown empty whatever the range
        return 1, count, None
    if (
        not isinstance(view_range, list)
        or len(view_range) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in view_range)
    ):
        return 0, 0, "view_range must be [start, end]: two integers (end -1 = to the end of the file)"
    start, end = view_range
    end = count if end == -1 else end
    if start < 1 or start > max(count, 1):
        return 0, 0, f"view_range start {start} is outside the file's lines 1-{count}"
    if end < start:
        return 0, 0, f"view_range end {view_range[1]} is before start {start} (use -1 for the end of the file)"
    return start, min(end, count), None


async def _create(box: Toolbox, path: str, text: str) -> Result:
    shown = elide(path, PATH_CAP)
    target = box._sandbox_path(path)
    try:
        await box.sandbox.read_file(target, 1)
        return {}, f"create: {shown} already exists; use str_replace to edit it"
    except SandboxRefusal as refusal:
        if refusal.kind == "error" and await _is_dir(box, target):
            return {}, f"create: {shown} is an existing directory"
        if refusal.kind != "not_found":
            raise
    written = await box.sandbox.write_file(target, text, append=False)
    note = "created. If this completes the task, reply with a short message and no tool call."
    return {"path": shown, "bytes_written": written, "note": note}, None


async def _str_replace(box: Toolbox, path: str, old: str, new: str) -> Result:
    shown = elide(path, PATH_CAP)
    if not old:
        return {}, "str_replace: old_str is empty; give the exact text to replace"
    target = box._sandbox_path(path)
    try:
        read = await box.sandbox.read_file(target, MAX_EDIT_BYTES)
    except SandboxRefusal as refusal:
        if refusal.kind == "not_found":
            return {}, f"str_replace: {shown} does not exist (use create for a new file)"
        raise
    if read.truncated:
        return {}, f"str_replace: {shown} has {read.size} bytes; files over {MAX_EDIT_BYTES} bytes: use bash"
    content = read.content
    if "\ufffd" in content:
        return {}, f"str_replace: {shown} is not UTF-8 text; use bash"
    count = content.count(old)
    if count != 1:
        return {}, _occurrences_error(shown, content, old, count)
    at = content.index(old)
    updated = content[:at] + new + content[at + len(old) :]
    await box.sandbox.write_file(target, updated, append=False)
    line = content.count("\n", 0, at) + 1
    lines = updated.splitlines()
    start = max(1, line - 2)
    snippet = _numbered(lines[start - 1 : line + new.count("\n") + 2], start)
    return {"path": shown, "replaced_at_line": line, "snippet": elide(snippet, box.output_cap)}, None


def _occurrences_error(shown: str, content: str, old: str, count: int) -> str:
    if count == 0:
        return (
            f"str_replace: old_str not found in {shown} (0 occurrences); it must match exactly, "
            "whitespace and indentation included"
        )
    lines, pos = [], content.find(old)
    while pos != -1 and len(lines) < SHOWN_LINES:
        lines.append(str(content.count("\n", 0, pos) + 1))
        pos = content.find(old, pos + len(old))
    more = ", …" if count > SHOWN_LINES else ""
    return (
        f"str_replace: old_str occurs {count} times in {shown} (lines {', '.join(lines)}{more}); "
        "include more surrounding text so that it occurs exactly once"
    )


async def _search(box: Toolbox, name: str, args: dict[str, Any]) -> Result:
    pattern, path = str(args["pattern"]), str(args.get("path") or ".")
    include = str(args["include"]) if args.get("include") else ""
    if not pattern or len(pattern) > MAX_PATTERN or len(include) > MAX_PATTERN:
        return {}, f"{name}: the pattern must be 1-{MAX_PATTERN} characters"
    if len(path) > MAX_PATH:
        return {}, f"{name}: the path is longer than {MAX_PATH} characters"
    if name == "grep":
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            return {}, f"grep: invalid regular expression {elide(pattern, 200)!r}: {exc}"
    violation = check_path(path, box.view, box.policy, write=False)
    if violation:
        return box._refuse(violation)
    root = box.view.resolve(path)
    request = {"op": name, "repo": box.view.repo_root, "root": root, "shown": path, "pattern": pattern}
    request["include"] = include
    command = f"exec python3 -I -S -c {shlex.quote(HELPER_SOURCE)} {shlex.quote(json.dumps(request))}"
    timeout = min(box._remaining(), SEARCH_TIMEOUT)
    result = await box.sandbox.run(command, cwd=None, timeout=timeout)
    if result.timed_out:
        return {}, f"{name}: stopped after {timeout:.0f} s (narrow the path, the include glob or the pattern)"
    try:
        found = json.loads(result.stdout)
    except ValueError:
        detail = elide(result.stderr.strip() or result.stdout.strip() or f"exit code {result.exit_code}", 500)
        return {}, f"{name}: the search failed inside the sandbox: {detail}"
    if found.get("error"):
        return _search_refusal(box, name, found)
    return _search_output(box, name, path, pattern, found), None


def _search_refusal(box: Toolbox, name: str, found: dict[str, Any]) -> Result:
    detail = elide(str(found.get("detail", "")), 1024)
    if found["error"] == "path_escape":
        box._event("path_escape", detail)
        return {}, f"path_escape: {detail}"
    return {}, f"{name}: {detail}"


def _search_output(box: Toolbox, name: str, path: str, pattern: str, found: dict[str, Any]) -> dict[str, Any]:
    results = [str(r) for r in found.get("results", [])]
    total = int(found.get("total", len(results)))
    text = "\n".join(results)
    if total > len(results):
        text += f"\n[… {total - len(results)} more {'matches' if name == 'grep' else 'paths'} not shown …]"
    if found.get("walk_stopped"):
        text += "\n[… the walk stopped after 100000 entries; narrow the path …]"
    out: dict[str, Any] = {"path": elide(path, PATH_CAP), "pattern": elide(pattern, PATH_CAP), "total": total}
    out["content"] = elide(text, box.output_cap * 2) if text else ("no matches" if name == "grep" else "no paths")
    skipped = {k: found[k] for k in ("skipped_large", "skipped_binary", "unreadable") if found.get(k)}
    if skipped:
        out["skipped_files"] = skipped
    return out
