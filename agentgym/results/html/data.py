"""The report's data: one JSON-able dict the page renders (leaderboard with intervals and MDE, per-repo
heatmap, failure reasons, tokens and cost, the task × model grid, comparisons with flipped tasks, trial views).

A column is one run folder (one model); statistics come from agentgym.stats (task-clustered intervals,
Wilson for single-epoch proportions, paired comparison)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentgym.results.board_stats import not_separable, prices_of
from agentgym.results.html.bound import TOTAL_CAP, bound, json_size
from agentgym.results.html.trials import trial_view
from agentgym.results.rundir import trial_stem
from agentgym.results.runsets import RunFolder, as_results
from agentgym.specs.result import TaskResult
from agentgym.stats.grouping import latest_attempts
from agentgym.stats.paired import Comparison, compare
from agentgym.stats.records import Estimate
from agentgym.stats.summary import ModelSummary, summarize_models
from agentgym.stats.usage import Prices


@dataclass
class Column:
    """One run folder as a column of the report."""

    label: str
    path: Path
    results: list[TaskResult]
    skipped: int = 0
    summary: dict[str, Any] | None = None  # the run's summary.json
    prices: Prices | None = None
    run_id: str = ""  # the viewer's id of the run folder ("" in a file report)
    campaign: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes()) if path.is_file() and path.stat().st_size < 2**24 else None
    except (OSError, ValueError, RecursionError):
        return None


def columns_of(runs: list[RunFolder], run_ids: dict[Path, str] | None = None) -> list[Column]:
    """Columns for run folders; a label used twice gets its folder name."""
    counts: dict[str, int] = defaultdict(int)
    for run in runs:
        counts[run.model_id] += 1
    cols = []
    for run in runs:
        label = run.model_id if counts[run.model_id] == 1 else f"{run.model_id} ({run.path.name})"
        results, bad = as_results(run)
        results = [r.model_copy(update={"model_id": label}) for r in latest_attempts(results)]
        summary = _read_json(run.path / "results" / "summary.json")
        cols.append(
            Column(
                label=label,
                path=run.path,
                results=results,
                skipped=run.skipped + bad,
                summary=summary if isinstance(summary, dict) else None,
                prices=prices_of(run),
                run_id=(run_ids or {}).get(run.path, ""),
                campaign=run.campaign,
            )
        )
    return cols


def _estimate(e: Estimate, scale: float = 1.0) -> dict[str, Any]:
    iv = e.interval
    return {
        "value": None if e.value is None else e.value * scale,
        "low": None if iv is None else iv.low * scale,
        "high": None if iv is None else iv.high * scale,
        "method": None if iv is None else iv.method,
        "mde": None if e.mde is None else e.mde * scale,
        "tasks": e.tasks,
        "trials": e.trials,
    }


SUMMARY_KEYS = ("status", "tasks_finished", "tasks_planned", "avg_score", "success_rate", "infra_errors",
                "prompt_tokens", "completion_tokens", "sandbox", "agent", "run_id")  # fmt: skip


def _model_row(col: Column, s: ModelSummary) -> dict[str, Any]:
    trials = max(s.overall.trials, 1)
    return {
        "label": col.label,
        "folder": col.path.name,
        "run_id": col.run_id,
        "campaign": col.campaign,
        "skipped": col.skipped,
        "summary": {k: (col.summary or {}).get(k) for k in SUMMARY_KEYS} if col.summary else None,
        "trials": s.overall.trials,
        "tasks": s.overall.tasks,
        "epochs": [s.overall.epochs_min, s.overall.epochs_max],
        "infra_errors": s.overall.infra_errors,
        "mean_score": _estimate(s.overall.mean_score),
        "success_rate": _estimate(s.overall.success_rate, 100.0),
        "mean_score_excluding_infra": _estimate(s.overall.mean_score_excluding_infra),
        "pass_at_k": {str(k): _estimate(v, 100.0) for k, v in s.overall.pass_at_k.items()},
        "tokens": s.tokens.model_dump(),
        "tokens_per_trial": (s.tokens.prompt + s.tokens.completion) / trials,
        "cost_usd": s.cost_usd,
        "latency": s.latency.model_dump(),
        "tool_quality": s.tool_quality.model_dump(),
        "failure_reasons": s.failure_reasons,
        "per_repo": {
            repo: {
                "mean_score": _estimate(g.mean_score),
                "success_rate": _estimate(g.success_rate, 100.0),
                "tasks": g.tasks,
            }
            for repo, g in s.per_repo.items()
        },
    }


def trial_id(col: int, result: TaskResult) -> str:
    return f"{col}~{result.task.repo}/{trial_stem(result.task.id, result.epoch)}"


def _grid(cols: list[Column]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    tasks: dict[tuple[str, str], dict[str, Any]] = {}
    trials: dict[str, dict[str, Any]] = {}
    for i, col in enumerate(cols):
        for r in sorted(col.results, key=lambda r: (r.task.repo, r.task.id, r.epoch)):
            tid = trial_id(i, r)
            trials[tid] = {
                "label": col.label, "col": i, "run_id": col.run_id, "repo": r.task.repo, "task": r.task.id,
                "epoch": r.epoch, "score": r.metrics.score_0_100, "success": r.metrics.success,
                "failure_reason": r.failure_reason, "stem": trial_stem(r.task.id, r.epoch),
            }  # fmt: skip
            row = tasks.setdefault(
                (r.task.repo, r.task.id),
                {
                    "key": f"{r.task.repo}/{r.task.id}",
                    "repo": r.task.repo,
                    "task": r.task.id,
                    "difficulty": r.task.difficulty,
                    "cells": {},
                },
            )
            cell = row["cells"].setdefault(col.label, {"trials": [], "scores": [], "successes": 0, "reasons": []})
            cell["trials"].append(tid)
            cell["scores"].append(r.metrics.score_0_100)
            cell["successes"] += int(r.metrics.success)
            if r.failure_reason:
                cell["reasons"].append(r.failure_reason)
    for row in tasks.values():
        for cell in row["cells"].values():
            cell["score"] = sum(cell["scores"]) / len(cell["scores"])
            cell["success"] = cell["successes"] / len(cell["scores"])
    return [tasks[k] for k in sorted(tasks)], trials


def _comparison(base: int, cand: int, cols: list[Column], c: Comparison, s: Comparison) -> dict[str, Any]:
    def trials_of(col: int, key: str) -> list[str]:
        return [trial_id(col, r) for r in cols[col].results if f"{r.task.repo}/{r.task.id}" == key]

    def flips(keys: list[str]) -> list[dict[str, Any]]:
        return [{"task": k, "base": trials_of(base, k), "candidate": trials_of(cand, k)} for k in keys]

    def part(x: Comparison, scale: float) -> dict[str, Any]:
        iv = x.interval
        return {
            "method": x.method, "difference": None if x.difference is None else x.difference * scale,
            "low": None if iv is None else iv.low * scale, "high": None if iv is None else iv.high * scale,
            "p_value": x.p_value, "mde": None if x.mde is None else x.mde * scale, "verdict": x.verdict,
            "reason": x.reason, "significant": x.significant,
        }  # fmt: skip

    return {
        "base": cols[base].label,
        "candidate": cols[cand].label,
        "shared_tasks": c.shared_tasks,
        "correlation": c.correlation,
        "score": part(c, 1.0),
        "success": part(s, 100.0),
        "solved_to_failed": flips(c.solved_to_failed),
        "failed_to_solved": flips(c.failed_to_solved),
        "base_only": c.base_only,
        "candidate_only": c.candidate_only,
    }


def comparisons(cols: list[Column], pairs: list[tuple[int, int]]) -> list[dict[str, Any]]:
    out = []
    for b, c in pairs:
        score = compare(cols[b].results, cols[c].results, quantity="score")
        success = compare(cols[b].results, cols[c].results, quantity="success")
        out.append(_comparison(b, c, cols, score, success))
    return out


def transcripts(cols: list[Column], cap: int = TOTAL_CAP) -> tuple[dict[str, Any], int]:
    """Every trial's view while the total stays under cap; the number of trials left out."""
    views: dict[str, Any] = {}
    used, omitted = 0, 0
    for i, col in enumerate(cols):
        for r in col.results:
            view = trial_view(col.path, r)
            size = json_size(view)
            if used + size > cap:
                omitted += 1
                continue
            views[trial_id(i, r)] = view
            used += size
    return views, omitted


