"""The leaderboard's statistics: per model, mean score and success rate with 95% intervals and the minimum
detectable effect (agentgym.stats), and which models cannot be told apart (overlapping score intervals).

Several run folders of one model are pooled as extra epochs of the same tasks (each run's epochs are
renumbered), so a model run twice counts as two independent trials per task, not as a duplicate.
"""

from __future__ import annotations

import json
from typing import Any

from agentgym.results.leaderboard import _cell, _table
from agentgym.results.runsets import RunFolder, as_results
from agentgym.specs.result import TaskResult
from agentgym.stats.records import Estimate
from agentgym.stats.summary import ModelSummary, summarize_models
from agentgym.stats.usage import Prices

RUN_EPOCH_STRIDE = 10_000  # run i's epoch e becomes i * stride + e


def prices_of(run: RunFolder) -> Prices | None:
    """The model entry's prices, from the campaign manifest beside the run folder (None if unknown)."""
    try:
        data = json.loads((run.path.parent / "campaign.json").read_text(encoding="utf-8"))
        models = data["models"]
        index = next(i for i, m in enumerate(models) if m.get("folder") == run.path.name)
        entry = data["spec"]["models"][index]
    except (OSError, ValueError, KeyError, TypeError, StopIteration, IndexError):
        return None
    pin, pout = entry.get("price_per_million_input"), entry.get("price_per_million_output")
    return None if pin is None and pout is None else Prices(per_million_input=pin, per_million_output=pout)


def pooled(runs: list[RunFolder]) -> tuple[dict[str, list[TaskResult]], dict[str, Prices], dict[str, int]]:
    """Per model: its records (run i's epochs shifted by i x RUN_EPOCH_STRIDE), prices, and how many files
    could not be read as records."""
    records: dict[str, list[TaskResult]] = {}
    skipped: dict[str, int] = {}
    prices: dict[str, Prices] = {}
    seen: dict[str, int] = {}
    for run in runs:
        found, bad = as_results(run)
        skipped[run.model_id] = skipped.get(run.model_id, 0) + bad + run.skipped
        index = seen[run.model_id] = seen.get(run.model_id, -1) + 1
        shifted = [
            r.model_copy(update={"epoch": index * RUN_EPOCH_STRIDE + r.epoch, "model_id": run.model_id}) for r in found
        ]
        records.setdefault(run.model_id, []).extend(shifted)
        price = prices_of(run)
        if price is not None:
            prices.setdefault(run.model_id, price)
    return records, prices, skipped


def _overlaps(a: Estimate, b: Estimate) -> bool:
    if a.interval is None or b.interval is None:
        return True
    return a.interval.low <= b.interval.high and b.interval.low <= a.interval.high


def not_separable(summaries: dict[str, ModelSummary]) -> dict[str, list[str]]:
    """Per model, the models whose mean-score interval overlaps its own."""
    return {
        m: [o for o in summaries if o != m and _overlaps(s.overall.mean_score, summaries[o].overall.mean_score)]
        for m, s in summaries.items()
    }


def _est(e: Estimate, scale: float = 1.0, unit: str = "") -> str:
    if e.value is None:
        return "n/a"
    ci = f" [{e.interval.low * scale:.2f}, {e.interval.high * scale:.2f}]" if e.interval else ""
    return f"{e.value * scale:.2f}{unit}{ci}"


def _mde(e: Estimate, scale: float = 1.0) -> str:
    """The MDE in the table's units; beyond the whole 0-100 range it says so (too few tasks to tell anything)."""
    if e.mde is None:
        return "n/a"
    return "> 100" if e.mde * scale > 100 else f"±{e.mde * scale:.2f}"


HEADER = ["Model", "Tasks", "Trials", "Mean score [95% CI]", "MDE", "Success rate % [95% CI]", "MDE (pts)",
          "Infra errors", "Not separable from"]  # fmt: skip


def intervals_md(summaries: dict[str, ModelSummary], order: list[str]) -> str:
    apart = not_separable(summaries)
    rows = []
    for model in order:
        o = summaries[model].overall
        close = ", ".join(f"`{_cell(m)}`" for m in apart[model]) or "—"
        rows.append([f"`{_cell(model)}`", str(o.tasks), str(o.trials), _est(o.mean_score), _mde(o.mean_score),
                     _est(o.success_rate, 100), _mde(o.success_rate, 100), str(o.infra_errors), close])  # fmt: skip
    notes = [
        "Intervals: Wilson for single-epoch success, task-clustered t (T-1 degrees of freedom) otherwise. "
        "MDE: the smallest difference to another model of this many tasks that a two-sided 5% test finds with "
        "power 0.8. Models whose score intervals overlap are not separable on this task set.",
    ]
    return "\n".join(["# Leaderboard with 95% intervals", "", *_table(HEADER, rows), "", *notes, ""])


def stats_json(summaries: dict[str, ModelSummary]) -> dict[str, Any]:
    apart = not_separable(summaries)
    return {m: {**s.model_dump(mode="json"), "not_separable_from": apart[m]} for m, s in summaries.items()}


def board_statistics(runs: list[RunFolder]) -> dict[str, ModelSummary]:
    records, prices, _skipped = pooled(runs)
    return summarize_models(records, prices)


__all__ = ["board_statistics", "intervals_md", "not_separable", "pooled", "prices_of", "stats_json"]
