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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from agentgym.errors import AgentGymError
from agentgym.oracles.builtin import LICENSE_NAMES, iter_files
from agentgym.oracles.registry import get_oracle, run_oracle_accepted
from agentgym.scoring.checks import tie_message
from agentgym.specs.task import OracleCall

DEFAULT_ALLOWED = ["ls", "pwd", "cd", "cat", "head", "tail", "wc", "grep", "rg", "sed", "python", "python3", "pytest"]
EXTRA_ALLOWED = [
    *("find", "echo", "mkdir", "sort", "uniq", "du", "stat", "tr", "cut", "awk", "xargs"),
    *("basename", "dirname", "file", "git", "tree", "printf", "test"),
]
PROHIBITED = ["rm", "sudo", "curl", "wget", "ssh", "scp", "dd", "mkfs", "mount", "umount", "chmod", "chown"]
WRITE_PATHS = ["eval_artifacts/", "/tmp/"]
EXCLUDE = [".git", "eval_artifacts"]
ANSWER_JSON = "eval_artifacts/answer.json"
ANSWER_MD = "eval_artifacts/answer.md"
LICENSE_CANDIDATES = ["LICENSE", "LICENSE.md", "LICENSE.txt", "COPYING"]
KEY_ORDER = [
    *("id", "repo", "difficulty", "initial_working_dir", "instruction", "command_policy"),
    *("outputs", "max_commands", "timeout_seconds", "solution"),
]
LIMITS = {"easy": (10, 120), "medium": (12, 180), "hard": (15, 300)}
FALLBACK_EXTS = ["md", "txt", "json", "yml", "yaml", "toml", "cfg", "sh"]
README_PREFERENCE = ["README.md", "README.rst", "README.txt", "README"]
Built = tuple[str, str, list[dict[str, Any]], list[str]]  # difficulty, instruction, outputs, solution
RULES = "Work from the repository root. Leave .git/ and eval_artifacts/ out of every count."
_FILE_RULE = (
    "A file is a regular file, or a symlink to a regular file inside the repository (counted under the "
    "link's own path, with its target's size); symlinked directories are not entered."
)

_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_ .,:/+#@=*-]*$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_EXT = re.compile(r"^[A-Za-z0-9]{1,10}$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,23}")
_TOKEN_SCAN_FILES = 2000
_TOKEN_SCAN_BYTES = 20_000_000
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


def mentions_word(text: str, word: str) -> bool:
    """Whether `word` occurs in `text` as a whole word (case-insensitive, to be conservative)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", text, re.IGNORECASE) is not None


def _clean_word(text: str) -> bool:
    return not any(mentions_word(text, word) for word in PROHIBITED)


def _check_command(command: str) -> None:
    first = shlex.split(command)[0]
    if first not in full_policy()["allowed"] or not _clean_word(command):
        raise ValueError(f"generated solution breaks the command policy: {command[:80]}")


# ----------------------------------------------------------------------------------------------- python code


def _lit(text: str) -> str:
    """A Python expression for `text` that adds no quote and no prohibited word to a command."""
    if _SAFE_TEXT.match(text) and _clean_word(text):
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


@dataclass(frozen=True)
class RepoFacts:
    """What the generator needs to know about a tree to pick arguments."""

    files: list[tuple[str, int]]
    top_dirs: list[str]
    top_files: list[str]
    readme: str
    exts: list[str]
    subdir: str
    token: str


def _is_text(root: Path, rel: str, size: int, limit: int = 1_000_000) -> bool:
    if size == 0 or size > limit:
        return False
    try:
        return b"\x00" not in (root / rel).read_bytes()
    except OSError:
        return False


def _pick_readme(root: Path, files: list[tuple[str, int]], top_files: list[str]) -> str:
    ranked = [n for n in README_PREFERENCE if n in top_files]
    ranked += sorted(n for n in top_files if n.lower().startswith("readme") and n not in ranked)
    sizes = dict(files)
    for name in [*ranked, *sorted(top_files), *sorted(sizes)]:
        if name in sizes and _is_text(root, name, sizes[name]):
            return name
    raise AgentGymError(f"{root}: no non-empty text file to ask about; cannot generate tasks")


def _rank_exts(files: list[tuple[str, int]]) -> list[str]:
    counts = Counter(PurePosixPath(rel).suffix[1:] for rel, _ in files)
    usable = [e for e in counts if _EXT.match(e) and _clean_word(e)]
    return sorted(usable, key=lambda e: (-counts[e], e))


def _entry_count(path: Path) -> int:
    try:
        return sum(1 for child in path.iterdir() if not child.name.startswith("."))
    except OSError:
        return -1


def _pick_subdir(root: Path, top_dirs: list[str]) -> str:
    candidates = [d for d in top_dirs if _SAFE_NAME.match(d) and _clean_word(d)]
    if not candidates:
        return "."
    return min(candidates, key=lambda d: (-_entry_count(root / d), d))


def _pick_token(root: Path, files: list[tuple[str, int]]) -> str:
    counts: Counter[str] = Counter()
    budget = _TOKEN_SCAN_BYTES
    for rel, size in sorted(files)[:_TOKEN_SCAN_FILES]:
        if budget <= 0:
            break
        if _is_text(root, rel, size):
            budget -= size
            counts.update(_IDENT.findall((root / rel).read_bytes().decode("utf-8", "ignore")))
    usable = [t for t in counts if _clean_word(t)]
    return min(usable, key=lambda t: (-counts[t], t)) if usable else "TODO"


def _top_entries(root: Path) -> tuple[list[str], list[str]]:
    dirs, files = [], []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or child.name in EXCLUDE or child.is_symlink():
            continue
        if child.is_dir():
            dirs.append(child.name)
        elif child.is_file():
            files.append(child.name)
    return dirs, files


def inspect_tree(root: Path) -> RepoFacts:
    """Look at a snapshot once and gather what the tasks ask about."""
    files = sorted(iter_files(root, EXCLUDE))
    top_dirs, top_files = _top_entries(root)
    return RepoFacts(
        files=files,
        top_dirs=top_dirs,
        top_files=top_files,
        readme=_pick_readme(root, files, top_files),
        exts=_rank_exts(files),
        subdir=_pick_subdir(root, top_dirs),
        token=_pick_token(root, files),
    )


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


# ----------------------------------------------------------------------------------------------- writing


_LONG_LINE = 100


class _TaskDumper(yaml.SafeDumper):
    """Block style for multi-line and long strings, so instructions and commands read naturally."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value or len(value) > _LONG_LINE else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list_representer(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    short = all(isinstance(item, str) and "\n" not in item and len(item) < 40 for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=short)


_TaskDumper.add_representer(str, _str_representer)
_TaskDumper.add_representer(list, _list_representer)


def _ordered(task: dict[str, Any]) -> dict[str, Any]:
    known = {key: task[key] for key in KEY_ORDER if key in task}
    return {**known, **{k: v for k, v in task.items() if k not in known}}


def write_tasks(tasks: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write `task_001.yaml`, `task_002.yaml`, ... into `out_dir`; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, task in enumerate(tasks, start=1):
        path = out_dir / f"task_{number:03d}.yaml"
        text = yaml.dump(_ordered(task), Dumper=_TaskDumper, sort_keys=False, allow_unicode=True, width=1_000_000)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
