"""`agentgym publish RUN --out-root results`: the original's published layout (FORMATS.md, "Published results").

`<out_root>/<YYYYMMDD>/<model>/run_aggregate.json` = {"run_config", "report_markdown", "repos": {repo: {"tasks":
[per-task JSON, ...]}}} and `REPORT.md` beside it; with `raw=True` the run folder itself is copied to
`<out_root>/<YYYYMMDD>/<model>/<timestamp>/{results,transcripts,artifacts}/`. The date is the run folder's
UTC timestamp (today's if the name has none). A campaign folder publishes each of its models.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentgym.errors import SpecError
from agentgym.fsutil import write_atomic
from agentgym.results.runsets import RunFolder, find_runs

STAMP = re.compile(r"-(?P<day>\d{8})T(?P<time>\d{6})Z(?:-\d+)?$")
SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _day_and_stamp(folder: Path) -> tuple[str, str]:
    found = STAMP.search(folder.name)
    if found:
        return found["day"], f"{found['day']}T{found['time']}Z"
    now = datetime.now(UTC)
    return now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def aggregate(run: RunFolder) -> dict[str, Any]:
    try:
        config = json.loads(_read_text(run.path / "results" / "run_config.json") or "{}")
    except ValueError:
        config = {}
    repos: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for record in run.records:
        repos.setdefault(str(record["task"].get("repo", "")), {"tasks": []})["tasks"].append(record)
    return {"run_config": config, "report_markdown": _read_text(run.path / "results" / "REPORT.md"), "repos": repos}


def publish(paths: list[Path], out_root: Path, *, raw: bool = False) -> list[Path]:
    """Publish every run folder under `paths`; returns the `<day>/<model>` folders written."""
    written: list[Path] = []
    for run in find_runs(paths):
        day, stamp = _day_and_stamp(run.path)
        target = out_root / day / (SAFE.sub("_", run.model_id).strip("_") or "model")
        if target in written:
            raise SpecError(f"{run.path}: a second run of {run.model_id} on {day} (publish one run per model and day)")
        data = aggregate(run)
        write_atomic(target / "run_aggregate.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        write_atomic(target / "REPORT.md", data["report_markdown"])
        if raw:
            for sub in ("results", "transcripts", "artifacts"):
                if (run.path / sub).is_dir():
                    shutil.copytree(run.path / sub, target / stamp / sub, symlinks=True, dirs_exist_ok=True)
        written.append(target)
    return written


__all__ = ["aggregate", "publish"]
