"""Generate the ten level-1 tasks for a repository, in the original task YAML format.

The tasks cover the nine v1 oracles between them; their arguments are chosen by looking at the
snapshot. Every count leaves `.git` and `eval_artifacts` out. Each task carries a `solution:` (one
`python3 -c` command that computes the answer from the tree and writes it) which passes the task's
command policy: first word allowed, no prohibited word anywhere, writes only under eval_artifacts/.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from agentgym.oracles.builtin import LICENSE_NAMES
from agentgym.oracles.registry import get_oracle, run_oracle_accepted
from agentgym.scoring.checks import tie_message
from agentgym.specs.task import OracleCall
from agentgym.tasks_facts import EXCLUDE, PROHIBITED, RepoFacts, clean_word, inspect_tree

DEFAULT_ALLOWED = ["ls", "pwd", "cd", "cat", "head", "tail", "wc", "grep", "rg", "sed", "python", "python3", "pytest"]
EXTRA_ALLOWED = [
    *("find", "echo", "mkdir", "sort", "uniq", "du", "stat", "tr", "cut", "awk", "xargs"),
    *("basename", "dirname", "file", "git", "tree", "printf", "test"),
]
WRITE_PATHS = ["eval_artifacts/", "/tmp/"]
ANSWER_JSON = "eval_artifacts/answer.json"
ANSWER_MD = "eval_artifacts/answer.md"
LICENSE_CANDIDATES = ["LICENSE", "LICENSE.md", "LICENSE.txt", "COPYING"]
LIMITS = {"easy": (10, 120), "medium": (12, 180), "hard": (15, 300)}
FALLBACK_EXTS = ["md", "txt", "json", "yml", "yaml", "toml", "cfg", "sh"]
Built = tuple[str, str, list[dict[str, Any]], list[str]]  # difficulty, instruction, outputs, solution
RULES = "Work from the repository root. Leave .git/ and eval_artifacts/ out of every count."
_FILE_RULE = (
    "A file is a regular file, or a symlink to a regular file inside the repository (counted under the "
    "link's own path, with its target's size); symlinked directories are not entered."
)

_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_ .,:/+#@=*-]*$")
_PREAMBLE = ["import fnmatch, json, os, pathlib, stat", 'os.makedirs("eval_artifacts", exist_ok=True)']
_FILES = [
    'F = [os.path.relpath(os.path.join(d, f), ".") for d, _, fs in os.walk(".") for f in fs]',
    'R = os.path.realpath(".") + os.sep',
    'F = [p for p in F if os.path.isfile(p) and os.path.realpath(p).startswith(R) and not {".git", "eval_artifacts"} & set(p.split(os.sep))]',
]
_TOP = 'len([e for e in os.listdir(".") if not e.startswith(".") and e != "eval_artifacts"])'


# ----------------------------------------------------------------------------------------------- policy


def full_policy() -> dict[str, list[str]]:
    """The generated tasks' command policy: the v1 default allow-list plus common read-only tools."""
    return {
        "allowed": [*DEFAULT_ALLOWED, *EXTRA_ALLOWED],
        "prohibited": list(PROHIBITED),
        "write_paths_allowed": list(WRITE_PATHS),
    }


def _check_command(command: str) -> None:
    first = shlex.split(command)[0]
    if first not in full_policy()["allowed"] or not clean_word(command):
        raise ValueError(f"generated solution breaks the command policy: {command[:80]}")


# ----------------------------------------------------------------------------------------------- python code


def _lit(text: str) -> str:
    """A Python expression for `text` that adds no quote and no prohibited word to a command."""
    if _SAFE_TEXT.match(text) and clean_word(text):
        return json.dumps(text)
    raw = text.encode("utf-8", "surrogateescape").hex()
    return f'bytes.fromhex("{raw}").decode("utf-8", "surrogateescape")'


def _py(*statements: str) -> str:
    """One `python3 -c` command running the statements (joined by `; `)."""
    return "python3 -c " + shlex.quote("; ".join([*_PREAMBLE, *statements]))


