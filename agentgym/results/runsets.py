"""Find run folders under the paths a user gives (a run folder, a campaign folder, or a runs root) and read
their per-task records as the original's leaderboard does (FORMATS.md): every
`<run>/results/<repo>/*.json` except index.json; the model id is the folder name up to its last `-`
(our `<model>-<YYYYMMDDTHHMMSSZ>[-N]` names lose the whole timestamp).

Records are read leniently (the original's records lack our extension fields): a file that does not parse as
a JSON object with `task` and `metrics` is skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.errors import SpecError
from agentgym.specs.result import TaskResult

STAMP = re.compile(r"^(?P<model>.+)-\d{8}T\d{6}Z(?:-\d+)?$")
BARE_STAMP = re.compile(r"^\d{8}T\d{6}Z$")
MAX_DEPTH = 3  # runs root → campaign or published day → model → timestamp
MAX_RECORD_BYTES = 64 * 2**20  # a per-task JSON larger than this is not a record we wrote


@dataclass
class RunFolder:
    path: Path
    model_id: str
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # files that were not readable records

    @property
    def campaign(self) -> str | None:
        return self.path.parent.name if (self.path.parent / "campaign.json").is_file() else None


def model_id_of(folder: Path) -> str:
    """The model id of a run folder: ours drop the timestamp; others, as v1, the name up to its last '-'; a
    published raw copy (`<day>/<model>/<timestamp>/`) is its parent's name."""
    if BARE_STAMP.match(folder.name):
        return folder.parent.name
    found = STAMP.match(folder.name)
    if found:
        return found["model"]
    head, sep, _tail = folder.name.rpartition("-")
    return head if sep and head else folder.name


def is_run_folder(path: Path) -> bool:
    return (path / "results").is_dir() and not (path / "campaign.json").is_file()


def _read_record_file(path: Path, limit: int = MAX_RECORD_BYTES * 16) -> Any:
    try:
        if path.stat().st_size > limit:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def _read_record(path: Path) -> dict[str, Any] | None:
    data = _read_record_file(path, MAX_RECORD_BYTES)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("task"), dict)
        or not isinstance(data.get("metrics"), dict)
    ):
        return None
    return data


def read_run(path: Path) -> RunFolder:
    run = RunFolder(path, model_id_of(path))
    for file in sorted((path / "results").glob("*/*.json")):
        if file.name == "index.json" or file.name.startswith("."):
            continue
        record = _read_record(file)
        if record is None:
            run.skipped += 1
        else:
            record.setdefault("task", {}).setdefault("repo", file.parent.name)
            run.records.append(record)
    return run


def read_published(path: Path) -> RunFolder:
    """A published model folder (`<day>/<model>/run_aggregate.json`, FORMATS.md) as a run."""
    run = RunFolder(path, path.name)
    data = _read_record_file(path / "run_aggregate.json")
    repos = data.get("repos") if isinstance(data, dict) else None
    for repo, body in (repos or {}).items():
        tasks = body.get("tasks") if isinstance(body, dict) else None
        for record in tasks if isinstance(tasks, list) else []:
            if (
                isinstance(record, dict)
                and isinstance(record.get("task"), dict)
                and isinstance(record.get("metrics"), dict)
            ):
                record["task"].setdefault("repo", repo)
                run.records.append(record)
            else:
                run.skipped += 1
    return run


def _walk(folder: Path, depth: int) -> list[RunFolder]:
    if (folder / "run_aggregate.json").is_file():
        return [read_published(folder)]  # its raw copy, if any, is the same records
    if is_run_folder(folder):
        return [read_run(folder)]
    if depth >= MAX_DEPTH:
        return []
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    return [run for sub in subs for run in _walk(sub, depth + 1)]


def find_runs(paths: list[Path]) -> list[RunFolder]:
    """Every run folder (or published model folder) under the given paths, in a stable order; a path with
    none is one clear error."""
    found: dict[Path, RunFolder] = {}
    for given in paths:
        if not given.is_dir():
            raise SpecError(f"{given}: not a folder (give run folders, campaign folders or a runs root)")
        runs = _walk(given, 0)
        if not runs:
            raise SpecError(f"{given}: no run folder here (a run folder holds results/<repo>/<task>.json)")
        for run in runs:
            found.setdefault(run.path.resolve(), run)
    return list(found.values())


TASK_DEFAULTS: dict[str, Any] = {"difficulty": "", "limits": {}, "instruction": "", "policy": {}, "content_hash": ""}
METRIC_DEFAULTS: dict[str, Any] = {"partial_score": 0.0, "score_0_100": 0.0, "commands_used": 0,
                                   "command_valid_rate": 0.0, "safety_violations": 0, "hallucination_signals": 0}  # fmt: skip


def as_result(record: dict[str, Any]) -> TaskResult | None:
    """A record as a TaskResult, the fields an original (v1) record lacks filled with neutral defaults;
    None when it still does not validate."""
    data = {"output_checks": [], "transcript": {}, **record}
    data["task"] = {**TASK_DEFAULTS, **(record.get("task") or {})}
    data["metrics"] = {"success": False, **METRIC_DEFAULTS, **(record.get("metrics") or {})}
    try:
        return TaskResult.model_validate(data)
    except ValueError:
        return None


def as_results(run: RunFolder) -> tuple[list[TaskResult], int]:
    """The run's records as TaskResults, and how many could not be read as one."""
    found = [as_result(r) for r in run.records]
    return [r for r in found if r is not None], sum(1 for r in found if r is None)


__all__ = [
    "RunFolder",
    "as_result",
    "as_results",
    "find_runs",
    "is_run_folder",
    "model_id_of",
    "read_published",
    "read_run",
]
