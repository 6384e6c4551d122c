"""OpenAI-compatible chat client (official SDK, async, one pooled HTTP connection per run).

Retries are ours (models/retry.py), not the SDK's, so that every attempt is recorded. What each failure means:
401/403/404 and an endpoint that cannot be reached before any reply are fatal (the run stops); 408/409/429/5xx,
timeouts and dropped connections are retried, then fail the trial as infra_error; a reply that cannot be used
(not JSON, no choices, `message: null`, a tool call without a function or name) or another 4xx fails the trial
as model_error at once.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from agentgym.models.base import ModelReply, ModelSettings, ToolCall, redact_url
from agentgym.models.retry import RetryPolicy, Verdict, retry_after_seconds, with_retries
from agentgym.models.textcalls import recover_tool_calls
from agentgym.scrub import SCRUBBER, Scrubber, url_secrets

_RETRY_STATUS = {408, 409, 429}
_CONNECT_ERRORS = {"ConnectError", "ConnectTimeout"}  # httpx: nothing reached the server


def _plain_http_client(base_url: str) -> Any:
    """For an http:// endpoint, an HTTP client that never speaks TLS: it does not follow redirects (so never to
    https) and does not load the CA bundle (~40 ms of every start-up). None (the SDK's default) otherwise."""
    if not base_url.lower().startswith("http://"):
        return None
    return openai.DefaultAsyncHttpxClient(verify=False, follow_redirects=False)


class MalformedReply(Exception):
    """The server answered 200 with something that is not a usable chat completion."""


class OpenAIChatClient:
    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.model_id = settings.model
        self._where = redact_url(settings.base_url)
        self._scrub = Scrubber([settings.api_key or "", *url_secrets(settings.base_url)])
        self._policy = RetryPolicy(max_retries=settings.max_retries, budget_s=settings.retry_budget_s)
        self._reached = False  # any HTTP reply seen: from then on a connection error is retried, not fatal
        self._client = openai.AsyncOpenAI(
            api_key=settings.api_key or "not-needed",
            base_url=settings.base_url,
            max_retries=0,
            timeout=settings.request_timeout,
            default_headers=settings.extra_headers or None,
            http_client=_plain_http_client(settings.base_url),
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        attempts: list[dict[str, Any]] | None = None,
    ) -> ModelReply:
        body = {
            "model": self.settings.model,
            "messages": messages,
            "tools": tools,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_output_tokens,
            **self.settings.extra_body,
        }
        reply, attempts = await with_retries(lambda: self._send(body), self._classify, self._policy, attempts=attempts)
        reply.attempts = attempts
        reply.latency_ms = round(sum(a["duration_ms"] for a in attempts), 3)
        return reply

    async def _send(self, body: dict[str, Any]) -> ModelReply:
        try:
            # The SDK's low-level `post` (documented for custom requests) keeps auth, errors, the pooled
            # connection and a typed response, but skips `chat.completions.create`'s recursive type-walk of
            # the whole conversation, which costs O(history) per call (~27 ms at 100 messages).
            resp = await self._client.post("/chat/completions", cast_to=ChatCompletion, body=body)
        except openai.APIStatusError:
            self._reached = True
            raise
        except ValueError:  # a JSON content type whose body does not parse
            self._reached = True
            raise MalformedReply("the model server's reply is not valid JSON") from None
        self._reached = True
        return self._reply(resp, _tool_names(body.get("tools")))

    def _text(self, text: object) -> str:
        return _short(SCRUBBER(self._scrub(str(text))))  # scrub before cutting: no partial key survives

    def _classify(self, exc: Exception) -> Verdict:
        where = self._where
        if isinstance(exc, MalformedReply):
            return Verdict("fail", self._text(exc), status=200)
        if isinstance(exc, openai.APIStatusError):
            return self._classify_status(exc)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            if not self._reached and _is_connect_error(cause):
                return Verdict("fatal", f"cannot reach {where}: {self._text(cause or exc)}")
            if isinstance(exc, openai.APITimeoutError):
                return Verdict("retry", f"no reply from {where} within {self.settings.request_timeout:g} s")
            return Verdict("retry", f"connection to {where} failed: {self._text(_cause(exc))}")
        return Verdict("fail", f"unusable reply from the model server: {self._text(f'{type(exc).__name__}: {exc}')}")

    def _classify_status(self, exc: openai.APIStatusError) -> Verdict:
        code, where = exc.status_code, self._where
        if code == 401:
            return Verdict("fatal", f"{where}: 401 unauthorized (check --api-key / --api-key-env)", status=code)
        if code == 403:
            return Verdict("fatal", f"{where}: 403 permission denied", status=code)
        if code == 404:
            return Verdict(
                "fatal", f"{where}: 404 not found (check --base-url and --model '{self.settings.model}')", status=code
            )
        message = f"HTTP {code} from the model server: {self._text(exc.message)}"
        if code in _RETRY_STATUS or code >= 500:
            return Verdict("retry", message, status=code, retry_after=retry_after_seconds(exc.response.headers))
        return Verdict("fail", message, status=code)

    def _reply(self, resp: Any, tool_names: set[str]) -> ModelReply:
        try:
            return self._build_reply(resp, tool_names)
        except MalformedReply:
            raise
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:  # a shape no check foresaw
            raise MalformedReply(f"the model server's reply has an unexpected shape ({type(exc).__name__})") from None

    def _build_reply(self, resp: Any, tool_names: set[str]) -> ModelReply:
        if isinstance(resp, str):  # the SDK hands back the text of a non-JSON content type
            raise MalformedReply(f"the model server's reply is not JSON: {_short(resp, 80)!r}")
        choices = getattr(resp, "choices", None)
        if not choices or not isinstance(choices, list):
            raise MalformedReply("the model server returned a response with no choices")
        choice = choices[0]
        msg = getattr(choice, "message", None)
        if msg is None:
            raise MalformedReply("the model server's reply has no message (choices[0].message is null)")
        content = msg.content
        if content is not None and not isinstance(content, str):
            raise MalformedReply(f"the model server's message content is {type(content).__name__}, not text")
        calls = [_native_call(i, tc) for i, tc in enumerate(msg.tool_calls or [])]
        format_errors: list[str] = []
        if not calls and content:  # no native calls: recover calls the model wrote as text
            recovery = recover_tool_calls(content, tool_names)
            format_errors = list(recovery.format_errors)
            calls = [
                ToolCall(
                    id=f"call_{uuid.uuid4().hex[:8]}", name=c.name, arguments=c.arguments, recovered_from_text=True
                )
                for c in recovery.calls
            ]
        assistant: dict[str, Any] = {"role": "assistant", "content": content or ""}  # some servers reject null
        if calls:  # recovered calls too, so the tool replies that follow are well-formed
            assistant["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
            ]
        reasoning = getattr(msg, "reasoning_content", None) or (msg.model_extra or {}).get("reasoning_content")
        if reasoning and self.settings.include_reasoning_content:
            assistant["reasoning_content"] = reasoning
        usage = resp.usage
        prompt_tokens, completion_tokens = _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens")
        return ModelReply(
            content=content,
            tool_calls=calls,
            assistant_message=assistant,
            finish_reason=choice.finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            format_errors=format_errors,
        )


def _tool_names(tools: Any) -> set[str]:
    """The names of the tools a request offers (the run's tool profile): text-call recovery accepts those."""
    return {str(t.get("function", {}).get("name")) for t in tools or [] if isinstance(t, dict)}


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    return str(inner) if inner else str(exc)


def _is_connect_error(exc: BaseException | None) -> bool:
    """httpx's ConnectError/ConnectTimeout (by name: the SDK's HTTP library may be httpx or its fork)."""
    return exc is not None and any(c.__name__ in _CONNECT_ERRORS for c in type(exc).__mro__)


def _native_call(index: int, tc: Any) -> ToolCall:
    function = getattr(tc, "function", None)
    if function is None:
        raise MalformedReply(f"tool call {index} has no function (function is null)")
    name = getattr(function, "name", None)
    if not isinstance(name, str) or not name:
        raise MalformedReply(f"tool call {index} has no function name (name is {_kind(name)})")
    arguments = getattr(function, "arguments", None)
    if arguments is not None and not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False, default=str)
    call_id = getattr(tc, "id", None)
    return ToolCall(
        id=call_id if isinstance(call_id, str) and call_id else f"call_{uuid.uuid4().hex[:8]}",
        name=name,
        arguments=arguments or "{}",
    )


def _kind(value: object) -> str:
    return "null" if value is None else ("empty" if value == "" else type(value).__name__)


def _tokens(usage: Any, name: str) -> int:
    value = getattr(usage, name, 0) if usage else 0
    return value if isinstance(value, int) and value >= 0 else 0