def _save_json(key: str, expr: str) -> str:
    return f"pathlib.Path({json.dumps(ANSWER_JSON)}).write_text(json.dumps({{{json.dumps(key)}: {expr}}}))"


def _save_md(expr: str) -> str:
    return f'pathlib.Path({json.dumps(ANSWER_MD)}).write_text({expr}, encoding="utf-8", errors="surrogateescape")'


def _license_expr(names: list[str]) -> str:
    listed = ", ".join(_lit(n) for n in names)
    inside = 'os.path.realpath(p).startswith(os.path.realpath(".") + os.sep)'
    return f"any(os.path.isfile(p) and {inside} for p in [{listed}])"


# ----------------------------------------------------------------------------------------------- inspection


# ----------------------------------------------------------------------------------------------- tasks


def _output(key: str, type_: str, fn: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "type": type_, "weight": 1.0, "oracle": {"fn": fn, "args": args}}


def _json_format(key: str, shape: str) -> str:
    return f'Write the answer to {ANSWER_JSON} as a JSON object with exactly one key: {{"{key}": {shape}}}.'


def _task_top_level(facts: RepoFacts, repo_id: str) -> Built:
    text = (
        "Count the entries directly in the repository root: files, directories and symlinks alike, but not "
        "names starting with '.' (so not .git) and not eval_artifacts. "
        + _json_format("top_level_entries", "<integer>")
        + " The value is a JSON integer, not a string."
    )
    args = {"exclude": list(EXCLUDE), "exclude_hidden": True}
    code = _py(f"N = {_TOP}", _save_json("top_level_entries", "N"))
    return "easy", text, [_output("top_level_entries", "int", "top_level_entry_count", args)], [code]


def _task_readme(facts: RepoFacts, repo_id: str) -> Built:
    text = (
        f"Find the first line of the file {facts.readme} that contains at least one non-whitespace character. "
        "Give it exactly as written: keep any leading or trailing spaces, drop only the line break "
        "(\\n, \\r\\n or \\r). Read the file as UTF-8, replacing invalid bytes with U+FFFD. "
        + _json_format("readme_first_line", "<string>")
    )
    read = f'pathlib.Path({_lit(facts.readme)}).read_text(encoding="utf-8", errors="replace")'
    code = _py(
        f'L = [x for x in {read}.split("\\n") if x.strip()]', _save_json("readme_first_line", 'L[0] if L else ""')
    )
    args = {"path": facts.readme}
    return "easy", text, [_output("readme_first_line", "str", "readme_first_nonempty_line", args)], [code]


def _task_license(facts: RepoFacts, repo_id: str) -> Built:
    names = ", ".join(LICENSE_CANDIDATES)
    text = (
        f"Does the repository root hold a license file named exactly one of: {names} (case-sensitive)? "
        "It must be a regular file; a symlink counts only if it points to a file inside the repository. "
        + _json_format("has_license", "<true or false>")
        + " The value is a JSON boolean, not a string."
    )
    code = _py(f"H = {_license_expr(LICENSE_CANDIDATES)}", _save_json("has_license", "H"))
    args = {"paths": list(LICENSE_CANDIDATES)}
    return "easy", text, [_output("has_license", "json", "has_license_file", args)], [code]


def _task_dir_entries(facts: RepoFacts, repo_id: str) -> Built:
    where = (
        "the repository root (not counting eval_artifacts)" if facts.subdir == "." else f"the folder {facts.subdir}/"
    )
    text = (
        f"How many entries (files, directories and symlinks alike) are directly inside {where}? "
        "Do not count names starting with '.'. " + _json_format("dir_entries", "<integer>")
    )
    skip = ' and e != "eval_artifacts"' if facts.subdir == "." else ""
    folder = _lit(facts.subdir)
    count = f'len([e for e in os.listdir({folder}) if not e.startswith("."){skip}])'
    code = _py(f"N = {count} if os.path.isdir({folder}) else 0", _save_json("dir_entries", "N"))
    args = {"path": facts.subdir, "exclude_hidden": True}
    return "easy", text, [_output("dir_entries", "int", "dir_top_entry_count", args)], [code]


