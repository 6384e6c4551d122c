"""Agent protocol: given a task and a toolbox, act until done or a limit is hit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from agentgym.specs.result import ModelCallRecord
from agentgym.specs.task import TaskSpec
from agentgym.tools.toolbox import Toolbox


@dataclass
class AgentOutcome:
    stop_reason: str = "done"
    final_message: str | None = None
    error: str | None = None
    prompt_messages: list[dict[str, Any]] = field(default_factory=list)
    model_calls: list[ModelCallRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # transcript lines: request/response/tool_result


class Agent(Protocol):
    name: str

    async def run(self, task: TaskSpec, toolbox: Toolbox, outcome: AgentOutcome) -> None:
        """Act on the task, filling `outcome` as it goes (so a timeout keeps what happened so far)."""
        ...
