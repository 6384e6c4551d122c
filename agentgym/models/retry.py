"""Bounded retries with exponential backoff, jitter and Retry-After, recording every attempt.

The SDK's own retries are off (max_retries=0) so that each HTTP attempt is visible: one record per
attempt `{attempt, status, exception, wait_s, duration_ms, error?, retry_after_s?}` where `wait_s` is the
sleep that followed it (0 for the last). `duration_ms` is time spent waiting on the server only.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from agentgym.models.base import FatalModelError, InfraModelError, TrialModelError

T = TypeVar("T")
Kind = Literal["fatal", "retry", "fail"]


@dataclass(frozen=True)
class Verdict:
    """What a failed attempt means: stop the run, retry it, or fail this trial now."""

    kind: Kind
    message: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_s: float = 0.5
    cap_s: float = 8.0
    budget_s: float = 300.0  # total sleep allowed for one call, Retry-After included

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Exponential, capped, with 'equal jitter': half fixed, half random."""
        step = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return step / 2 + step / 2 * rng()


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds asked for by `retry-after-ms`, or `Retry-After` as seconds or an HTTP date; None if absent/bad."""
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) / divisor
        except ValueError:
            continue
        return value if math.isfinite(value) and value >= 0 else None
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


async def with_retries(
    send: Callable[[], Awaitable[T]],
    classify: Callable[[Exception], Verdict],
    policy: RetryPolicy,
    *,
    rng: Callable[[], float] = random.random,
    attempts: list[dict[str, Any]] | None = None,
) -> tuple[T, list[dict[str, Any]]]:
    """`send()` until it succeeds, a failure is final, or retries/budget run out; return (result, attempts).

    Records go into `attempts` as each attempt ends, so a caller cancelled mid-call still has them."""
    attempts = [] if attempts is None else attempts
    slept = 0.0
    for n in range(1, policy.max_retries + 2):
        start = time.perf_counter()
        try:
            result = await send()
        except asyncio.CancelledError:  # the trial's time ran out while waiting on the server
            attempts.append({**_base(n, start), "exception": "CancelledError", "error": "cancelled while waiting"})
            raise
        except Exception as exc:  # classified below; CancelledError is not an Exception
            verdict = classify(exc)
            record = _record(n, start, verdict, exc)
            wait = _wait(verdict, n, policy, slept, rng)
            record["wait_s"] = round(wait, 3) if wait is not None else 0.0
            attempts.append(record)  # complete when appended: a caller may write it out at once
            if wait is None:
                raise _final(verdict, attempts, policy, slept) from None
            slept += wait
            await asyncio.sleep(wait)
            continue
        attempts.append({**_base(n, start), "status": 200})
        return result, attempts
    raise AssertionError("unreachable")  # pragma: no cover


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _base(n: int, start: float) -> dict[str, Any]:
    return {"attempt": n, "status": None, "exception": None, "wait_s": 0.0, "duration_ms": _ms(start)}


def _record(n: int, start: float, verdict: Verdict, exc: Exception) -> dict[str, Any]:
    record = _base(n, start)
    record.update(
        status=verdict.status, exception=None if verdict.status else type(exc).__name__, error=verdict.message
    )
    if verdict.retry_after is not None:
        record["retry_after_s"] = verdict.retry_after
    return record


def _wait(verdict: Verdict, n: int, policy: RetryPolicy, slept: float, rng: Callable[[], float]) -> float | None:
    """The sleep before the next attempt, or None when this failure is the last one."""
    if verdict.kind != "retry" or n > policy.max_retries:
        return None
    wait = policy.backoff(n, rng)
    if verdict.retry_after is not None:
        wait = max(wait, verdict.retry_after)
    return wait if slept + wait <= policy.budget_s else None


def _final(verdict: Verdict, attempts: list[dict[str, Any]], policy: RetryPolicy, slept: float) -> Exception:
    if verdict.kind == "fatal":
        return FatalModelError(verdict.message, attempts)
    if verdict.kind == "fail":
        return TrialModelError(verdict.message, attempts)
    n = len(attempts)
    why = "retries exhausted" if n > policy.max_retries else f"retry budget of {policy.budget_s:g} s reached"
    return InfraModelError(f"{verdict.message} ({n} attempt(s), {why}, {slept:.1f} s waited)", attempts)
