"""Task file: `tasks/<task_set>/<repo_id>/task_*.yaml` (original format, plus optional extensions)."""

from __future__ import annotations

import hashlib
import json
import shlex
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

DEFAULT_WRITE_PATHS = ["eval_artifacts/", "/tmp/"]
EDIT_FIELDS = ("kind", "visible_tests", "grading", "reference_patch", "setup_patch")


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


class HiddenTest(BaseModel):
    """A grading-only file: `src` relative to the task file, copied to `dest` in the repo for grading."""

    model_config = ConfigDict(extra="forbid")

    src: str
    dest: str


class GradingSpec(BaseModel):
    """How an edit task is graded: pytest node ids run in a fresh sandbox on the agent's tree."""

    model_config = ConfigDict(extra="forbid")

    fail_to_pass: list[str] = Field(default_factory=list, description="Tests that must pass after the change.")
    pass_to_pass: list[str] = Field(default_factory=list, description="Tests that must keep passing.")
    test_command: str = Field("python -m pytest", description="Run with the node ids appended.")
    time_limit_seconds: int = Field(300, gt=0, description="Wall-clock limit of the grading run.")
    hidden_tests: list[HiddenTest] = Field(default_factory=list, description="Copied in only for grading.")
    pass_to_pass_weight: float = Field(
        0.0,
        ge=0,
        description="Partial-credit weight of each pass_to_pass test (fail_to_pass: 1). They must pass for "
        "success either way; at 0 (the default) keeping what worked earns nothing, so doing nothing scores 0.",
    )

    @field_validator("hidden_tests", mode="before")
    @classmethod
    def _hidden_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"src": v, "dest": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _some_tests(self) -> GradingSpec:
        ids = self.test_ids()
        if not ids:
            raise ValueError("grading needs at least one test in fail_to_pass or pass_to_pass")
        if len(set(ids)) != len(ids):
            raise ValueError("a test id is listed twice in fail_to_pass/pass_to_pass")
        if any(not i.strip() or i.startswith("-") for i in ids):
            raise ValueError("test ids must be pytest node ids (not empty, not options)")
        if not self.fail_to_pass and self.pass_to_pass_weight == 0:
            raise ValueError("fail_to_pass: at least one test is needed when pass_to_pass_weight is 0")
        return self

    def test_ids(self) -> list[str]:
        return [*self.fail_to_pass, *self.pass_to_pass]


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    repo: str
    kind: Literal["answer", "edit"] = Field(
        "answer", description="answer: outputs checked in answer.json (the original); edit: change the repo."
    )
    difficulty: Literal["easy", "medium", "hard"] = "easy"
    initial_working_dir: str = "."
    instruction: str
    command_policy: CommandPolicy = Field(default_factory=CommandPolicy)
    outputs: list[OutputSpec] = Field(default_factory=list)
    # Edit tasks (kind: edit):
    visible_tests: list[str] = Field(default_factory=list, description="Test paths the agent may run.")
    grading: GradingSpec | None = None
    reference_patch: str | None = Field(None, description="A unified diff file (relative to the task file).")
    setup_patch: str | None = Field(
        None,
        description="A unified diff file (relative to the task file) applied to the repo before the agent starts: "
        "the task's starting state (an injected bug, a removed function). Never shown to the agent.",
    )
    max_commands: int = Field(10, ge=0)
    timeout_seconds: int = Field(120, gt=0)
    # Extensions (all optional; original files never need them):
    max_turns: int | None = Field(None, gt=0, description="Cap on model calls (default: max_commands + 10).")
    solution: list[str | SolutionStep] | None = Field(
        None, description="Reference steps for --agent oracle: shell commands or tool calls."
    )
    tags: list[str] = Field(default_factory=list)
    # Set at plan time for edit tasks with a reference patch: (path, new content or None = delete).
    _reference_writes: list[tuple[str, str | None]] | None = PrivateAttr(None)

    @field_validator("solution", mode="before")
    @classmethod
    def _solution_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | dict) else value

    @model_validator(mode="after")
    def _kind_fields(self) -> TaskSpec:
        if self.kind == "answer":
            if not self.outputs:
                raise ValueError("outputs: at least one output is needed (kind: answer)")
            if self.grading is not None or self.reference_patch or self.setup_patch or self.visible_tests:
                raise ValueError("grading, reference_patch, setup_patch and visible_tests need kind: edit")
        else:
            if self.grading is None:
                raise ValueError("grading: an edit task needs fail_to_pass/pass_to_pass tests")
            if self.outputs:
                raise ValueError("outputs: an edit task is graded by its tests, not by outputs")
        return self

    def check_keys(self) -> list[tuple[str, float]]:
        """(key, weight) of every check: the outputs, or one per grading test (weight 1)."""
        if self.grading is not None:
            weight = self.grading.pass_to_pass_weight
            return [(t, 1.0) for t in self.grading.fail_to_pass] + [(t, weight) for t in self.grading.pass_to_pass]
        return [(o.key, o.weight) for o in self.outputs]

    @property
    def turn_cap(self) -> int:
        return self.max_turns or self.max_commands + 10

    def solution_steps(self) -> list[SolutionStep]:
        if self._reference_writes is not None:  # the reference patch, through the normal write tools
            return [
                SolutionStep(tool="write_file", args={"path": path, "content": text})
                if text is not None
                else SolutionStep(tool="run_command", args={"command": f"rm -f -- {shlex.quote(path)}"})
                for path, text in self._reference_writes
            ]
        steps = []
        for step in self.solution or []:
            steps.append(SolutionStep(tool="run_command", args={"command": step}) if isinstance(step, str) else step)
        return steps

    def content_hash(self) -> str:
        """Stable hash of everything that defines the task (used to key records and caches)."""
        data = self.model_dump(mode="json")
        if self.kind == "answer":  # the fields edit tasks added stay out: original tasks keep their hashes
            for key in EDIT_FIELDS:
                data.pop(key, None)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
