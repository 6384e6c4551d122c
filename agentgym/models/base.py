"""The model protocol the agent loop talks to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit


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
    latency_ms: float = 0.0  # time in HTTP requests, every attempt; backoff sleeps excluded
    format_errors: list[str] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)  # one record per HTTP attempt (models/retry.py)
    cached: bool = False  # served by --cache-responses (models/response_cache.py), no HTTP request made


@dataclass(frozen=True)
class ModelSettings:
    model: str
    base_url: str
    api_key: str | None = None
    temperature: float = 0.0
    max_output_tokens: int = 4096
    include_reasoning_content: bool = False
    max_retries: int = 3  # bounded; backoff with jitter, Retry-After honoured (models/retry.py)
    request_timeout: float = 600.0  # seconds per HTTP attempt
    retry_budget_s: float = 300.0  # total backoff sleep allowed for one call
    api_key_env: str | None = None  # the variable the key was read from (its name only)
    extra_body: dict[str, Any] = field(default_factory=dict, hash=False)  # merged into every request body
    extra_headers: dict[str, str] = field(default_factory=dict, hash=False)  # sent with every request

    def public(self) -> dict[str, Any]:
        """Settings safe to write to disk: the key itself never, only whether one was set."""
        return {
            "model": self.model,
            "base_url": redact_url(self.base_url),
            "api_key_set": bool(self.api_key),
            "temperature": self.temperature,
            "max_output_tokens": self.max_output_tokens,
            "include_reasoning_content": self.include_reasoning_content,
            "max_retries": self.max_retries,
            "request_timeout": self.request_timeout,
            "retry_budget_s": self.retry_budget_s,
            "api_key_env": self.api_key_env,
            "extra_body": self.extra_body,
            "extra_headers": sorted(self.extra_headers),  # names only: a header may carry a credential
        }


class ModelClient(Protocol):
    model_id: str

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        attempts: list[dict[str, Any]] | None = None,
    ) -> ModelReply:
        """One model call. Every HTTP attempt is appended to `attempts` as it ends (also when cancelled)."""
        ...

    async def aclose(self) -> None: ...


class ModelCallError(Exception):
    """A model call that failed; `attempts` records every HTTP attempt made for it."""

    def __init__(self, message: str, attempts: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.attempts = list(attempts or [])


class FatalModelError(ModelCallError):
    """Cannot get better (401/403, unknown model, endpoint unreachable before any reply): stop the run."""


class TrialModelError(ModelCallError):
    """The server replied something unusable (not JSON, no message, a call without a name, a 400):
    the task fails as model_error."""


class InfraModelError(TrialModelError):
    """A retryable failure (429, 5xx, timeout, dropped connection) that outlasted the bounded retries:
    the task fails as infra_error, counted apart from model failures."""


def redact_url(url: str) -> str:
    """`url` with any user:password@ part replaced by ***@ (safe to print and write)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
