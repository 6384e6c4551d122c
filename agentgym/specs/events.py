"""The typed event stream of one trial: the single record of what happened, in the order it happened.

Every event has a `type` (the discriminator), `task_id`, `epoch` and `at` (UTC ISO time of emission). The
agent loop, the toolbox and the trial emit into one `EventLog`; the per-task JSON's `transcript`, the metrics
inputs (the `EventLog` views below) and the run folder's `transcripts/<repo_id>.jsonl` (results/transcript.py)
are all derived from it. When a sink is given, every event is appended to the trial's own file as it is
emitted (results/transcript.py), so a crash mid-trial leaves the story so far on disk. Field names are those
of the transcript JSONL.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agentgym.specs.result import ModelCallRecord, ToolCallRecord
from agentgym.specs.result import SafetyEvent as SafetyRecord

logger = logging.getLogger(__name__)

Ref = dict[str, Any]  # a `{"$see": ...}` reference to a payload written on another line (results/transcript.py)


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


def trial_key(model_id: str, task_id: str, content_hash: str, epoch: int) -> str:
    """A stable name of one trial: the same model, task content and epoch give the same key."""
    text = "\x00".join((model_id, task_id, content_hash, str(epoch)))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str = ""
    epoch: int = 0
    at: str = Field(default_factory=utc_now, description="UTC ISO time the event was emitted.")


class TaskStart(_Event):
    type: Literal["task_start"] = "task_start"
    prompt_messages: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Empty in the per-trial file (the prompt is the first request's new_messages); "
        "filled in the repo JSONL.",
    )
    repo: str = ""
    model_id: str = ""
    agent: str = ""
    content_hash: str = ""
    trial_key: str = ""


class Request(_Event):
    type: Literal["request"] = "request"
    turn: int
    new_messages: list[dict[str, Any]] = Field(description="Messages not sent before (references on disk).")


class Attempt(_Event):
    type: Literal["attempt"] = "attempt"
    turn: int
    attempt: int
    status: int | None = None
    exception: str | None = None
    wait_s: float = 0.0
    duration_ms: float = 0.0
    error: str | None = None
    retry_after_s: float | None = None


class Response(_Event):
    type: Literal["response"] = "response"
    turn: int
    message: dict[str, Any]
    usage: dict[str, int] = Field(default_factory=dict)
    latency_ms: float = 0.0
    format_errors: list[str] = Field(default_factory=list)
    recovered_from_text: bool = False
    finish_reason: str | None = None
    cached: bool = Field(False, description="Served by --cache-responses, not by the endpoint.")

    def tool_call_count(self) -> int:
        calls = self.message.get("tool_calls")
        return len(calls) if isinstance(calls, list) else 0


class ToolCall(_Event):
    type: Literal["tool_call"] = "tool_call"
    call_id: str | None = None
    tool_name: str
    tool_input: dict[str, Any] | str = Field(default_factory=dict)
    recovered_from_text: bool = False
    counted: bool = Field(False, description="Counts against max_commands (commands_used).")


class ToolResult(_Event):
    type: Literal["tool_result"] = "tool_result"
    tool_name: str
    ok: bool
    error: str | None = None
    duration_ms: float = 0.0
    tool_input: dict[str, Any] | str = Field(default_factory=dict)
    tool_output: dict[str, Any] = Field(default_factory=dict)
    recovered_from_text: bool = False
    call_id: str | None = None

    @classmethod
    def of(cls, record: ToolCallRecord) -> ToolResult:
        return cls(**record.model_dump())

    def record(self) -> ToolCallRecord:
        return ToolCallRecord(**self.model_dump(exclude={"type", "task_id", "epoch", "at"}))


class SafetyEvent(_Event):
    type: Literal["safety_event"] = "safety_event"
    event: str = Field(description="The safety event's kind (SafetyEvent.type of the per-task JSON).")
    detail: str
    penalized: bool = True

    def record(self) -> SafetyRecord:
        return SafetyRecord(type=self.event, detail=self.detail, penalized=self.penalized)


class Limit(_Event):
    type: Literal["limit"] = "limit"
    limit: str = Field(description="step_limit, timeout or turn_limit")
    error: str | None = None


class Error(_Event):
    type: Literal["error"] = "error"
    error: str
    kind: str = Field("", description="model_error, infra_error, fatal or harness_error")


class TaskEnd(_Event):
    type: Literal["task_end"] = "task_end"
    metrics: dict[str, Any] = Field(default_factory=dict)
    failure_reason: str | None = None
    final_message: str | Ref | None = None


class Regrade(_Event):
    """Written by `agentgym regrade` before a regraded trial's new task_end."""

    type: Literal["regrade"] = "regrade"
    regraded_from: str


