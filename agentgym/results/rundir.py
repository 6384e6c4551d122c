"""The run folder (FORMATS.md layout). A trial's own files (result JSON, artifacts, task_result.json, transcript
lines) are written atomically as it finishes; the transcript JSONL is appended to (results/transcript.py).
The derived files (each repo's index.json, summary.json, REPORT.md) are rebuilt from all records: after the
first record, then at most every 2 s (or less often, so that rebuilding them takes ≤ 5% of the time), and
always by `write_summary` (the scheduler calls it at start, end and interrupt): n trials cost O(n), not O(n²)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentgym.errors import SpecError
from agentgym.fsutil import write_atomic
from agentgym.oracles.agentfile import read_agent_file
from agentgym.results.report import render_report, summarize
from agentgym.results.runlock import hold_run_lock, mark_dead_runs
from agentgym.results.transcript import TrialEventFile, append_lines, compact
from agentgym.scrub import SCRUBBER, Scrubber
from agentgym.specs.result import TaskResult
from agentgym.textsafe import for_terminal

ARTIFACT_FILES = ("answer.json", "answer.md")
DERIVED_EVERY_S = 2.0  # derived files at most this often while a run goes on ...
DERIVED_SHARE = 0.05  # ... and at most this share of the time
TrialKey = tuple[str, str, int]  # (repo, task id, epoch)
HARNESS_FILES = ("patch.diff",)  # written by the harness (edit tasks), never copied from the agent's tree


def trial_name(result: TaskResult) -> str:
    """File/folder stem of a trial: the task id (FORMATS.md), plus `.epochN` for repeated epochs."""
    return trial_stem(result.task.id, result.epoch)


def trial_stem(task_id: str, epoch: int) -> str:
    return task_id if epoch == 0 else f"{task_id}.epoch{epoch}"


def run_folder_name(model_id: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("_") or "model"
    return f"{safe}-{stamp}"


def _copy_artifact(workspace_root: Path, name: str, art: Path, clean: Callable[[bytes], bytes]) -> None:
    """Copy an answer file the agent wrote: in-tree regular files only, at most 1 MiB (a cut is noted),
    secrets scrubbed."""
    found = read_agent_file(workspace_root, f"eval_artifacts/{name}", follow_links=False, prefix=True)
    if found.ok:
        _write_artifact(art, name, found.data, found.size, clean)


def _write_artifact(art: Path, name: str, data: bytes, size: int, clean: Callable[[bytes], bytes]) -> None:
    """An answer file as bytes (`size`: the file's own size; a cut is noted), secrets scrubbed."""
    write_atomic(art / name, clean(data))
    if size > len(data):
        note = f"{name} was {size} bytes; only the first {len(data)} were copied.\n"
        (art / f"{name}.truncated.txt").write_text(note, encoding="utf-8")


def load_records(root: Path) -> list[TaskResult]:
    """The per-task JSON records of a run folder that parse (a missing or broken one is simply not there)."""
    found: list[TaskResult] = []
    for path in sorted((root / "results").glob("*/*.json")):
        if path.name == "index.json" or path.name.startswith("."):
            continue
        with contextlib.suppress(OSError, ValueError):
            found.append(TaskResult.model_validate_json(path.read_bytes()))
    return found


def is_finished(result: TaskResult) -> bool:
    """A record that counts as done: anything but an infra error (which a resume runs again)."""
    return result.failure_reason != "infra_error"


class RunDir:
    def __init__(self, root: Path, secrets: list[str], *, resumed: bool = False) -> None:
        self.root = root
        self.resumed = resumed  # an existing folder: keep its run_config.json and finished records
        self._scrubber = Scrubber(secrets)  # plus the process-wide one (scrub.register)
        self._results: dict[TrialKey, TaskResult] = {}  # one per trial key, in the order last recorded
        self._dirty: set[str] = set()  # repos whose index.json is behind
        self._next_derived = 0.0  # monotonic time after which record() rebuilds the derived files
        self._recorded = False  # the first record always rebuilds them
        self._lock = threading.RLock()  # record() runs in worker threads (runner/scheduler.py)
        self.run_config: dict[str, Any] = {}
        for sub in ("results", "transcripts", "artifacts"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self._lock_fd = hold_run_lock(root)  # held for the run's life: tells later runs this one is alive

    @classmethod
    def create(cls, runs_root: Path, model_id: str, secrets: list[str]) -> RunDir:
        mark_dead_runs(runs_root)
        base = runs_root / run_folder_name(model_id)
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        return cls(path, secrets)

    @classmethod
    def open(cls, root: Path, secrets: list[str]) -> RunDir:
        """Reopen an existing run folder (resume): nothing is wiped; its finished records are loaded."""
        mark_dead_runs(root.parent)
        try:
            rundir = cls(root, secrets, resumed=True)
        except BlockingIOError:
            raise SpecError(f"--resume: run folder {root} is in use by a live run") from None
        for stale in root.rglob(".*.tmp"):  # a write cut by a crash (ours, under the lock, are renamed or gone)
            stale.unlink(missing_ok=True)
        rundir.results = load_records(root)
        with contextlib.suppress(OSError, ValueError):
            rundir.run_config = json.loads((root / "results" / "run_config.json").read_text(encoding="utf-8"))
        return rundir

    @property
    def results(self) -> list[TaskResult]:
        with self._lock:
            return list(self._results.values())

    @results.setter
    def results(self, records: list[TaskResult]) -> None:
        with self._lock:
            self._results = {}
            for r in records:
                self._put(r)

    def _put(self, result: TaskResult) -> None:
        key = (result.task.repo, result.task.id, result.epoch)
        self._results.pop(key, None)  # a rerun (resume, --retry-infra) replaces the record, moved to the end
        self._results[key] = result
        self._dirty.add(result.task.repo)

    def _scrub(self, text: str) -> str:
        return SCRUBBER(self._scrubber(text))

    def _scrub_bytes(self, data: bytes) -> bytes:
        return SCRUBBER.bytes(self._scrubber.bytes(data))

    def _json(self, path: Path, obj: Any) -> None:
        write_atomic(path, self._scrub(json.dumps(obj, indent=2, ensure_ascii=False, default=str)) + "\n")

    def write_run_config(self, config: dict[str, Any]) -> None:
        """Record the run's settings; a resumed folder keeps the file its first run wrote."""
        self.run_config = config
        if self.resumed and (self.root / "results" / "run_config.json").is_file():
            return
        self._json(self.root / "results" / "run_config.json", config)

    def open_trial_events(self, repo: str, task_id: str, epoch: int) -> TrialEventFile:
        """The trial's own event file, appended to as the trial goes: `transcripts/<repo>/<trial>.events.jsonl`."""
        return TrialEventFile(
            self.root / "transcripts" / repo / f"{trial_stem(task_id, epoch)}.events.jsonl", self._scrub
        )

    def record(
        self,
        result: TaskResult,
        workspace_root: Path | None,
        events: list[dict[str, Any]],
        *,
        artifacts: dict[str, tuple[bytes, int]] | None = None,
    ) -> None:
        """Persist one finished task: result JSON, repo index, artifacts, transcript lines, summary, report.
        `artifacts`: answer files as (bytes, original size) by name, for a trial run without a host workspace
        here (runner/ray_job.py); otherwise they are copied from `workspace_root`. The per-trial files are
        written at once, the derived ones (index, summary, report) when due. Thread-safe: the scheduler calls
        it from worker threads."""
        with self._lock:
            self._record(result, workspace_root, events, artifacts)

    def _record(
        self,
        result: TaskResult,
        workspace_root: Path | None,
        events: list[dict[str, Any]],
        artifacts: dict[str, tuple[bytes, int]] | None,
    ) -> None:
        repo, stem = result.task.repo, trial_name(result)
        self._put(result)
        data = result.model_dump(mode="json")
        self._json(self.root / "results" / repo / f"{stem}.json", data)
        art = self.root / "artifacts" / repo / stem
        art.mkdir(parents=True, exist_ok=True)
        if workspace_root is not None:
            for name in ARTIFACT_FILES:
                _copy_artifact(workspace_root, name, art, self._scrub_bytes)
        for name, (content, size) in (artifacts or {}).items():
            if name in ARTIFACT_FILES + HARNESS_FILES:
                _write_artifact(art, name, content, size, self._scrub_bytes)
        self._json(
            art / "task_result.json",
            {
                "metrics": data["metrics"],
                "output_checks": data["output_checks"],
                "failure_reason": result.failure_reason,
            },
        )
        lines = [self._scrub(json.dumps(e, ensure_ascii=False, default=str)) for e in compact(events)]
        append_lines(self.root / "transcripts" / f"{repo}.jsonl", lines)
        if not self._recorded or time.monotonic() >= self._next_derived:
            self._recorded = True
            self.write_summary()

    def _write_index(self, repo: str) -> None:
        index = [
            {
                "task_id": r.task.id,
                "success": r.metrics.success,
                "score_0_100": r.metrics.score_0_100,
                "failure_reason": r.failure_reason,
                "epoch": r.epoch,
                "file": f"{trial_name(r)}.json",
            }
            for r in self._results.values()
            if r.task.repo == repo
        ]
        self._json(self.root / "results" / repo / "index.json", {"repo_id": repo, "tasks": index})

    def write_summary(self, status: str = "running", error: str | None = None) -> None:
        """Rebuild the derived files now: every repo index that is behind, summary.json and REPORT.md."""
        with self._lock:
            self._write_summary(status, error)

    def _write_summary(self, status: str, error: str | None) -> None:
        t0 = time.monotonic()
        for repo in sorted(self._dirty):
            self._write_index(repo)
        self._dirty.clear()
        results = self.results
        summary = summarize(results, self.run_config, status=status, error=error)
        self._json(self.root / "results" / "summary.json", summary)
        report = self._scrub(render_report(summary, results))  # read in terminals: no control characters
        write_atomic(self.root / "results" / "REPORT.md", "\n".join(for_terminal(x, 10**6) for x in report.split("\n")))
        spent = time.monotonic() - t0
        self._next_derived = time.monotonic() + max(DERIVED_EVERY_S, spent / DERIVED_SHARE)

    def close(self) -> None:
        """Release the run's lock (the process exiting does it too)."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


__all__ = ["RunDir", "is_finished", "load_records", "run_folder_name", "trial_name", "trial_stem"]
