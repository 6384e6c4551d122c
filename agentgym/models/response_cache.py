"""`--cache-responses`: a ModelClient wrapper that answers a request it has seen before from disk.

The key is the sha256 of the settings that shape a reply (model, base URL without credentials, temperature,
max_output_tokens, include_reasoning_content; never the key, nor timeouts and retry caps, which do not change
what the model says), the exact message list (but the `duration_ms` timing inside tool results) and the tools. Entries live under
`$AGENTGYM_CACHE/responses/<first two hex>/<hash>.json`, written atomically. Only successful replies are
stored. A hit makes no HTTP request and returns the stored reply with `cached=True` (the transcript's response
line says `"cached": true`); its token counts are the recorded ones, its latency is 0. An unreadable entry is
a miss. Off by default.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agentgym.fsutil import write_atomic
from agentgym.models.base import ModelClient, ModelReply, ModelSettings, ToolCall
from agentgym.sources.cache import cache_root

KEY_FIELDS = ("model", "base_url", "temperature", "max_output_tokens", "include_reasoning_content")
MAX_ENTRY_BYTES = 16 * 1024 * 1024
FORMAT = 1


def _keyed(message: dict[str, Any]) -> dict[str, Any]:
    """A message as keyed: a tool result without the `duration_ms` it reports (a timing, different every run,
    which would otherwise make every request after the first command a miss); everything else exact."""
    content = message.get("content")
    if message.get("role") != "tool" or not isinstance(content, str) or '"duration_ms"' not in content:
        return message
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return message
    if not isinstance(data, dict):
        return message
    data.pop("duration_ms", None)
    return {**message, "content": data}


def request_key(settings: ModelSettings, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
    public = settings.public()
    keyed = [_keyed(m) if isinstance(m, dict) else m for m in messages]
    material = {"settings": {k: public[k] for k in KEY_FIELDS}, "messages": keyed, "tools": tools}
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _to_entry(key: str, reply: ModelReply) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "key": key,
        "content": reply.content,
        "tool_calls": [asdict(c) for c in reply.tool_calls],
        "assistant_message": reply.assistant_message,
        "finish_reason": reply.finish_reason,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "format_errors": reply.format_errors,
    }


def _from_entry(key: str, data: Any) -> ModelReply | None:
    """The stored reply, or None when the entry is not one of ours for this key."""
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
        return None
    try:
        calls = [ToolCall(**c) for c in data["tool_calls"]]
        reply = ModelReply(
            content=data["content"],
            tool_calls=calls,
            assistant_message=dict(data["assistant_message"]),
            finish_reason=data["finish_reason"],
            prompt_tokens=int(data["prompt_tokens"]),
            completion_tokens=int(data["completion_tokens"]),
            format_errors=[str(e) for e in data["format_errors"]],
            cached=True,
        )
    except (KeyError, TypeError, ValueError):
        return None
    return reply


class ResponseCache:
    """Wraps a client; same protocol (`complete`, `aclose`, `model_id`)."""

    def __init__(self, inner: ModelClient, settings: ModelSettings, root: Path | None = None) -> None:
        self.inner = inner
        self.settings = settings
        self.model_id = inner.model_id
        self.root = root or cache_root() / "responses"
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def _load(self, key: str) -> ModelReply | None:
        path = self._path(key)
        try:
            if path.stat().st_size > MAX_ENTRY_BYTES:
                return None
            return _from_entry(key, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, RecursionError):
            return None

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        attempts: list[dict[str, Any]] | None = None,
    ) -> ModelReply:
        key = request_key(self.settings, messages, tools)
        cached = self._load(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        reply = await self.inner.complete(messages, tools, attempts=attempts)
        with contextlib.suppress(OSError):  # a cache that cannot be written is only a slower run
            write_atomic(self._path(key), json.dumps(_to_entry(key, reply), ensure_ascii=False, default=str))
        return reply

    async def aclose(self) -> None:
        await self.inner.aclose()


__all__ = ["ResponseCache", "request_key"]