TrialEvent = Annotated[
    TaskStart | Request | Attempt | Response | ToolCall | ToolResult | SafetyEvent | Limit | Error | Regrade | TaskEnd,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[TrialEvent] = TypeAdapter(TrialEvent)
E = TypeVar("E", bound=_Event)


def parse_event(data: dict[str, Any]) -> TrialEvent:
    """One JSONL line (a dict) as its typed event; raises pydantic.ValidationError when it is none."""
    return EVENT_ADAPTER.validate_python(data)


def event_schema() -> dict[str, Any]:
    return EVENT_ADAPTER.json_schema()


class EventSink(Protocol):
    def write(self, event: _Event) -> None: ...

    def close(self) -> None: ...


class EventLog:
    """The trial's events in memory and, with a sink, appended to its file as they are emitted.

    A sink that fails (disk full) is dropped with one log line: the trial goes on, kept in memory.
    `settle` adjusts safety events as they are emitted (one penalty for writes outside the allowed paths).
    """

    def __init__(self, task_id: str = "", epoch: int = 0, sink: EventSink | None = None) -> None:
        self.task_id, self.epoch, self.sink = task_id, epoch, sink
        self.events: list[_Event] = []
        self.settle: Callable[[SafetyRecord], SafetyRecord] = lambda e: e

    def emit(self, event: E) -> E:
        event.task_id, event.epoch = self.task_id, self.epoch
        self.events.append(event)
        if self.sink is not None:
            try:
                self.sink.write(event)
            except (OSError, ValueError) as exc:
                logger.error("cannot append to the event file of %s: %s", self.task_id, exc)
                self._drop_sink()
        return event

    def safety(self, record: SafetyRecord) -> SafetyEvent:
        settled = self.settle(record)
        return self.emit(SafetyEvent(event=settled.type, detail=settled.detail, penalized=settled.penalized))

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def tool_records(self) -> list[ToolCallRecord]:
        return [e.record() for e in self.of(ToolResult)]

    def safety_records(self) -> list[SafetyRecord]:
        return [e.record() for e in self.of(SafetyEvent)]

    def model_calls(self) -> list[ModelCallRecord]:
        return [
            ModelCallRecord(
                latency_ms=r.latency_ms,
                prompt_tokens=r.usage.get("prompt_tokens", 0),
                completion_tokens=r.usage.get("completion_tokens", 0),
                finish_reason=r.finish_reason,
                tool_calls=r.tool_call_count(),
                format_errors=len(r.format_errors),
                recovered_from_text=r.recovered_from_text,
            )
            for r in self.of(Response)
        ]

    def prompt_messages(self) -> list[dict[str, Any]]:
        """The prompt: what the first request sent."""
        first = next(iter(self.of(Request)), None)
        return list(first.new_messages) if first is not None else []

    def commands_used(self) -> int:
        return sum(1 for e in self.of(ToolCall) if e.counted)

    def close(self) -> None:
        """Flush the sink to disk (fsync) and close it; the in-memory events stay."""
        if self.sink is not None:
            try:
                self.sink.close()
            except OSError as exc:
                logger.error("cannot close the event file of %s: %s", self.task_id, exc)
            self.sink = None

    def _drop_sink(self) -> None:
        sink, self.sink = self.sink, None
        try:
            if sink is not None:
                sink.close()
        except OSError:
            pass


class AttemptLog(list[dict[str, Any]]):
    """The `attempts` list a model client appends to (models/retry.py): each record is emitted as it ends."""

    def __init__(self, log: EventLog, turn: int) -> None:
        super().__init__()
        self.log, self.turn = log, turn

    def append(self, record: dict[str, Any]) -> None:
        super().append(record)
        known = {k: v for k, v in record.items() if k in Attempt.model_fields}
        self.log.emit(Attempt.model_validate({**known, "turn": self.turn}))


__all__ = [
    "EVENT_ADAPTER",
    "Attempt",
    "AttemptLog",
    "Error",
    "EventLog",
    "EventSink",
    "Limit",
    "Request",
    "Response",
    "SafetyEvent",
    "TaskEnd",
    "TaskStart",
    "ToolCall",
    "ToolResult",
    "TrialEvent",
    "event_schema",
    "parse_event",
    "trial_key",
    "utc_now",
]
