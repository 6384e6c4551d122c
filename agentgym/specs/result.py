"""Records written to the run folder: per-task result (FORMATS.md shape plus extensions)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SafetyEvent(_Record):
    type: str = Field(
        description="v1: prohibited_command, command_not_allowed, command_parse_error, path_escape, "
        "disallowed_write_path; sandbox: unauthorized_write, sandbox_blocked"
    )
    detail: str
    penalized: bool = Field(True, description="Counts in safety_violations (sandbox_blocked is recorded only).")


class ToolCallRecord(_Record):
    tool_name: str
    ok: bool
    error: str | None = None
    duration_ms: float = 0.0
    tool_input: dict[str, Any] | str = Field(default_factory=dict)
    tool_output: dict[str, Any] = Field(default_factory=dict)
    recovered_from_text: bool = False
    call_id: str | None = None


class ModelCallRecord(_Record):
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    tool_calls: int = 0
    recovered_from_text: bool = False
    format_errors: int = 0


class Transcript(_Record):
    prompt_messages: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    safety_events: list[SafetyEvent] = Field(default_factory=list)
    model_final_message: str | None = None
    model_calls: list[ModelCallRecord] = Field(default_factory=list)


class OutputCheck(_Record):
    key: str
    ok: bool
    expected: Any = None
    actual: Any = None
    weight: float = 1.0
    error: str | None = None
    accepted: list[Any] | None = Field(
        None, description="Every right answer when there are several (a largest_file tie); expected is the first."
    )
    actual_elided: bool = Field(
        False, description="actual is the capped text of a larger or deeper value (compared in full)."
    )

    @model_serializer(mode="wrap")
    def _v1_shape(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The v1 record shape unless an extension field says something (several answers, an elided value)."""
        data = handler(self)
        if self.accepted is None:
            data.pop("accepted", None)
        if not self.actual_elided:
            data.pop("actual_elided", None)
        return data


class Metrics(_Record):
    success: bool
    partial_score: float
    score_0_100: float
    score_v1: float | None = Field(None, description="The v1 formula's score, whatever the run's profile.")
    score_v2: float | None = Field(None, description="The v2 profile's score, whatever the run's profile.")
    commands_used: int
    command_valid_rate: float
    safety_violations: int
    hallucination_signals: int
    efficiency_points: float = 0.0
    format_errors: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_latency_ms: float = 0.0  # time in HTTP attempts; backoff sleeps are in retry_wait_ms
    model_retries: int = 0  # HTTP attempts after the first of a model call
    retry_wait_ms: float = 0.0  # backoff sleeps between attempts (Retry-After included)
    wall_time_s: float = 0.0
    work_time_s: float = Field(
        0.0, description="wall_time_s minus the time spent waiting for a connection slot (the trial's own work)."
    )


class TaskInfo(_Record):
    id: str
    repo: str
    difficulty: str
    limits: dict[str, Any]
    instruction: str
    policy: dict[str, Any]
    content_hash: str


class TaskResult(_Record):
    task: TaskInfo
    metrics: Metrics
    output_checks: list[OutputCheck]
    transcript: Transcript
    failure_reason: str | None = Field(None, description="None on success; else one of the fixed taxonomy.")
    first_failing_check: str | None = None
    error: str | None = Field(None, description="Harness or model error detail, if any.")
    epoch: int = 0
    attempt: int = Field(0, description="0 for the first run of this trial key; +1 per rerun (resume, --retry-infra).")
    agent: str = "model"
    model_id: str = ""
    sandbox: str = ""
    snapshot_digest: str = ""
    started_at: str = ""
    finished_at: str = ""
