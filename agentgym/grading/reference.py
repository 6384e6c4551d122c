"""An edit task's reference patch, applied to the pristine snapshot at plan time, as file writes for the
oracle agent (which makes them through the normal tools, inside the sandbox)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from agentgym.errors import SpecError
from agentgym.grading.patch import apply_patch
from agentgym.sources.base import Snapshot
from agentgym.specs.task import TaskSpec

MAX_PATCH_FILE = 4 * 1024**2


def _reader(root: Path) -> Callable[[str], str | None]:
    def read(rel: str) -> str | None:
        path = root / rel
        if path.is_symlink() or not path.is_file() or not os.path.realpath(path).startswith(str(root) + os.sep):
            return None
        return path.read_text(encoding="utf-8", errors="surrogateescape")

    return read


def reference_writes(task: TaskSpec, task_file: Path, snapshot: Snapshot) -> list[tuple[str, str | None]]:
    """(path, new text or None = delete) of the task's reference patch, checked against the snapshot."""
    assert task.reference_patch is not None
    patch_file = task_file.resolve().parent / task.reference_patch  # a linked task file: beside the real one
    if patch_file.stat().st_size > MAX_PATCH_FILE:
        raise SpecError(f"{task_file}: field reference_patch: over {MAX_PATCH_FILE} bytes")
    text = patch_file.read_text(encoding="utf-8")
    try:
        changes = apply_patch(text, _reader(snapshot.path))
    except SpecError as exc:
        raise SpecError(f"{task_file}: field reference_patch: {exc.message}") from None
    if not changes:
        raise SpecError(f"{task_file}: field reference_patch: {task.reference_patch} changes no file")
    return sorted(changes.items())