def _glob_task(glob: str, names: list[str], explain: str) -> Built:
    text = (
        f"Count the files matching the glob {glob} ({explain}) anywhere in the repository. {_FILE_RULE} "
        "Hidden files and "
        "files in hidden directories count; names are matched case-sensitively; anything under .git/ or "
        "eval_artifacts/ is left out. " + _json_format("file_count", "<integer>")
    )
    patterns = ", ".join(_lit(n) for n in names)
    match = f"any(fnmatch.fnmatchcase(os.path.basename(p), g) for g in [{patterns}])"
    code = _py(*_FILES, f"N = sum(1 for p in F if {match})", _save_json("file_count", "N"))
    args = {"glob": glob, "exclude_dirs": list(EXCLUDE)}
    return "medium", text, [_output("file_count", "int", "glob_count", args)], [code]


def _task_glob(facts: RepoFacts, repo_id: str) -> Built:
    if not facts.exts:
        return _glob_task("**/*", ["*"], "every file at any depth")
    ext = facts.exts[0]
    return _glob_task(f"**/*.{ext}", [f"*.{ext}"], f"file names ending in .{ext}, at any depth")


def _task_brace_glob(facts: RepoFacts, repo_id: str) -> Built:
    pool = [*facts.exts[1:3], *(e for e in FALLBACK_EXTS if e not in facts.exts[:3])]
    first, second = pool[0], pool[1]
    explain = f"file names ending in .{first} or .{second}, at any depth"
    return _glob_task(f"**/*.{{{first},{second}}}", [f"*.{first}", f"*.{second}"], explain)


def _task_token(facts: RepoFacts, repo_id: str) -> Built:
    text = (
        f"Count how many times the string {facts.token} occurs in the repository's files, ignoring case "
        "(compare the lowercased text with the lowercased string) and counting non-overlapping substring "
        "occurrences, not only whole words. Only files of at most 1000000 bytes count. "
        f"{_FILE_RULE} Skip every file that contains a NUL byte; decode files as UTF-8, dropping invalid "
        "bytes; leave out .git/ and eval_artifacts/. " + _json_format("token_count", "<integer>")
    )
    small = "os.path.getsize(p) <= 1000000 and os.access(p, os.R_OK)"
    blobs = f"(pathlib.Path(p).read_bytes() for p in F if {small})"
    count = f'sum(b.decode("utf-8", "ignore").lower().count(T.lower()) for b in {blobs} if b"\\x00" not in b)'
    code = _py(*_FILES, f"T = {_lit(facts.token)}", f"N = {count}", _save_json("token_count", "N"))
    args = {"token": facts.token, "case_insensitive": True, "exclude_dirs": list(EXCLUDE), "max_bytes": 1_000_000}
    return "hard", text, [_output("token_count", "int", "repo_token_count", args)], [code]


def _task_largest(facts: RepoFacts, repo_id: str) -> Built:
    text = (
        f"Find the largest file in the repository by size in bytes (leave out .git/ and eval_artifacts/). "
        f"{_FILE_RULE} If several files share the largest size, any of them is right; say, the one whose "
        "path is smallest in plain character (code point) order. "
        + _json_format("largest_file", '{"path": <string>, "size": <integer>}')
        + " The path is relative to the repository root, with / separators and no leading ./; "
        'if there is no file at all, write {"path": "", "size": 0}.'
    )
    rank = 'S = sorted((-os.path.getsize(p), p.replace(os.sep, "/")) for p in F)'
    value = '{"path": S[0][1], "size": -S[0][0]} if S else {"path": "", "size": 0}'
    code = _py(*_FILES, rank, _save_json("largest_file", value))
    args = {"exclude_dirs": list(EXCLUDE)}
    return "hard", text, [_output("largest_file", "json", "largest_file", args)], [code]


