"""An edit task's reference patch, applied to the pristine snapshot at plan time, as file writes for the
oracle agent (which makes them through the normal tools, inside the sandbox)."""

from __future__ import annotations

from pathlib import Path

from agentgym.grading.setup import patch_changes, read_patch_file
from agentgym.sources.base import Snapshot
from agentgym.specs.task import TaskSpec


def reference_writes(task: TaskSpec, task_file: Path, snapshot: Snapshot) -> list[tuple[str, str | None]]:
    """(path, new text or None = delete) of the task's reference patch, checked against the snapshot."""
    assert task.reference_patch is not None
    text = read_patch_file(task_file, "reference_patch", task.reference_patch)
    return sorted(patch_changes(text, task_file, "reference_patch", task.reference_patch, snapshot.path).items())
