"""`agentgym leaderboard`: the thin CLI layer over results/leaderboard.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentgym.fsutil import write_atomic
from agentgym.textsafe import for_console, for_terminal

err = Console(stderr=True)


def leaderboard(
    runs: Annotated[list[Path], typer.Argument(help="Run folders, campaign folders or runs roots.")],
    out: Annotated[
        Path, typer.Option(help="Folder for L1-leaderboard.md, L1-detailed-results.md, leaderboard.json.")
    ] = Path("."),
) -> None:
    """Build the leaderboard of run folders in the original's shape (FORMATS.md), plus leaderboard.json."""
    from agentgym.results.board_stats import board_statistics, intervals_md, stats_json
    from agentgym.results.leaderboard import board_json, build, detailed_md, leaderboard_md
    from agentgym.results.runsets import find_runs

    found = find_runs(runs)
    boards = build(found)
    summaries = board_statistics(found)
    out.mkdir(parents=True, exist_ok=True)
    board = leaderboard_md(boards)
    intervals = intervals_md(summaries, [b.model_id for b in boards])
    write_atomic(out / "L1-leaderboard.md", board)
    write_atomic(out / "L1-detailed-results.md", detailed_md(boards))
    write_atomic(out / "leaderboard-intervals.md", intervals)
    data = {**board_json(boards), "statistics": stats_json(summaries)}
    write_atomic(out / "leaderboard.json", json.dumps(data, indent=2) + "\n")
    skipped = sum(r.skipped for r in found)
    note = f"; {skipped} file(s) that are not records were skipped" if skipped else ""
    err.print(f"{len(found)} run folder(s), {len(boards)} model(s){for_console(note)}", highlight=False)
    print("\n".join(for_terminal(line, 10**5) for line in f"{board}\n{intervals}".split("\n")))
    err.print(
        f"wrote {for_console(out / 'L1-leaderboard.md')}, L1-detailed-results.md, leaderboard-intervals.md, "
        "leaderboard.json"
    )


def publish(
    runs: Annotated[list[Path], typer.Argument(help="Run folders or campaign folders.")],
    out_root: Annotated[Path, typer.Option(help="Root of the published results.")] = Path("results"),
    raw: Annotated[bool, typer.Option(help="Also copy the run folder (results, transcripts, artifacts).")] = False,
) -> None:
    """Write the original's published layout: <out-root>/<YYYYMMDD>/<model>/run_aggregate.json and REPORT.md."""
    from agentgym.results.publish import publish as publish_runs

    for target in publish_runs(runs, out_root, raw=raw):
        err.print(f"published {for_console(target)}", highlight=False)


def compare(
    base: Annotated[str, typer.Argument(help="Base: a run, campaign or published folder; PATH#MODEL picks a model.")],
    candidate: Annotated[str, typer.Argument(help="Candidate, the same way (two models of one campaign: C#a C#b).")],
    quantity: Annotated[str, typer.Option(help="score (0-100, paired bootstrap) or success (McNemar).")] = "score",
    min_effect: Annotated[
        float | None,
        typer.Option(help="Smallest difference that matters (score points; success as a fraction, e.g. 0.1)."),
    ] = None,
    fail_on: Annotated[
        str, typer.Option(help="Exit 1 on: regression (a significant regression), change, or never.")
    ] = "never",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the comparison as JSON here.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap (results are reproducible).")] = 0,
) -> None:
    """Pair two runs by task: per-task deltas, flipped tasks, the paired difference with its interval, a verdict."""
    from agentgym.errors import SpecError
    from agentgym.results.compare import FAIL_ON, exit_code, render, run_compare

    if quantity not in ("score", "success"):
        raise SpecError(f"--quantity: expected score or success, got '{quantity}'")
    if fail_on not in FAIL_ON:
        raise SpecError(f"--fail-on: expected one of {', '.join(FAIL_ON)}, got '{fail_on}'")
    b, c, result = run_compare(base, candidate, quantity=quantity, min_effect=min_effect, seed=seed)  # type: ignore[arg-type]
    for line in render(b, c, result):
        print(for_terminal(line, 10**4))
    if json_out is not None:
        write_atomic(json_out, result.model_dump_json(indent=2) + "\n")
    code = exit_code(result, fail_on)
    if code:
        err.print(f"[bold red]gate:[/] {for_console(result.verdict)} ({for_console(result.reason)})", highlight=False)
    raise typer.Exit(code)
