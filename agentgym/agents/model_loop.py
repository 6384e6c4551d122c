"""The model agent: one loop. Ask the model, run its tool calls, repeat until it stops or a limit hits.

Limits end the loop through exceptions (CommandLimitReached once a reply has used up max_commands,
TrialTimeout from the toolbox, RepeatedCall when the opt-in repeat limit is set; asyncio.TimeoutError
from the runner's wall-clock guard), so the loop itself stays small. Like v1, every call of a reply runs
even past max_commands; the loop stops before the next model call.
"""

from __future__ import annotations

from typing import Any

from agentgym.agents.base import AgentOutcome
from agentgym.agents.prompts import PromptSet, template_values
from agentgym.models.base import ModelClient, ModelReply
from agentgym.specs.events import AttemptLog, Request, Response
from agentgym.specs.task import TaskSpec
from agentgym.tools.toolbox import CommandLimitReached, Toolbox

EMBEDDED_REPEAT_LIMIT = 3  # the embedded model's default: the same call 3 times in a row ends the trial


class RepeatedCall(Exception):
    """The model is stuck repeating one call; the trial ends as a step limit."""


FORMAT_ERROR_HINT = (
    "Your last message looked like a tool call but could not be used ({errors}). "
    'Call a tool with a JSON object {{"name": ..., "arguments": {{...}}}}, or answer without a tool call when done.'
)


def render_system_prompt(prompts: PromptSet, task: TaskSpec, toolbox: Toolbox) -> str:
    sandbox = toolbox.sandbox
    return prompts.system_message(template_values(task, toolbox.policy, sandbox.repo_root, sandbox.workdir))


class ModelAgent:
    name = "model"

    def __init__(self, client: ModelClient, prompts: PromptSet, *, repeat_limit: int | None = None) -> None:
        self.client = client
        self.prompts = prompts
        self.repeat_limit = repeat_limit  # None (v1): no stop on repeated identical calls

    async def run(self, task: TaskSpec, toolbox: Toolbox, outcome: AgentOutcome) -> None:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": render_system_prompt(self.prompts, task, toolbox)},
            {"role": "user", "content": self.prompts.user_message(task, toolbox.policy)},
        ]
        log = outcome.log
        sent, repeats = 0, _Repeats(self.repeat_limit)
        for turn in range(task.turn_cap):
            log.emit(Request(turn=turn, new_messages=messages[sent:]))
            sent = len(messages)
            # each HTTP attempt is emitted as it ends (failed and cancelled calls too)
            reply = await self.client.complete(messages, toolbox.profile.schemas, attempts=AttemptLog(log, turn))
            log.emit(_response(turn, reply))
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
                repeats.see(call.name, call.arguments)
                result = await toolbox.call(
                    call.name, call.arguments, call_id=call.id, recovered=call.recovered_from_text
                )
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result.message})
            if toolbox.budget_exhausted():
                raise CommandLimitReached(f"max_commands={toolbox.max_commands} reached")
        outcome.stop_reason = "turn_limit"


class _Repeats:
    """The opt-in stop on the same call (tool + arguments) `limit` times in a row."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.last, self.count = limit, "", 0

    def see(self, name: str, arguments: object) -> None:
        if self.limit is None:
            return
        signature = f"{name}:{arguments}"
        self.count = self.count + 1 if signature == self.last else 1
        self.last = signature
        if self.count >= self.limit:
            raise RepeatedCall(f"the same {name} call {self.limit} times in a row (--repeat-limit {self.limit})")


def _response(turn: int, reply: ModelReply) -> Response:
    return Response(
        turn=turn,
        message=reply.assistant_message,
        usage={"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens},
        latency_ms=round(reply.latency_ms, 3),
        format_errors=reply.format_errors,
        recovered_from_text=any(c.recovered_from_text for c in reply.tool_calls),
        finish_reason=reply.finish_reason,
        cached=reply.cached,  # models/response_cache.py
    )
