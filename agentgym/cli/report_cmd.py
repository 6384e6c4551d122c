"""`agentgym report … --html` and `agentgym view`: thin CLI layers over results/html/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentgym.errors import SpecError
from agentgym.textsafe import for_console

err = Console(stderr=True)


def report(
    target: Annotated[Path, typer.Argument(help="A run folder or a campaign folder.")],
    html: Annotated[bool, typer.Option("--html", help="Write the self-contained HTML report.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The HTML file [default: TARGET/report.html].")
    ] = None,
    compare: Annotated[
        Path | None, typer.Option(help="A base run or campaign folder: paired comparison and flipped tasks.")
    ] = None,
) -> None:
    """Write one HTML file (opens offline): leaderboard with intervals, charts, task × model grid, comparisons,
    and every trial's transcript."""
    from agentgym.fsutil import write_atomic
    from agentgym.results.html.build import build_report
    from agentgym.results.html.page import chart_js, render_page

    if not html:
        raise SpecError("agentgym report: give --html (each run's Markdown report is results/REPORT.md)")
    data = build_report(target, compare)
    if chart_js() is None:
        err.print("warning: Chart.js is not installed (scripts/setup.sh runs npm ci); the report has tables only")
    try:
        page = render_page(data, title=data["title"])
    except ValueError as exc:
        raise SpecError(f"{target}: {exc}") from None
    path = out or target / "report.html"
    write_atomic(path, page)
    err.print(
        f"{len(data['models'])} model(s), {len(data['trials'])} trial(s); wrote {for_console(path)}"
        f" ({len(page.encode()) / 1024:.0f} KiB)",
        highlight=False,
    )
    print(path)


def view(
    runs_root: Annotated[Path, typer.Argument(help="A folder of run and campaign folders (e.g. runs/).")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).", min=0, max=65535)] = 8765,
) -> None:
    """Serve the report pages of RUNS_ROOT on 127.0.0.1 with live updates; Ctrl-C stops."""
    from agentgym.results.html.server import serve

    if not runs_root.is_dir():
        raise SpecError(f"{runs_root}: not a folder")

    def announce(url: str) -> None:
        err.print(f"serving {for_console(url)} (Ctrl-C stops)", highlight=False)
        print(url, flush=True)

    try:
        serve(runs_root, port, announce=announce)
    except OSError as exc:  # the port is taken, say
        raise SpecError(f"--port {port}: cannot listen on 127.0.0.1: {exc.strerror or exc}") from None
    err.print("stopped")
