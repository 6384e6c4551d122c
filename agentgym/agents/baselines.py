"""Agents without a model: `nop` (does nothing) and `oracle` (runs the task's reference solution)."""

from __future__ import annotations

import json

from agentgym.agents.base import AgentOutcome
from agentgym.specs.task import TaskSpec
from agentgym.tools.toolbox import Toolbox


class NopAgent:
    name = "nop"

    async def run(self, task: TaskSpec, toolbox: Toolbox, outcome: AgentOutcome) -> None:
        outcome.final_message = ""


class OracleAgent:
    """Runs `solution:` steps through the same tools, policy and sandbox a model would use; the steps are v1
    tool calls, played as the run's tool profile's calls (tools/profiles.py: run_command → bash, …)."""

    name = "oracle"

    async def run(self, task: TaskSpec, toolbox: Toolbox, outcome: AgentOutcome) -> None:
        steps = task.solution_steps()
        if not steps:
            outcome.final_message = "no reference solution in the task file"
            return
        for step in steps:
            name, args = toolbox.profile.oracle_call(step.tool, step.args)
            await toolbox.call(name, json.dumps(args))
        outcome.final_message = "reference solution executed"
