"""The model protocol the agent loop talks to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON object as a string (as the API gives it)
    recovered_from_text: bool = False


@dataclass
class ModelReply:
    content: str | None
    tool_calls: list[ToolCall]
    assistant_message: dict[str, Any]  # what to append to the conversation
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    format_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelSettings:
    model: str
    base_url: str
    api_key: str | None = None
    temperature: float = 0.0
    max_output_tokens: int = 4096
    include_reasoning_content: bool = False
    max_retries: int = 3  # bounded: the SDK backs off exponentially and honours Retry-After
    request_timeout: float = 600.0

    def public(self) -> dict[str, Any]:
        """Settings safe to write to disk: the key itself never, only whether one was set."""
        return {
            "model": self.model,
            "base_url": self.base_url,
            "api_key_set": bool(self.api_key),
            "temperature": self.temperature,
            "max_output_tokens": self.max_output_tokens,
            "include_reasoning_content": self.include_reasoning_content,
            "max_retries": self.max_retries,
        }


class ModelClient(Protocol):
    model_id: str

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelReply: ...
    async def aclose(self) -> None: ...


class FatalModelError(Exception):
    """The endpoint cannot serve this run (unreachable, unauthorized): stop the run, keep finished tasks."""


class TrialModelError(Exception):
    """This call failed after bounded retries (429 storm, 5xx, empty response): the task fails as model_error."""
