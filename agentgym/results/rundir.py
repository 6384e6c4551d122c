"""The run folder (FORMATS.md layout). Every file is written atomically as its task finishes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentgym.fsutil import write_atomic
from agentgym.results.report import render_report, summarize
from agentgym.scrub import SCRUBBER, Scrubber
from agentgym.specs.result import TaskResult

ARTIFACT_FILES = ("answer.json", "answer.md")
ARTIFACT_MAX_BYTES = 16 << 20  # an artifact copy is bounded: the agent chose its size


def trial_name(result: TaskResult) -> str:
    """File/folder stem of a trial: the task id (FORMATS.md), plus `.epochN` for repeated epochs."""
    return result.task.id if result.epoch == 0 else f"{result.task.id}.epoch{result.epoch}"


def run_folder_name(model_id: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("_") or "model"
    return f"{safe}-{stamp}"


class RunDir:
    def __init__(self, root: Path, secrets: list[str]) -> None:
        self.root = root
        self._scrubber = Scrubber(secrets)  # plus the process-wide one (scrub.register)
        self.results: list[TaskResult] = []
        self._transcripts: dict[str, list[str]] = {}
        self.run_config: dict[str, Any] = {}
        for sub in ("results", "transcripts", "artifacts"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    @classmethod
    def create(cls, runs_root: Path, model_id: str, secrets: list[str]) -> RunDir:
        base = runs_root / run_folder_name(model_id)
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        return cls(path, secrets)

    def _scrub(self, text: str) -> str:
        return SCRUBBER(self._scrubber(text))

    def _copy_artifact(self, src: Path, dst: Path) -> None:
        """Copy what the agent wrote, at most ARTIFACT_MAX_BYTES, with secrets scrubbed."""
        with src.open("rb") as fh:
            data = fh.read(ARTIFACT_MAX_BYTES + 1)
        if len(data) > ARTIFACT_MAX_BYTES:
            data = data[:ARTIFACT_MAX_BYTES] + b"\n[... truncated by agentgym at %d bytes ...]\n" % ARTIFACT_MAX_BYTES
        write_atomic(dst, SCRUBBER.bytes(self._scrubber.bytes(data)))

    def _json(self, path: Path, obj: Any) -> None:
        write_atomic(path, self._scrub(json.dumps(obj, indent=2, ensure_ascii=False, default=str)) + "\n")

    def write_run_config(self, config: dict[str, Any]) -> None:
        self.run_config = config
        self._json(self.root / "results" / "run_config.json", config)

    def record(self, result: TaskResult, workspace_root: Path | None, events: list[dict[str, Any]]) -> None:
        """Persist one finished task: result JSON, repo index, artifacts, transcript lines, summary, report."""
        repo, stem = result.task.repo, trial_name(result)
        self.results.append(result)
        data = result.model_dump(mode="json")
        self._json(self.root / "results" / repo / f"{stem}.json", data)
        index = [
            {
                "task_id": r.task.id,
                "success": r.metrics.success,
                "score_0_100": r.metrics.score_0_100,
                "failure_reason": r.failure_reason,
                "epoch": r.epoch,
                "file": f"{trial_name(r)}.json",
            }
            for r in self.results
            if r.task.repo == repo
        ]
        self._json(self.root / "results" / repo / "index.json", {"repo_id": repo, "tasks": index})
        art = self.root / "artifacts" / repo / stem
        art.mkdir(parents=True, exist_ok=True)
        if workspace_root is not None:
            for name in ARTIFACT_FILES:
                src = workspace_root / "eval_artifacts" / name
                if src.is_file() and not src.is_symlink():
                    self._copy_artifact(src, art / name)
        self._json(
            art / "task_result.json",
            {
                "metrics": data["metrics"],
                "output_checks": data["output_checks"],
                "failure_reason": result.failure_reason,
            },
        )
        lines = self._transcripts.setdefault(repo, [])
        lines.extend(self._scrub(json.dumps(e, ensure_ascii=False, default=str)) for e in events)
        write_atomic(self.root / "transcripts" / f"{repo}.jsonl", "\n".join(lines) + "\n")
        self.write_summary()

    def write_summary(self, status: str = "running", error: str | None = None) -> None:
        summary = summarize(self.results, self.run_config, status=status, error=error)
        self._json(self.root / "results" / "summary.json", summary)
        write_atomic(self.root / "results" / "REPORT.md", self._scrub(render_report(summary, self.results)))


__all__ = ["RunDir", "run_folder_name"]
