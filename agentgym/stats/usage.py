"""Tokens, latency per model call, cost from prices, tool-call quality and failure reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from agentgym.specs.result import TaskResult
from agentgym.stats.records import _Frozen

# The policy's refusals (tools/policy.py); sandbox events (unauthorized_write, sandbox_blocked) are not refusals.
POLICY_EVENTS = frozenset(
    {"prohibited_command", "command_not_allowed", "command_parse_error", "path_escape", "disallowed_write_path"}
)
UNKNOWN_TOOL_PREFIX = "unknown tool"


class Prices(_Frozen):
    """US$ per million tokens, as in a model entry; either one unknown makes the cost unknown."""

    per_million_input: float | None = None
    per_million_output: float | None = None


class TokenStats(_Frozen):
    prompt: int
    completion: int
    cached: int | None = None  # None: not recorded by this harness version ("n/a")
    reasoning: int | None = None
    prompt_per_trial: float | None = None
    completion_per_trial: float | None = None


class LatencyStats(_Frozen):
    """Per model call (transcript.model_calls[].latency_ms: every HTTP attempt of the call, no backoff)."""

    calls: int
    mean_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None


class ToolQuality(_Frozen):
    tool_calls: int
    malformed: int  # replies that tried a tool call in text and could not be parsed (Metrics.format_errors)
    recovered_from_text: int  # tool calls parsed out of the reply's text
    unknown_tools: int
    policy_refusals: int
    nonzero_exits: int  # run_command outputs with an exit code other than 0
    safety_events: dict[str, int]


def _optional_sum(results: Sequence[TaskResult], field: str) -> int | None:
    values = [getattr(r.metrics, field, None) for r in results]
    known = [v for v in values if isinstance(v, int)]
    return sum(known) if known else None


def token_stats(results: Sequence[TaskResult]) -> TokenStats:
    prompt = sum(r.metrics.prompt_tokens for r in results)
    completion = sum(r.metrics.completion_tokens for r in results)
    count = len(results)
    return TokenStats(
        prompt=prompt,
        completion=completion,
        cached=_optional_sum(results, "cached_tokens"),
        reasoning=_optional_sum(results, "reasoning_tokens"),
        prompt_per_trial=prompt / count if count else None,
        completion_per_trial=completion / count if count else None,
    )


def latency_stats(results: Sequence[TaskResult]) -> LatencyStats:
    values = np.array([c.latency_ms for r in results for c in r.transcript.model_calls], dtype=float)
    if values.size == 0:
        return LatencyStats(calls=0)
    p50, p95 = np.percentile(values, [50, 95])
    return LatencyStats(calls=int(values.size), mean_ms=float(values.mean()), p50_ms=float(p50), p95_ms=float(p95))


def cost(tokens: TokenStats, prices: Prices | None) -> float | None:
    """US$ from per-million prices; None ("n/a") when a price is unknown."""
    if prices is None or prices.per_million_input is None or prices.per_million_output is None:
        return None
    return (tokens.prompt * prices.per_million_input + tokens.completion * prices.per_million_output) / 1e6


def _nonzero_exit(output: dict[str, object]) -> bool:
    code = output.get("exit_code")
    return isinstance(code, int) and not isinstance(code, bool) and code != 0


def tool_quality(results: Sequence[TaskResult]) -> ToolQuality:
    calls = [c for r in results for c in r.transcript.tool_calls]
    events = Counter(e.type for r in results for e in r.transcript.safety_events)
    return ToolQuality(
        tool_calls=len(calls),
        malformed=sum(r.metrics.format_errors for r in results),
        recovered_from_text=sum(1 for c in calls if c.recovered_from_text),
        unknown_tools=sum(1 for c in calls if (c.error or "").startswith(UNKNOWN_TOOL_PREFIX)),
        policy_refusals=sum(n for kind, n in events.items() if kind in POLICY_EVENTS),
        nonzero_exits=sum(1 for c in calls if _nonzero_exit(c.tool_output)),
        safety_events=dict(sorted(events.items())),
    )


def failure_reasons(results: Sequence[TaskResult]) -> dict[str, int]:
    return dict(sorted(Counter(r.failure_reason for r in results if r.failure_reason).items()))
