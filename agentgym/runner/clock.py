"""A trial's time budget that stops ticking while the trial waits for a connection slot.

The trial (runner/trial.py) sets its `TrialClock` in a context variable; the per-endpoint limit
(runner/scheduler.py) pauses it while a model call waits for a free slot and resumes it with the wait added
to both deadlines (the toolbox's and the agent's wall-clock guard), so a busy endpoint never eats a trial's
budget. `waited` is what `metrics.work_time_s` subtracts from the wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass
class TrialClock:
    waited: float = 0.0  # seconds spent waiting for a connection slot
    timeout: asyncio.Timeout | None = None  # the agent's wall-clock guard
    toolbox: Any = None  # anything with a `deadline` (time.monotonic value)
    _when: float | None = None

    def pause(self) -> None:
        if self.timeout is not None:
            self._when = self.timeout.when()
            with contextlib.suppress(RuntimeError):  # already expiring: the trial times out as it would have
                self.timeout.reschedule(None)

    def resume(self, waited: float) -> None:
        self.waited += waited
        if self.toolbox is not None:
            self.toolbox.deadline += waited
        if self.timeout is not None and self._when is not None:
            with contextlib.suppress(RuntimeError):
                self.timeout.reschedule(self._when + waited)
            self._when = None


CURRENT_CLOCK: ContextVar[TrialClock | None] = ContextVar("agentgym_trial_clock", default=None)
