"""Progress of `agentgym run`: a pure ProgressState fed by the campaign's hooks, and its displays.

- `live`: a rich Live table on stderr (one row per model: done/total, success, in flight, retries, infra errors,
  tokens in/out, cost, ETA from the rate of finished trials), refreshed 4 times a second; finished trials print
  above it as one line each.
- `plain`: one line per finished trial, and a status line for a model at each 10% of its trials and every
  30 s while it has trials left (no cursor movement, no colour when not on a terminal).
- `quiet`: no trial or progress lines; warnings, errors and the final summary only.
- `auto`: live if stderr is a terminal (and not TERM=dumb), else plain.

Every text that comes from a model entry, a task or an endpoint goes through textsafe.for_console.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agentgym.runner.campaign import Hooks
from agentgym.runner.trial import TrialPlan, TrialRecord
from agentgym.specs.campaign import ModelEntry
from agentgym.specs.result import TaskResult
from agentgym.textsafe import for_console

MODES = ("auto", "live", "plain", "quiet")
COLUMNS = ("model", "done/total", "success", "in flight", "retries", "infra errors", "tokens in/out", "cost", "ETA")
SUMMED = ("total", "done", "succeeded", "in_flight", "retries", "infra_errors", "prompt_tokens", "completion_tokens")
STATUS_EVERY_S = 30.0
TICK_S = 1.0  # how often the plain display's thread looks
WIDE = 110  # terminal columns for one-line table headers
REFRESH_PER_S = 4


@dataclass
class ModelProgress:
    """One model's counts, from the trials of this invocation (on resume: the pending ones)."""

    name: str
    total: int = 0
    done: int = 0
    succeeded: int = 0
    in_flight: int = 0
    retries: int = 0  # HTTP attempts after the first, over the finished trials
    infra_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = 0.0  # clock time of the first on_start
    pricing: Callable[[int, int], float | None] | None = None  # (tokens in, tokens out) → USD (ModelEntry.cost)

    @property
    def cost(self) -> float | None:
        return self.pricing(self.prompt_tokens, self.completion_tokens) if self.pricing is not None else None

    def eta(self, now: float) -> float | None:
        """Seconds left at the rate trials finished so far; None before the first one, 0 when all are done."""
        if self.done >= self.total:
            return 0.0
        if self.done == 0 or now <= self.started:
            return None
        return (self.total - self.done) * (now - self.started) / self.done


