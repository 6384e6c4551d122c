"""Find and load the configuration tree: repos/, tasks/, scoring/weights.yaml, prompts/.

Each part comes from --config-dir (default: the current directory when it holds repos/ or tasks/)
and falls back to the defaults shipped with the package.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from agentgym.agents.prompts import PromptSet
from agentgym.errors import OracleError, SpecError
from agentgym.oracles import validate_call
from agentgym.specs.loader import load_model
from agentgym.specs.repo import RepoSpec
from agentgym.specs.task import CommandPolicy, ResolvedPolicy, TaskSpec
from agentgym.specs.weights import Weights

if TYPE_CHECKING:
    from agentgym.grading.testenv import TestEnvironment


def packaged_data_dir() -> Path:
    return Path(str(resources.files("agentgym") / "data"))


@dataclass(frozen=True)
class ConfigTree:
    root: Path | None  # the user's config dir, if any

    @classmethod
    def discover(cls, config_dir: Path | None) -> ConfigTree:
        if config_dir is not None:
            if not config_dir.is_dir():
                raise SpecError(f"--config-dir {config_dir}: not a directory")
            return cls(config_dir.resolve())
        cwd = Path.cwd()
        return cls(cwd if (cwd / "repos").is_dir() or (cwd / "tasks").is_dir() else None)

    def part(self, name: str) -> Path:
        """User's `name` (file or folder) if present, else the packaged default."""
        if self.root is not None and (self.root / name).exists():
            return self.root / name
        return packaged_data_dir() / name


@dataclass(frozen=True)
class LoadedRepo:
    spec: RepoSpec
    file: Path


@dataclass(frozen=True)
class LoadedTask:
    spec: TaskSpec
    file: Path
    policy: ResolvedPolicy
    # edit tasks: the repo's test environment, made at plan time (grading/testenv.py, with_test_envs)
    test_env: TestEnvironment | None = field(default=None, compare=False)


def load_repos(tree: ConfigTree) -> dict[str, LoadedRepo]:
    repos: dict[str, LoadedRepo] = {}
    folder = tree.part("repos")
    for file in sorted(folder.glob("*.y*ml")):
        spec = load_model(file, RepoSpec)
        if spec.id in repos:
            raise SpecError(f"{file}: field id: repo id '{spec.id}' also defined in {repos[spec.id].file}")
        repos[spec.id] = LoadedRepo(spec, file)
    return repos


def load_weights(tree: ConfigTree, profile: str | None = None) -> Weights:
    weights = load_model(tree.part("scoring/weights.yaml"), Weights)
    return weights.model_copy(update={"profile": profile}) if profile else weights


V1_PROMPT = "prompts/l1_system_prompt_v1.txt"


def system_prompt_path(tree: ConfigTree, tools: str = "v1") -> Path:
    """Our system prompt names the tools: prompts/system.md for v1's, prompts/system_coding.md for `coding`."""
    return tree.part("prompts/system.md" if tools == "v1" else f"prompts/system_{tools}.md")


def load_prompts(
    tree: ConfigTree, profile: str | None = None, prompt_file: Path | None = None, tools: str = "v1"
) -> PromptSet:
    """The prompt profile of the run: `v1` when asked, or when the user's config tree has the original's
    prompts/l1_system_prompt_v1.txt (and no other profile was asked); else ours (for the tool profile `tools`).
    Checked here, at plan time."""
    if profile not in (None, "auto", "v1", "agentgym"):
        raise SpecError(f"--prompt-profile: expected v1, agentgym or auto, got '{profile}'")
    v1_in_tree = tree.root / V1_PROMPT if tree.root is not None else None
    has_v1 = v1_in_tree is not None and v1_in_tree.is_file()
    if profile == "v1" or (profile in (None, "auto") and prompt_file is None and has_v1):
        path = prompt_file or (v1_in_tree if has_v1 else None)
        if path is None:
            raise SpecError(f"--prompt-profile v1: no {V1_PROMPT} in the config tree (give --prompt-file PATH)")
        return PromptSet.from_file("v1", _existing(path))
    return PromptSet.from_file("agentgym", _existing(prompt_file or system_prompt_path(tree, tools)))


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise SpecError(f"{path}: prompt file not found")
    return path.resolve()


