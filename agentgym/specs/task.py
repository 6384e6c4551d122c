"""Task file: `tasks/<task_set>/<repo_id>/task_*.yaml` (original format, plus optional extensions)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_WRITE_PATHS = ["eval_artifacts/", "/tmp/"]


class CommandPolicy(BaseModel):
    """What the agent may run and where it may write. Unset fields fall back to the shared default."""

    model_config = ConfigDict(extra="forbid")

    allowed: list[str] | None = Field(
        None, description="First word of each command must be one of these; [] = no allow-list."
    )
    prohibited: list[str] | None = Field(None, description="A command mentioning any of these words is refused.")
    write_paths_allowed: list[str] | None = Field(None, description="The only places the agent may write.")
    env_allowed: list[str] | None = Field(
        None, description="Extension: host environment variables passed into the sandbox (none by default)."
    )

    def merged_over(self, base: CommandPolicy) -> CommandPolicy:
        """This policy with unset fields taken from `base`."""
        data = base.model_dump()
        data.update({k: v for k, v in self.model_dump().items() if v is not None})
        return CommandPolicy.model_validate(data)

    def resolved(self) -> ResolvedPolicy:
        return ResolvedPolicy(
            allowed=list(self.allowed or []),
            prohibited=list(self.prohibited or []),
            write_paths_allowed=list(
                self.write_paths_allowed if self.write_paths_allowed is not None else DEFAULT_WRITE_PATHS
            ),
            env_allowed=list(self.env_allowed or []),
        )


class ResolvedPolicy(BaseModel):
    """A policy with every field decided; what tools and sandboxes consume."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: list[str]
    prohibited: list[str]
    write_paths_allowed: list[str]
    env_allowed: list[str] = []


class OracleCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fn: str = Field(description="Oracle function name (built-in or registered via entry point).")
    args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the oracle.")


class OutputSpec(BaseModel):
    """One expected output: a key of eval_artifacts/answer.json, or an oracle_bool check."""

    model_config = ConfigDict(extra="forbid")

    key: str
    type: Literal["int", "str", "float", "json", "oracle_bool"] = "str"
    weight: float = Field(1.0, ge=0)
    comparator: Literal["equals"] = "equals"
    oracle: OracleCall


class SolutionStep(BaseModel):
    """A reference step for `--agent oracle`: a tool call with its arguments."""

    model_config = ConfigDict(extra="forbid")

    tool: Literal["run_command", "read_file", "list_dir", "write_file"]
    args: dict[str, Any] = Field(default_factory=dict)


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    repo: str
    difficulty: Literal["easy", "medium", "hard"] = "easy"
    initial_working_dir: str
    instruction: str
    command_policy: CommandPolicy = Field(default_factory=CommandPolicy)
    outputs: list[OutputSpec] = Field(min_length=1)
    max_commands: int = Field(10, ge=0)
    timeout_seconds: int = Field(120, gt=0)
    # Extensions (all optional; original files never need them):
    max_turns: int | None = Field(None, gt=0, description="Cap on model calls (default: max_commands + 10).")
    solution: list[str | SolutionStep] | None = Field(
        None, description="Reference steps for --agent oracle: shell commands or tool calls."
    )
    tags: list[str] = Field(default_factory=list)

    @field_validator("solution", mode="before")
    @classmethod
    def _solution_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | dict) else value

    @property
    def turn_cap(self) -> int:
        return self.max_turns or self.max_commands + 10

    def solution_steps(self) -> list[SolutionStep]:
        steps = []
        for step in self.solution or []:
            steps.append(SolutionStep(tool="run_command", args={"command": step}) if isinstance(step, str) else step)
        return steps

    def content_hash(self) -> str:
        """Stable hash of everything that defines the task (used to key records and caches)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