def _task_md_contains(facts: RepoFacts, repo_id: str) -> Built:
    kind, names = ("directory", facts.top_dirs) if facts.top_dirs else ("regular file", facts.top_files)
    heading = f"# Top-level entries of {repo_id}"
    text = (
        f"Write {ANSWER_MD}: first the line `{heading}`, then a Markdown list with one `- <name>` line for "
        f"every non-hidden {kind} directly in the repository root (not symlinks, not eval_artifacts)."
    )
    test = "os.path.isdir(e)" if kind == "directory" else "os.path.isfile(e)"
    pick = f'sorted(e for e in os.listdir(".") if {test} and not os.path.islink(e) and not e.startswith(".")'
    listing = f'{pick} and e != "eval_artifacts")'
    body = f'{_lit(heading)} + "\\n\\n" + "".join("- " + e + "\\n" for e in D)'
    code = _py(f"D = {listing}", _save_md(body))
    must = [heading, *(n for n in names if _utf8_ok(n))]
    args = {"path": ANSWER_MD, "must_contain": must}
    return "medium", text, [_output("answer_md", "oracle_bool", "answer_md_contains", args)], [code]


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _task_md_kv(facts: RepoFacts, repo_id: str) -> Built:
    text = (
        f"Write {ANSWER_MD} with exactly these three `key: value` lines:\n"
        f"repo_id: {repo_id}\n"
        "top_level_entries: <integer: entries directly in the repository root, not counting names "
        "starting with '.' nor eval_artifacts>\n"
        "has_license: <true or false: whether a regular file LICENSE or LICENSE.md exists at the root>"
    )
    lines = [
        f'"repo_id: " + {_lit(repo_id)}',
        f'"top_level_entries: " + str({_TOP})',
        f'"has_license: " + str({_license_expr(list(LICENSE_NAMES))}).lower()',
    ]
    code = _py(_save_md(' + "\\n" + '.join(lines) + ' + "\\n"'))
    args = {"path": ANSWER_MD, "repo_id": repo_id, "exclude_top_level": list(EXCLUDE), "exclude_hidden": True}
    return "hard", text, [_output("answer_md_kv", "oracle_bool", "answer_md_kv_matches", args)], [code]


_BUILDERS = [
    _task_top_level,
    _task_readme,
    _task_license,
    _task_dir_entries,
    _task_glob,
    _task_brace_glob,
    _task_md_contains,
    _task_token,
    _task_largest,
    _task_md_kv,
]


def tie_warnings(tasks: list[dict[str, Any]], snapshot_root: Path) -> list[str]:
    """One line per output with several right answers on this tree (a largest_file tie), for the task author."""
    lines = []
    for task in tasks:
        for out in task["outputs"]:
            call = OracleCall.model_validate(out["oracle"])
            if out["type"] != "oracle_bool" and hasattr(get_oracle(call.fn), "accepted_values"):
                accepted = run_oracle_accepted(call, snapshot_root)
                if len(accepted) > 1:
                    lines.append(tie_message(task["id"], out["key"], call.fn, accepted))
    return lines


def generate_l1_tasks(repo_id: str, snapshot_root: Path) -> list[dict[str, Any]]:
    """Ten task dicts (original YAML format plus `solution:`) for the tree at `snapshot_root`."""
    facts = inspect_tree(snapshot_root)
    tasks = []
    for number, build in enumerate(_BUILDERS, start=1):
        difficulty, text, outputs, solution = build(facts, repo_id)
        for command in solution:
            _check_command(command)
        max_commands, timeout = LIMITS[difficulty]
        tasks.append(
            {
                "id": f"{repo_id}_task_{number:03d}",
                "repo": repo_id,
                "difficulty": difficulty,
                "initial_working_dir": ".",
                "instruction": f"{text}\n{RULES}",
                "command_policy": full_policy(),
                "outputs": outputs,
                "max_commands": max_commands,
                "timeout_seconds": timeout,
                "solution": solution,
            }
        )
    return tasks
