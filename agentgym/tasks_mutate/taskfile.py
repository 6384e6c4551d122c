"""A kept mutant as an edit task: `task_mut_<NNN>.yaml` (the loader reads `task_*.yaml`), the mutation as
`mut_<NNN>.setup.patch` (the task's starting state) and its inverse as `mut_<NNN>.reference.patch`.

The instruction names the failing tests and the rule (fix the library, leave the tests) but not the file,
line or kind of the mutation; the grading lists stay in the task file, which no sandbox shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgym.errors import AgentGymError
from agentgym.fsutil import write_atomic
from agentgym.grading.patch import apply_patch, file_diff
from agentgym.tasks_mutate.operators import Mutation
from agentgym.tasks_yaml import task_text

MAX_FAIL_TO_PASS = 10
MAX_PASS_TO_PASS = 20
NAMED_IN_INSTRUCTION = 5
FILE_MODE = 0o100644
TASK_GLOB, PATCH_GLOB = "task_mut_*.yaml", "mut_*.patch"


@dataclass
class Kept:
    """A mutant that broke the same tests on both runs while others kept passing."""

    mutation: Mutation
    original: bytes
    mutated: bytes
    failing: list[str]  # baseline-passing tests that failed on both runs, sorted
    passing: list[str]  # baseline-passing tests that passed on both runs, sorted


def test_file(node_id: str) -> str:
    return node_id.split("::", 1)[0]


def grading_lists(kept: Kept) -> tuple[list[str], list[str]]:
    """(fail_to_pass, pass_to_pass): the first failing ids, and passing ids of the same test files (any file
    when none of those has one), so that a fix which breaks its neighbours fails too."""
    fail = kept.failing[:MAX_FAIL_TO_PASS]
    files = {test_file(i) for i in fail}
    near = [i for i in kept.passing if test_file(i) in files]
    return fail, (near or kept.passing)[:MAX_PASS_TO_PASS]


def instruction(fail: list[str], total_failing: int, command: str) -> str:
    named = ", ".join(fail[:NAMED_IN_INSTRUCTION])
    more = total_failing - min(len(fail), NAMED_IN_INSTRUCTION)
    files = " ".join(sorted({test_file(i) for i in fail}))
    return (
        ("A test of this repository fails: " if total_failing == 1 else "Some tests of this repository fail: ")
        + named
        + (f" and {more} more" if more > 0 else "")
        + ".\n"
        "The tests are right: the library code they exercise has a bug. Find it and fix it in the library's "
        "source code. Do not change, add or remove tests (test files are restored before grading), and keep "
        f"the other tests passing.\nRun the failing tests with: {command} {files}\n"
    )


def patches(kept: Kept) -> tuple[str, str]:
    """(setup patch, reference patch), each checked to apply and to give the other side exactly."""
    rel = kept.mutation.path
    try:
        before, after = kept.original.decode("utf-8"), kept.mutated.decode("utf-8")
    except UnicodeDecodeError:
        raise AgentGymError(f"{rel}: not UTF-8 text, no patch can hold the mutation") from None
    setup = file_diff(rel, kept.original, kept.mutated, (FILE_MODE, FILE_MODE))
    reference = file_diff(rel, kept.mutated, kept.original, (FILE_MODE, FILE_MODE))
    ok = apply_patch(setup, {rel: before}.get) == {rel: after}
    if not ok or apply_patch(reference, {rel: after}.get) != {rel: before}:
        raise AgentGymError(f"{rel}: the mutation's patch does not round-trip")
    return setup, reference


def task_dict(repo_id: str, number: int, kept: Kept, command: str, time_limit: int) -> dict[str, Any]:
    fail, keep_passing = grading_lists(kept)
    name = f"mut_{number:03d}"
    return {
        "id": f"{repo_id}_{name}",
        "repo": repo_id,
        "kind": "edit",
        "difficulty": "medium",
        "initial_working_dir": ".",
        "instruction": instruction(fail, len(kept.failing), command),
        "visible_tests": sorted({test_file(i) for i in fail}),
        "setup_patch": f"{name}.setup.patch",
        "reference_patch": f"{name}.reference.patch",
        "grading": {
            "fail_to_pass": fail,
            "pass_to_pass": keep_passing,
            "test_command": command,
            "time_limit_seconds": time_limit,
        },
        "max_commands": 30,
        "timeout_seconds": 600,
        "tags": ["mutation", kept.mutation.operator],
    }


def existing(target: Path) -> list[Path]:
    return sorted([*target.glob(TASK_GLOB), *target.glob(PATCH_GLOB)]) if target.is_dir() else []


def clear(target: Path) -> None:
    """Remove the task files of an earlier `tasks mutate` (with --force): stale mutants must not remain."""
    for path in existing(target):
        os.unlink(path)


def write_task(target: Path, repo_id: str, number: int, kept: Kept, command: str, time_limit: int) -> Path:
    setup, reference = patches(kept)
    task = task_dict(repo_id, number, kept, command, time_limit)
    target.mkdir(parents=True, exist_ok=True)
    write_atomic(target / task["setup_patch"], setup)
    write_atomic(target / task["reference_patch"], reference)
    path = target / f"task_mut_{number:03d}.yaml"
    write_atomic(path, task_text(task))
    return path
