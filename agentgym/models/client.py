"""OpenAI-compatible chat client (official SDK, async, one pooled HTTP connection per run)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from agentgym.models.base import FatalModelError, ModelReply, ModelSettings, ToolCall, TrialModelError
from agentgym.models.textcalls import recover_tool_calls
from agentgym.tools.schema import TOOL_NAMES

_TOOL_NAMES = set(TOOL_NAMES)


class OpenAIChatClient:
    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.model_id = settings.model
        self._client = openai.AsyncOpenAI(
            api_key=settings.api_key or "not-needed",
            base_url=settings.base_url,
            max_retries=settings.max_retries,
            timeout=settings.request_timeout,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelReply:
        start = time.perf_counter()
        body = {
            "model": self.settings.model,
            "messages": messages,
            "tools": tools,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_output_tokens,
        }
        try:
            # The SDK's low-level `post` (documented for custom requests) keeps its retries, auth, errors,
            # pooled connection and typed response, but skips `chat.completions.create`'s recursive
            # type-walk of the whole conversation, which costs O(history) per call (~27 ms at 100 messages).
            resp = await self._client.post("/chat/completions", cast_to=ChatCompletion, body=body)
        except openai.AuthenticationError as exc:
            raise FatalModelError(
                f"{self.settings.base_url}: {exc.status_code} unauthorized (check --api-key)"
            ) from None
        except openai.PermissionDeniedError as exc:
            raise FatalModelError(f"{self.settings.base_url}: {exc.status_code} permission denied") from None
        except openai.NotFoundError:
            raise FatalModelError(
                f"{self.settings.base_url}: 404 not found (check --base-url and --model '{self.settings.model}')"
            ) from None
        except openai.APIConnectionError as exc:
            raise FatalModelError(f"cannot reach {self.settings.base_url}: {_cause(exc)}") from None
        except openai.RateLimitError:
            raise TrialModelError(f"429 rate limited after {self.settings.max_retries} retries") from None
        except openai.APIStatusError as exc:
            raise TrialModelError(f"HTTP {exc.status_code} from the model server: {_short(exc.message)}") from None
        except openai.APIError as exc:
            raise TrialModelError(f"bad response from the model server: {_short(str(exc))}") from None
        latency = (time.perf_counter() - start) * 1000
        if not getattr(resp, "choices", None):
            raise TrialModelError("the model server returned a response with no choices")
        return self._reply(resp, latency)

    def _reply(self, resp: Any, latency_ms: float) -> ModelReply:
        choice = resp.choices[0]
        msg = choice.message
        content = msg.content
        calls = [
            ToolCall(
                id=tc.id or f"call_{uuid.uuid4().hex[:8]}",
                name=tc.function.name,
                arguments=tc.function.arguments or "{}",
            )
            for tc in (msg.tool_calls or [])
        ]
        format_errors: list[str] = []
        if not calls and content:  # no native calls: recover calls the model wrote as text
            recovery = recover_tool_calls(content, _TOOL_NAMES)
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
        prompt_tokens = (usage.prompt_tokens or 0) if usage else 0
        completion_tokens = (usage.completion_tokens or 0) if usage else 0
        return ModelReply(
            content=content,
            tool_calls=calls,
            assistant_message=assistant,
            finish_reason=choice.finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=latency_ms,
            format_errors=format_errors,
        )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    return _short(str(inner) if inner else str(exc))
