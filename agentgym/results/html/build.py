"""Run folders → report data: the one entry point of `agentgym report --html` and of the viewer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgym.results.html.data import Column, columns_of, report_data
from agentgym.results.runsets import RunFolder, find_runs


def compare_pairs(base: list[Column], cand: list[Column]) -> list[tuple[int, int]]:
    """(base, candidate) indexes into base + cand: the base column of the same model, else the only one."""
    pairs = []
    for j, c in enumerate(cand):
        same = [i for i, b in enumerate(base) if b.label.removesuffix(" (base)") == c.label]
        if same:
            pairs.append((same[0], len(base) + j))
        elif len(base) == 1:
            pairs.append((0, len(base) + j))
    return pairs


def mark_base(cols: list[Column]) -> list[Column]:
    for col in cols:
        col.label = f"{col.label} (base)"
    return cols


def build_from_runs(
    runs: list[RunFolder],
    base_runs: list[RunFolder] | None = None,
    *,
    title: str,
    run_ids: dict[Path, str] | None = None,
    embed_transcripts: bool = True,
) -> dict[str, Any]:
    cols = columns_of(runs, run_ids)
    if base_runs is None:
        return report_data(cols, title=title, embed_transcripts=embed_transcripts)
    base = mark_base(columns_of(base_runs, run_ids))
    return report_data(base + cols, title=title, pairs=compare_pairs(base, cols), embed_transcripts=embed_transcripts)


def build_report(target: Path, compare: Path | None = None) -> dict[str, Any]:
    """The data of `agentgym report TARGET [--compare BASE]` (transcripts embedded)."""
    runs = find_runs([target])
    base = find_runs([compare]) if compare is not None else None
    title = f"AgentGym report: {target.resolve().name}" + (f" vs {compare.resolve().name}" if compare else "")
    return build_from_runs(runs, base, title=title)


__all__ = ["build_from_runs", "build_report", "compare_pairs"]
