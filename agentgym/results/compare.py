"""`agentgym compare BASE CANDIDATE`: pick each side's records (a run folder, a campaign folder's model, a
published model folder) and compare them with agentgym.stats.paired; render the comparison as text.

A side is `PATH` or `PATH#MODEL`: PATH's run folders are grouped by model id; with several models there,
`#MODEL` says which (otherwise one clear error lists them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentgym.errors import SpecError
from agentgym.results.board_stats import pooled
from agentgym.results.runsets import find_runs
from agentgym.specs.result import TaskResult
from agentgym.stats.paired import Comparison, Quantity, compare

FAIL_ON = ("never", "regression", "change")


@dataclass
class Side:
    label: str  # what the user gave
    model_id: str
    records: list[TaskResult]
    skipped: int


def load_side(given: str) -> Side:
    path_text, sep, model = given.rpartition("#") if "#" in given else (given, "", "")
    runs = find_runs([Path(path_text)])
    models = sorted({r.model_id for r in runs})
    if sep and model not in models:
        raise SpecError(f"{given}: no model '{model}' there (models: {', '.join(models)})")
    if not sep and len(models) > 1:
        raise SpecError(f"{given}: {len(models)} models here ({', '.join(models)}); say which as {path_text}#MODEL")
    chosen = model if sep else models[0]
    mine = [run for run in runs if run.model_id == chosen]
    by_model, _prices, skipped = pooled(mine)  # several runs of one model: extra epochs, as the leaderboard
    records = by_model.get(chosen, [])
    return Side(given, chosen, records, skipped.get(chosen, 0))


def run_compare(
    base: str, candidate: str, *, quantity: Quantity = "score", min_effect: float | None = None, seed: int = 0
) -> tuple[Side, Side, Comparison]:
    b, c = load_side(base), load_side(candidate)
    if not b.records or not c.records:
        empty = b if not b.records else c
        raise SpecError(f"{empty.label}: no readable records")
    return b, c, compare(b.records, c.records, quantity=quantity, min_effect=min_effect, seed=seed)


def exit_code(result: Comparison, fail_on: str) -> int:
    """1 when the gate trips: a significant regression (`regression`) or any significant change (`change`)."""
    if fail_on == "regression":
        return 1 if result.verdict == "regression" else 0
    if fail_on == "change":
        return 1 if result.verdict in ("regression", "improvement") else 0
    return 0


def _fmt(value: float | None, quantity: Quantity, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    if quantity == "success":
        return f"{value * 100:+.1f} pts" if signed else f"{value * 100:.1f}%"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def render(b: Side, c: Side, r: Comparison) -> list[str]:
    """Plain-text lines (the caller escapes them for the terminal)."""
    q = r.quantity
    lines = [f"base: {b.label} ({b.model_id}, {len(b.records)} record(s))",
             f"candidate: {c.label} ({c.model_id}, {len(c.records)} record(s))", ""]  # fmt: skip
    lines.append(f"{'task':<48} {'base':>8} {'cand':>8} {'delta':>8}  flip")
    flips = {t: "solved → failed" for t in r.solved_to_failed} | {t: "failed → solved" for t in r.failed_to_solved}
    for d in r.deltas:
        name = f"{d.repo}/{d.task}"
        lines.append(
            f"{name[:48]:<48} {d.base_score:>8.2f} {d.candidate_score:>8.2f} {d.delta:>+8.2f}  {flips.get(name, '')}"
        )
    interval = f"[{_fmt(r.interval.low, q, True)}, {_fmt(r.interval.high, q, True)}]" if r.interval else "n/a"
    p_value = f"{r.p_value:.4g}" if r.p_value is not None else "n/a"
    corr = f"{r.correlation:.3f}" if r.correlation is not None else "n/a"
    lines += [
        "",
        f"{q}: {r.shared_tasks} shared task(s); base {_fmt(r.base_mean, q)}, candidate {_fmt(r.candidate_mean, q)}",
        f"difference {_fmt(r.difference, q, True)}, 95% interval {interval} ({r.method}), p = {p_value}",
        f"minimum detectable effect at {r.shared_tasks} tasks: {_fmt(r.mde, q)}; correlation {corr}",
        f"flipped: {len(r.solved_to_failed)} solved → failed, {len(r.failed_to_solved)} failed → solved",
    ]
    if r.base_only or r.candidate_only:
        lines.append(f"not shared: {len(r.base_only)} base-only, {len(r.candidate_only)} candidate-only task(s)")
    if b.skipped or c.skipped:
        lines.append(f"skipped unreadable records: base {b.skipped}, candidate {c.skipped}")
    lines.append(f"verdict: {r.verdict} ({r.reason})")
    return lines


__all__ = ["FAIL_ON", "Side", "exit_code", "load_side", "render", "run_compare"]