def shared_policy(task_set_dir: Path) -> CommandPolicy:
    """The task set's `_shared/default_command_policy.yaml`, or the empty policy."""
    file = task_set_dir / "_shared" / "default_command_policy.yaml"
    return load_model(file, CommandPolicy) if file.is_file() else CommandPolicy()


def task_set_files(set_dir: Path) -> list[Path]:
    """The task files of a task set folder (`<repo>/task_*.yaml`; folders starting with `_` are not tasks)."""
    return [f for f in sorted(set_dir.glob("*/task_*.y*ml")) if not f.parent.name.startswith("_")]


def check_repo_id(spec: TaskSpec, file: Path, repos: dict[str, LoadedRepo]) -> None:
    if spec.repo not in repos:
        raise SpecError(f"{file}: field repo: unknown repo id '{spec.repo}' (known: {', '.join(sorted(repos))})")


def check_oracles(spec: TaskSpec, file: Path) -> None:
    """Every output's oracle is registered and its arguments fit its signature."""
    for i, out in enumerate(spec.outputs):
        try:
            validate_call(out.oracle)
        except OracleError as exc:
            raise SpecError(f"{file}: field outputs[{i}].oracle: {exc.message}") from None


def task_policy(spec: TaskSpec, file: Path, shared: CommandPolicy) -> ResolvedPolicy:
    policy = spec.command_policy.merged_over(shared).resolved()
    if spec.kind == "edit":
        policy = _edit_policy(file, spec, policy)
    if not policy.write_paths_allowed:
        raise SpecError(
            f"{file}: field command_policy.write_paths_allowed: empty, the agent could not write its answer"
        )
    return policy


def _edit_policy(file: Path, spec: TaskSpec, policy: ResolvedPolicy) -> ResolvedPolicy:
    """An edit task may write anywhere in its repo; its hidden tests and reference patch must exist."""
    from agentgym.grading.grader import hidden_sources  # grading imports sandbox code: only for edit tasks

    hidden_sources(spec, file)
    if spec.reference_patch is not None and not (file.resolve().parent / spec.reference_patch).is_file():
        raise SpecError(f"{file}: field reference_patch: {spec.reference_patch!r} is not a file")
    paths = ["."] + [p for p in policy.write_paths_allowed if p.startswith("/tmp")]
    return policy.model_copy(update={"write_paths_allowed": paths})


@dataclass(frozen=True)
class TaskFilter:
    repos: list[str] | None = None
    glob: str | None = None
    limit: int | None = None

    def keep(self, task: TaskSpec, file: Path) -> bool:
        if self.repos and task.repo not in self.repos:
            return False
        return not self.glob or fnmatch.fnmatch(task.id, self.glob) or fnmatch.fnmatch(str(file), self.glob)


def task_set_dir(tree: ConfigTree, task_set: str) -> Path:
    set_dir = tree.part(f"tasks/{task_set}")
    if not set_dir.is_dir():
        raise SpecError(f"task set '{task_set}': no folder {set_dir}")
    return set_dir


def check_repo_filter(wanted: list[str] | None, repos: dict[str, LoadedRepo]) -> None:
    unknown = [r for r in wanted or [] if r not in repos]
    if unknown:
        raise SpecError(f"--repos: unknown repo id '{unknown[0]}' (known: {', '.join(sorted(repos))})")


def load_tasks(tree: ConfigTree, task_set: str, repos: dict[str, LoadedRepo], flt: TaskFilter) -> list[LoadedTask]:
    set_dir = task_set_dir(tree, task_set)
    check_repo_filter(flt.repos, repos)
    shared = shared_policy(set_dir)
    tasks: list[LoadedTask] = []
    seen: dict[str, Path] = {}
    for file in task_set_files(set_dir):
        spec = load_model(file, TaskSpec)
        check_repo_id(spec, file, repos)
        if spec.id in seen:
            raise SpecError(f"{file}: field id: duplicate task id '{spec.id}' (also in {seen[spec.id]})")
        seen[spec.id] = file
        check_oracles(spec, file)
        if not flt.keep(spec, file):
            continue
        tasks.append(LoadedTask(spec, file, task_policy(spec, file, shared)))
    if flt.limit is not None:
        tasks = tasks[: flt.limit]
    if not tasks:
        raise SpecError(f"no tasks selected in {set_dir} (check --repos / --tasks / --limit)")
    return tasks
