"""An edit task's reference patch, applied to the pristine snapshot at plan time, as file writes for the
oracle agent (which makes them through the normal tools, inside the sandbox)."""

from __future__ import annotations

from pathlib import Path

from agentgym.errors import SpecError
from agentgym.grading.patch import apply_patch, snapshot_reader
from agentgym.grading.setup import read_patch_file
from agentgym.sources.base import Snapshot
from agentgym.specs.task import TaskSpec


def reference_writes(task: TaskSpec, task_file: Path, snapshot: Snapshot) -> list[tuple[str, str | None]]:
    """(path, new text or None = delete) of the task's reference patch, checked against the snapshot."""
    assert task.reference_patch is not None
    text = read_patch_file(task_file, "reference_patch", task.reference_patch)
    try:
        changes = apply_patch(text, snapshot_reader(snapshot.path))
    except SpecError as exc:
        raise SpecError(f"{task_file}: field reference_patch: {exc.message}") from None
    if not changes:
        raise SpecError(f"{task_file}: field reference_patch: {task.reference_patch} changes no file")
    return sorted(changes.items())
