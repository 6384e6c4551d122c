"""The model agent: one loop. Ask the model, run its tool calls, repeat until it stops or a limit hits.

Limits end the loop through exceptions (CommandLimitReached, TrialTimeout from the toolbox;
asyncio.TimeoutError from the runner's wall-clock guard), so the loop itself stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgym.agents.base import AgentOutcome
from agentgym.models.base import ModelClient, ModelReply
from agentgym.specs.result import ModelCallRecord
from agentgym.specs.task import TaskSpec
from agentgym.tools.schema import TOOL_SCHEMAS
from agentgym.tools.toolbox import Toolbox

MAX_IDENTICAL_CALLS = 3  # the same call (tool + arguments) this many times in a row ends the trial


class RepeatedCall(Exception):
    """The model is stuck repeating one call; the trial ends as a step limit."""


FORMAT_ERROR_HINT = (
    "Your last message looked like a tool call but could not be used ({errors}). "
    'Call a tool with a JSON object {{"name": ..., "arguments": {{...}}}}, or answer without a tool call when done.'
)


def render_system_prompt(template: str, task: TaskSpec, toolbox: Toolbox) -> str:
    policy = toolbox.policy
    return template.format(
        repo_root=toolbox.sandbox.repo_root,
        workdir=toolbox.sandbox.workdir,
        max_commands=task.max_commands,
        timeout_seconds=task.timeout_seconds,
        allowed=", ".join(policy.allowed) if policy.allowed else "any command",
        prohibited=", ".join(policy.prohibited) or "none",
        write_paths=", ".join(policy.write_paths_allowed),
    )


class ModelAgent:
    name = "model"

    def __init__(self, client: ModelClient, system_prompt_template: str) -> None:
        self.client = client
        self.template = system_prompt_template

    @classmethod
    def from_prompt_file(cls, client: ModelClient, path: Path) -> ModelAgent:
        return cls(client, path.read_text(encoding="utf-8"))

    async def run(self, task: TaskSpec, toolbox: Toolbox, outcome: AgentOutcome) -> None:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": render_system_prompt(self.template, task, toolbox)},
            {"role": "user", "content": task.instruction},
        ]
        outcome.prompt_messages = list(messages)
        sent, last_call, repeats = 0, "", 0
        for turn in range(task.turn_cap):
            outcome.events.append({"type": "request", "turn": turn, "new_messages": messages[sent:]})
            sent = len(messages)
            attempts: list[dict[str, Any]] = []
            try:
                reply = await self.client.complete(messages, TOOL_SCHEMAS, attempts=attempts)
            finally:  # failed and cancelled calls too
                _log_attempts(outcome, turn, attempts)
            _log_reply(outcome, turn, reply)
            messages.append(reply.assistant_message)
            outcome.final_message = reply.content
            if not reply.tool_calls:
                if reply.format_errors:
                    messages.append(
                        {"role": "user", "content": FORMAT_ERROR_HINT.format(errors="; ".join(reply.format_errors[:3]))}
                    )
                    continue
                outcome.stop_reason = "done"
                return
            for call in reply.tool_calls:
                signature = f"{call.name}:{call.arguments}"
                repeats = repeats + 1 if signature == last_call else 1
                last_call = signature
                if repeats >= MAX_IDENTICAL_CALLS:
                    raise RepeatedCall(f"the same {call.name} call {MAX_IDENTICAL_CALLS} times in a row")
                result = await toolbox.call(
                    call.name, call.arguments, call_id=call.id, recovered=call.recovered_from_text
                )
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result.message})
        outcome.stop_reason = "turn_limit"


def _log_attempts(outcome: AgentOutcome, turn: int, attempts: list[dict[str, Any]]) -> None:
    """Every HTTP attempt of a model call (status or exception, the wait after it, its duration)."""
    outcome.events.extend({"type": "attempt", "turn": turn, **a} for a in attempts)


def _log_reply(outcome: AgentOutcome, turn: int, reply: ModelReply) -> None:
    recovered = any(c.recovered_from_text for c in reply.tool_calls)
    outcome.events.append(
        {
            "type": "response",
            "turn": turn,
            "message": reply.assistant_message,
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens},
            "latency_ms": round(reply.latency_ms, 3),
            "format_errors": reply.format_errors,
            "recovered_from_text": recovered,
        }
    )
    outcome.model_calls.append(
        ModelCallRecord(
            latency_ms=round(reply.latency_ms, 3),
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            finish_reason=reply.finish_reason,
            tool_calls=len(reply.tool_calls),
            format_errors=len(reply.format_errors),
            recovered_from_text=recovered,
        )
    )
