"""`agentgym regrade RUN_DIR`: the thin CLI layer over results/regrade.py."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from agentgym.results.regrade import RegradeRequest, regrade
from agentgym.scrub import install_console_logging
from agentgym.textsafe import for_console

console = Console(stderr=True)


def regrade_command(run_dir: Path, runs_root: Path | None, scoring_profile: str | None, config_dir: Path | None) -> int:
    install_console_logging()
    req = RegradeRequest(run_dir=run_dir, runs_root=runs_root, scoring_profile=scoring_profile, config_dir=config_dir)
    out = regrade(req, progress=lambda m: console.print(f"[dim]{for_console(m)}[/]"))
    for r in out.results:
        mark = "[green]✓[/]" if r.metrics.success else "[red]✗[/]"
        console.print(
            f"  {mark} {for_console(r.task.repo)}/{for_console(r.task.id)} e{r.epoch}: "
            f"score {r.metrics.score_0_100:.1f}"
        )
    if out.kept:
        keys = ", ".join(f"{k['task_id']}:{k['key']}" for k in out.kept[:5])
        more = f" and {len(out.kept) - 5} more" if len(out.kept) > 5 else ""
        console.print(
            f"[yellow]note:[/] {len(out.kept)} check(s) read agent files that a run folder does not store; "
            f"kept from the original record: {for_console(keys)}{more}",
            highlight=False,
            soft_wrap=True,
        )
    ok = sum(1 for r in out.results if r.metrics.success)
    avg = sum(r.metrics.score_0_100 for r in out.results) / len(out.results)
    console.print(f"[bold]{ok}/{len(out.results)} succeeded, average score {avg:.2f}[/]")
    print(out.root)
    return 0