def report_data(
    cols: list[Column], *, title: str, pairs: list[tuple[int, int]] | None = None, embed_transcripts: bool = True
) -> dict[str, Any]:
    """The page's data. pairs: (base, candidate) column indexes to compare (default: every other column
    against the best-ranked one)."""
    summaries = summarize_models({c.label: c.results for c in cols}, {c.label: c.prices for c in cols if c.prices})
    rows = [_model_row(c, summaries[c.label]) for c in cols]
    rows.sort(key=lambda r: (-(r["mean_score"]["value"] or 0.0), r["label"]))
    apart = not_separable(summaries)
    for row in rows:
        row["not_separable_from"] = apart[row["label"]]
    grid, trials = _grid(cols)
    if pairs is None:  # every other model against the best-ranked one
        best = next(i for i, c in enumerate(cols) if c.label == rows[0]["label"]) if rows else 0
        pairs = [(best, i) for i in range(len(cols)) if i != best]
    views, omitted = transcripts(cols) if embed_transcripts else ({}, 0)
    data = bound(
        {
            "title": title,
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "sources": [str(c.path) for c in cols],
            "skipped": sum(c.skipped for c in cols),
            "models": rows,
            "columns": [c.label for c in cols],
            "repos": sorted({r.task.repo for c in cols for r in c.results}),
            "grid": grid,
            "trials": trials,
            "comparisons": comparisons(cols, pairs),
            "transcripts_omitted": omitted,
            "lazy_transcripts": not embed_transcripts,
        },
        cap=4096,  # labels, paths and reasons
    )
    data["transcripts"] = views  # bounded per trial already (16 KiB per string, TOTAL_CAP in all)
    return data


__all__ = ["Column", "columns_of", "comparisons", "report_data", "trial_id"]
