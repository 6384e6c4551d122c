"""A campaign's model entries and fields turned into what the runner uses: ModelSettings and a RunRequest.

Unset entry fields fall back to the usual settings, with the original precedence (flag/file > environment
variable > .env, cli/settings.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from concurrent.futures import Future
from typing import Any

from agentgym.cli import settings as st
from agentgym.errors import SpecError
from agentgym.models.base import FatalModelError, ModelReply, ModelSettings
from agentgym.runner.run import RunRequest
from agentgym.sandbox.base import Limits
from agentgym.scrub import url_secrets
from agentgym.specs.campaign import CampaignSpec, ModelEntry


def sandbox_limits(values: dict[str, int], where: str = "limits") -> Limits:
    names = {f.name for f in dataclasses.fields(Limits)}
    for name, value in values.items():
        if name not in names:
            raise SpecError(f"{where}.{name}: unknown sandbox limit (known: {', '.join(sorted(names))})")
        if value <= 0:
            raise SpecError(f"{where}.{name}: must be positive")
    return dataclasses.replace(Limits(), **values)


def run_request(spec: CampaignSpec) -> RunRequest:
    return RunRequest(
        config_dir=spec.config_dir,
        task_set=spec.task_set,
        repos=spec.repos,
        tasks_glob=spec.tasks,
        limit=spec.limit,
        runs_root=spec.runs_root,
        scoring_profile=spec.scoring_profile,
        epochs=spec.epochs,
        concurrency=spec.concurrency,
        max_sandboxes=spec.max_sandboxes,
        limits=sandbox_limits(spec.limits),
        tool_output_bytes=spec.tool_output_bytes,
        command_policy=spec.command_policy,
        command_budget=spec.command_budget,
        repeat_limit=spec.repeat_limit,
        tool_profile=spec.tools,
        prompt_profile=spec.prompt_profile,
        prompt_file=spec.prompt_file,
    )


def endpoint_settings(entry: ModelEntry, served: tuple[str, str] | None = None) -> ModelSettings | None:
    """The entry's settings; None when it means the embedded model (`local`, or no model and no base URL).
    `served`: (model name, base URL) of the embedded server once it runs."""
    if served is not None:
        model, base_url, api_key, default_max = served[0], served[1], None, 1024
    else:
        if entry.local:
            return None
        model, base_url = st.resolve("model", entry.model), st.resolve("base_url", entry.base_url)
        if not model and not base_url:
            return None
        given = entry.api_key.get_secret_value() if entry.api_key else None
        api_key, default_max = st.resolve_api_key(given, entry.api_key_env), 4096
        model, base_url = model or "default", base_url or "https://api.openai.com/v1"
    timeout = st.as_number("request_timeout", st.resolve("request_timeout", entry.request_timeout), 600.0)
    if timeout <= 0:
        raise SpecError(f"--request-timeout: must be a positive number of seconds, got {timeout:g}")
    return ModelSettings(
        model=model,
        base_url=base_url,
        api_key=api_key,
        temperature=st.as_number("temperature", st.resolve("temperature", entry.temperature), 0.0),
        max_output_tokens=st.as_number(
            "max_output_tokens", st.resolve("max_output_tokens", entry.max_output_tokens), default_max
        ),
        include_reasoning_content=entry.include_reasoning_content,
        request_timeout=timeout,
        api_key_env=entry.api_key_env if api_key and entry.api_key is None else None,
        extra_body=dict(entry.extra_body),
        extra_headers=dict(entry.extra_headers),
    )


def secrets_of(settings: ModelSettings) -> list[str]:
    """Values scrubbed from everything written: the key, base-URL credentials, extra header values."""
    values = [settings.api_key or "", *url_secrets(settings.base_url), *settings.extra_headers.values()]
    return [v for v in values if v]


def make_client(settings: ModelSettings) -> Any:
    from agentgym.models.client import OpenAIChatClient

    return OpenAIChatClient(settings)


class WarmingClient:
    """The endpoint's client, built (openai imported) in the warm-up thread while the run is planned; the
    first call waits for it. So the first trials open their sandboxes, whose start-up runs in other
    processes, while the SDK is still being imported, instead of after. `aclose` closes what was built."""

    def __init__(self, settings: ModelSettings, warm: Future[Any] | None) -> None:
        self.settings = settings
        self.model_id = settings.model
        self._warm = warm
        self._built: Any = None
        self._lock: asyncio.Lock | None = None

    async def client(self) -> Any:
        if self._built is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._built is None:
                    self._built = await self._build()
        return self._built

    async def _build(self) -> Any:
        warm, self._warm = self._warm, None
        warmed = None
        if warm is not None:
            with contextlib.suppress(Exception):  # the thread failed: built again here, where errors show
                warmed = await asyncio.wrap_future(warm)
        if getattr(warmed, "settings", None) == self.settings:
            return warmed
        if hasattr(warmed, "settings"):  # a client for other settings (the thread warms a module otherwise)
            await warmed.aclose()
        try:
            return make_client(self.settings)
        except Exception as exc:  # the model cannot be called at all: stop its run, one line
            raise FatalModelError(f"cannot build the model client: {type(exc).__name__}: {exc}") from None

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        attempts: list[dict[str, Any]] | None = None,
    ) -> ModelReply:
        client = await self.client()
        return await client.complete(messages, tools, attempts=attempts)

    async def aclose(self) -> None:
        if self._built is not None:
            await self._built.aclose()
        elif self._warm is not None:  # never called: close the warm-up's client if it was built
            with contextlib.suppress(Exception):
                warmed = await asyncio.wrap_future(self._warm)
                if hasattr(warmed, "settings"):
                    await warmed.aclose()
