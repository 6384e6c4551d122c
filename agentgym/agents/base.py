"""Agent protocol: given a task and a toolbox, act until done or a limit is hit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from agentgym.specs.events import EventLog
from agentgym.specs.task import TaskSpec
from agentgym.tools.toolbox import Toolbox


@dataclass
class AgentOutcome:
    stop_reason: str = "done"
    final_message: str | None = None
    error: str | None = None
    log: EventLog = field(default_factory=EventLog)  # the trial's events (the toolbox emits into the same log)


class Agent(Protocol):
    name: str

    async def run(self, task: TaskSpec, toolbox: Toolbox, outcome: AgentOutcome) -> None:
        """Act on the task, emitting into `outcome.log` as it goes (so a timeout keeps what happened so far)."""
        ...