class ProgressState:
    """Counts per model, fed by the campaign hooks (`hooks()`); `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.models: dict[str, ModelProgress] = {}

    def _model(self, name: str) -> ModelProgress:
        if name not in self.models:
            self.models[name] = ModelProgress(name, started=self.clock())
        return self.models[name]

    def start(self, name: str, total: int, entry: ModelEntry | None = None) -> None:
        m = self._model(name)
        m.total += total  # a --retry-infra round adds its trials
        m.pricing = entry.cost if entry is not None else m.pricing

    def begin(self, name: str) -> None:
        self._model(name).in_flight += 1

    def finish(self, name: str, result: TaskResult) -> ModelProgress:
        m = self._model(name)
        m.in_flight = max(0, m.in_flight - 1)
        m.done += 1
        m.succeeded += int(result.metrics.success)
        m.infra_errors += int(result.failure_reason == "infra_error")
        m.retries += result.metrics.model_retries
        m.prompt_tokens += result.metrics.prompt_tokens
        m.completion_tokens += result.metrics.completion_tokens
        return m

    def rows(self) -> list[ModelProgress]:
        return list(self.models.values())

    def overall(self) -> ModelProgress:
        """The 'all' row: sums; its cost sums the priced models (n/a if none is priced)."""
        rows = self.rows()
        total = ModelProgress("all", started=min((m.started for m in rows), default=self.clock()))
        for name in SUMMED:
            setattr(total, name, sum(getattr(m, name) for m in rows))
        costs = [c for c in (m.cost for m in rows) if c is not None]
        if costs:
            total.pricing = lambda _p, _c: round(sum(costs), 6)
        return total


def _count(n: int) -> str:
    """At most 5 characters up to 999.9M: 9999, 12.3k, 123k, 1.2M, 12.3M."""
    if n >= 10**6:
        return f"{n / 1e6:.1f}M" if n < 10**8 else f"{n // 10**6}M"
    return f"{n / 1e3:.1f}k" if 10**4 <= n < 10**5 else f"{n // 1000}k" if n >= 10**5 else str(n)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def cells(m: ModelProgress, now: float) -> list[str]:
    """The COLUMNS of one row as console-safe markup strings (the model name escaped)."""
    cost = m.cost
    return [
        for_console(m.name, 80),
        f"{m.done}/{m.total}",
        f"{m.succeeded}/{m.done}" if m.done else "-",
        str(m.in_flight),
        str(m.retries),
        str(m.infra_errors),
        f"{_count(m.prompt_tokens)}/{_count(m.completion_tokens)}",
        f"${cost:.4f}" if cost is not None else "n/a",
        _duration(m.eta(now)),
    ]


def status_line(m: ModelProgress, now: float) -> str:
    name, *rest = cells(m, now)
    return f"status {name}: " + ", ".join(f"{col} {value}" for col, value in zip(COLUMNS[1:], rest, strict=True))


def trial_line(model: str, record: TrialRecord, single: bool) -> str:
    r = record.result
    mark = "[green]✓[/]" if r.metrics.success else "[red]✗[/]"
    reason = f" ({for_console(r.failure_reason)})" if r.failure_reason else ""
    who = "" if single else f"{for_console(model)}: "
    return (
        f"  {mark} {who}{for_console(r.task.repo)}/{for_console(r.task.id)} e{r.epoch}: score "
        f"{r.metrics.score_0_100:.1f}, {len(r.transcript.tool_calls)} tool call(s), "
        f"{r.metrics.commands_used} command(s){reason}"
    )


class Display:
    """`plain`: the base the other modes change. A context manager around the campaign; while it is entered a
    thread prints the status line of a model whose trials run but none finished for STATUS_EVERY_S."""

    ticks = True

    def __init__(self, console: Console, *, single: bool, state: ProgressState | None = None) -> None:
        self.console, self.single = console, single
        self.state = state or ProgressState()
        self._last_status: dict[str, tuple[float, int]] = {}  # model → (clock, tenth) of its last status line
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Display:
        if self.ticks:
            self._ticker = threading.Thread(target=self._tick_loop, name="agentgym-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2 * TICK_S)

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_S):
            self.tick()

    def tick(self) -> None:
        """A status line for each model with trials left whose last one is STATUS_EVERY_S old."""
        now = self.state.clock()
        for m in self.state.rows():
            if m.done < m.total and self._due(m, now):
                self.console.print(status_line(m, now), highlight=False, soft_wrap=True)

    def _due(self, m: ModelProgress, now: float) -> bool:
        """True (and noted) when a model crossed a tenth of its trials or its last status line is old."""
        with self._lock:
            tenth = m.done * 10 // max(1, m.total)
            last, last_tenth = self._last_status.get(m.name, (now, 0))
            if tenth > last_tenth or now - last >= STATUS_EVERY_S:
                self._last_status[m.name] = (now, tenth)
                return True
            return False

    def hooks(self) -> Hooks:
        return Hooks(self.progress, self.on_trial, self.on_start, self.on_begin)

    def progress(self, message: str) -> None:
        self.console.print(f"[dim]{for_console(message)}[/]")

    def on_start(self, model: str, total: int, entry: ModelEntry) -> None:
        self.state.start(model, total, entry)
        with self._lock:
            self._last_status.setdefault(model, (self.state.clock(), 0))

    def on_begin(self, model: str, _trial: TrialPlan) -> None:
        self.state.begin(model)

    def on_trial(self, model: str, record: TrialRecord) -> None:
        m = self.state.finish(model, record.result)
        self.console.print(trial_line(model, record, self.single), highlight=False, soft_wrap=True)
        now = self.state.clock()
        if self._due(m, now):
            self.console.print(status_line(m, now), highlight=False, soft_wrap=True)


class QuietDisplay(Display):
    ticks = False

    def progress(self, message: str) -> None:
        if message.startswith("Warning"):
            super().progress(message)

    def on_trial(self, model: str, record: TrialRecord) -> None:
        self.state.finish(model, record.result)


class LiveDisplay(Display):
    """The rich Live table; stderr (and the console log handler) print above it while it runs."""

    ticks = False  # the table itself is redrawn

    def __init__(self, console: Console, *, single: bool, state: ProgressState | None = None) -> None:
        super().__init__(console, single=single, state=state)
        self.live = Live(
            get_renderable=self.table,
            console=console,
            refresh_per_second=REFRESH_PER_S,
            redirect_stdout=False,
            redirect_stderr=True,
        )
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    def table(self) -> Table:
        now = self.state.clock()
        table = Table(title="agentgym run", title_justify="left", box=None, collapse_padding=True, pad_edge=False)
        narrow = self.console.width < WIDE  # headers on two lines: the table fits 80 columns
        table.add_column(COLUMNS[0], min_width=10, overflow="fold")  # a long model id folds, never vanishes
        for col in COLUMNS[1:]:
            head = col.replace("done/", "done/\n").replace(" ", "\n") if narrow else col
            table.add_column(head, justify="right", no_wrap=True)
        rows = self.state.rows()
        for m in rows:
            table.add_row(*cells(m, now))
        if len(rows) > 1:
            table.add_row(*cells(self.state.overall(), now), style="bold")
        return table

    def __enter__(self) -> LiveDisplay:
        self.live.start()
        proxy = sys.stderr  # Live's proxy on a terminal: what is written prints above the table
        for handler in logging.getLogger().handlers if proxy is not sys.__stderr__ else []:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stderr__:
                self._handlers.append((handler, handler.setStream(proxy)))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handler, stream in self._handlers:
            handler.setStream(stream)
        self._handlers.clear()
        self.live.stop()  # the last table stays; the cursor is shown again, also on Ctrl-C

    def on_trial(self, model: str, record: TrialRecord) -> None:
        self.state.finish(model, record.result)
        self.console.print(trial_line(model, record, self.single), highlight=False, soft_wrap=True)


def resolve(mode: str, stream: Any = None) -> str:
    """`auto` → live on a (non-dumb) terminal, else plain; other modes as given."""
    if mode != "auto":
        return mode
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", lambda: False)
    return "live" if isatty() and not Console(file=stream).is_dumb_terminal else "plain"


def make_display(mode: str, console: Console, *, single: bool) -> Display:
    chosen = resolve(mode, console.file)
    kind = {"live": LiveDisplay, "plain": Display, "quiet": QuietDisplay}[chosen]
    return kind(console, single=single)


__all__ = ["COLUMNS", "MODES", "Display", "ModelProgress", "ProgressState", "cells", "make_display", "status_line"]
