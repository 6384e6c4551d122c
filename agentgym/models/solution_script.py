"""A scripted model that plays the tasks' reference solutions: `agentgym serve-scripted`.

It answers on 127.0.0.1 like any OpenAI-compatible endpoint, so a campaign can put a deterministic model of a
chosen skill beside real ones (demos, harness checks, CI without a paid API). For each request it finds the task
whose instruction the first user message carries; with probability `skill` (decided once per task from a hash of
the seed and the task id, so every epoch and every rerun behaves alike) it plays the task's `solution:` steps one
tool call per turn, then says it is done; otherwise it lists the root, gives up and writes no answer. Under
`--tools coding` (the request offers the coding tools) the v1 steps are played as coding calls (run_command → bash …).
"""

from __future__ import annotations

import hashlib
from typing import Any

from agentgym.models.scripted import Step
from agentgym.specs.task import TaskSpec
from agentgym.tools.profiles import profile_of_request

GIVE_UP: list[Step] = [
    {"tool": "list_dir", "args": {"path": "."}},
    {"content": "I could not find the answer."},
]


def solves(seed: str, task_id: str, skill: float) -> bool:
    """The same (seed, task, skill) always gives the same verdict; about `skill` of the tasks are solved."""
    digest = hashlib.sha256(f"{seed}\x00{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < skill


class SolutionScript:
    """A responder for ScriptedServer: the reference solution of the task in the prompt, or a give-up."""

    def __init__(self, tasks: list[TaskSpec], *, skill: float = 1.0, seed: str = "agentgym", latency: float = 0.0):
        self.latency = max(0.0, latency)
        self.scripts: list[tuple[str, list[Step]]] = []
        for task in tasks:
            steps: list[Step] = [{"tool": s.tool, "args": dict(s.args)} for s in task.solution_steps()]
            if not steps or not solves(seed, task.id, skill):
                steps = list(GIVE_UP)
            else:
                steps.append({"content": "Done: the answer is written."})
            # the longest instructions first, so a task whose instruction contains another's is matched first
            self.scripts.append((task.instruction.strip(), steps))
        self.scripts.sort(key=lambda item: -len(item[0]))

    def __call__(self, request: dict[str, Any]) -> Step:
        messages = request.get("messages") or []
        first_user = next((str(m.get("content")) for m in messages if m.get("role") == "user"), "")
        script = next((s for text, s in self.scripts if text and text in first_user), None)
        if script is None:
            step: Step = {"content": "I do not know this task."}
        else:
            turn = sum(1 for m in messages if m.get("role") == "assistant")
            step = script[turn] if turn < len(script) else {"content": "done"}
        step = _as_profile(step, request)
        return {**step, "sleep": self.latency} if self.latency else step


def _as_profile(step: Step, request: dict[str, Any]) -> Step:
    """A v1 tool step as a call of the profile the request offers (unchanged for v1)."""
    names = {str(t.get("function", {}).get("name")) for t in request.get("tools") or [] if isinstance(t, dict)}
    profile = profile_of_request(names)
    if "tool" not in step or profile is None:
        return step
    tool, args = profile.oracle_call(step["tool"], step.get("args", {}))
    return {**step, "tool": tool, "args": args}
