"""An edit task's starting state: its `setup_patch` (an injected bug, a removed function, a dropped test)
applied to the repo's pristine snapshot at plan time, published in the snapshot cache as a snapshot of its
own. Everything downstream (the agent's overlay, the grading tree's restored test files, patch.diff, the
reference patch) then works against that snapshot exactly as against a fetched one; the patch file lies in
the task's folder, which no sandbox shows."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from agentgym.errors import SpecError
from agentgym.grading.patch import apply_patch, snapshot_reader
from agentgym.sources.base import Snapshot
from agentgym.sources.cache import SnapshotStore, cache_root
from agentgym.specs.task import TaskSpec

MAX_PATCH_FILE = 4 * 1024**2


def read_patch_file(task_file: Path, field: str, name: str) -> str:
    """A patch named by a task field, beside the real task file (a linked task file resolves first)."""
    path = task_file.resolve().parent / name
    try:
        if path.stat().st_size > MAX_PATCH_FILE:
            raise SpecError(f"{task_file}: field {field}: {name} is over {MAX_PATCH_FILE} bytes")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{task_file}: field {field}: cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{task_file}: field {field}: {name} is not UTF-8 text") from None


def patch_changes(text: str, task_file: Path, field: str, name: str, root: Path) -> dict[str, str | None]:
    """A task's patch applied to the tree at `root`: new text per path (None = deleted); a patch that does not
    apply, or changes nothing, is a SpecError naming the task file and the field."""
    try:
        changes = apply_patch(text, snapshot_reader(root))
    except SpecError as exc:
        raise SpecError(f"{task_file}: field {field}: {exc.message}") from None
    if not changes:
        raise SpecError(f"{task_file}: field {field}: {name} changes no file")
    return changes


def task_snapshot(task: TaskSpec, task_file: Path, base: Snapshot, store: SnapshotStore | None = None) -> Snapshot:
    """`base` itself, or (with a setup_patch) the cached snapshot of base + patch, made on first use."""
    if task.setup_patch is None:
        return base
    text = read_patch_file(task_file, "setup_patch", task.setup_patch)
    patch_sha = hashlib.sha256(text.encode()).hexdigest()
    source = {**base.source, "base_digest": base.digest, "setup_patch_sha256": patch_sha}
    store = store or SnapshotStore(cache_root())
    key = f"setup\0{base.digest}\0{patch_sha}"
    if (hit := store.lookup(key)) is not None:
        return Snapshot(base.repo_id, hit.path, hit.digest, source)
    changes = patch_changes(text, task_file, "setup_patch", task.setup_patch, base.path)
    with store.lock(key), store.staging() as stage:
        tree = stage / "tree"
        shutil.copytree(base.path, tree, symlinks=True)
        write_changes(tree, changes)
        entry = store.add_tree(tree, source=source)
        store.remember(key, entry.digest)
    return Snapshot(base.repo_id, entry.path, entry.digest, source)


def write_changes(tree: Path, changes: dict[str, str | None]) -> None:
    """Apply (path, new text or None = delete) to a copy of a snapshot (made writable first)."""
    for folder, _dirs, _files in os.walk(tree):  # the copy keeps the snapshot's read-only modes
        os.chmod(folder, 0o755)
    for rel, text in sorted(changes.items()):
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        if text is not None:
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
            os.chmod(path, 0o644)
