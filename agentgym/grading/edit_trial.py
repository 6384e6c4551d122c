"""The edit-task steps of a trial (runner/trial.py): the agent's sandbox spec, then after it is stopped
the patch against the snapshot and the grading run."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from agentgym.grading.grader import Grade, failing_checks, grade
from agentgym.grading.patch import tree_patch
from agentgym.grading.trees import AgentTreeError
from agentgym.runner.config import LoadedTask
from agentgym.sandbox.base import Limits, SandboxFactory
from agentgym.sources.base import Snapshot

logger = logging.getLogger(__name__)


@dataclass
class EditOutcome:
    grade: Grade
    patch: bytes


async def finish_edit(
    task: LoadedTask, snapshot: Snapshot, final_root: Path, factory: SandboxFactory, limits: Limits
) -> EditOutcome:
    """Patch first (the agent's tree as it was left), then grading in a fresh sandbox."""
    try:
        text = await asyncio.to_thread(tree_patch, snapshot.path, final_root)
        result = await grade(task.spec, task.file, snapshot, final_root, factory, limits, task.test_env)
    except AgentTreeError as exc:  # what the agent left cannot be graded: its tests fail (not a harness error)
        reason = f"the agent's tree cannot be graded: {exc}"
        return EditOutcome(Grade(failing_checks(task.spec, reason)), f"# [agentgym: no patch: {reason}]\n".encode())
    patch = text.encode("utf-8", "surrogateescape")
    if result.not_applied:
        logger.info("%s: grading ignored the agent's changes to %s", task.spec.id, ", ".join(result.not_applied[:5]))
    return EditOutcome(result, patch)
