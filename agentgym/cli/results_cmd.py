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
    from agentgym.results.leaderboard import board_json, build, detailed_md, leaderboard_md
    from agentgym.results.runsets import find_runs

    found = find_runs(runs)
    boards = build(found)
    out.mkdir(parents=True, exist_ok=True)
    board = leaderboard_md(boards)
    write_atomic(out / "L1-leaderboard.md", board)
    write_atomic(out / "L1-detailed-results.md", detailed_md(boards))
    write_atomic(out / "leaderboard.json", json.dumps(board_json(boards), indent=2) + "\n")
    skipped = sum(r.skipped for r in found)
    note = f"; {skipped} file(s) that are not records were skipped" if skipped else ""
    err.print(f"{len(found)} run folder(s), {len(boards)} model(s){for_console(note)}", highlight=False)
    print("\n".join(for_terminal(line, 10**5) for line in board.split("\n")))
    err.print(f"wrote {for_console(out / 'L1-leaderboard.md')}, L1-detailed-results.md, leaderboard.json")


def publish(
    runs: Annotated[list[Path], typer.Argument(help="Run folders or campaign folders.")],
    out_root: Annotated[Path, typer.Option(help="Root of the published results.")] = Path("results"),
    raw: Annotated[bool, typer.Option(help="Also copy the run folder (results, transcripts, artifacts).")] = False,
) -> None:
    """Write the original's published layout: <out-root>/<YYYYMMDD>/<model>/run_aggregate.json and REPORT.md."""
    from agentgym.results.publish import publish as publish_runs

    for target in publish_runs(runs, out_root, raw=raw):
        err.print(f"published {for_console(target)}", highlight=False)
