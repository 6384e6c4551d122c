"""Stopping a run cleanly: SIGINT and SIGTERM cancel it the same way, and no sandbox outlives it.

- `run_until_signal` runs the main coroutine with handlers for SIGINT and SIGTERM: the first signal cancels
  it (trials see CancelledError), later ones only say that cleanup is under way; when the run has unwound it
  raises `Interrupted` with the signal, so the CLI exits 130 (SIGINT) or 143 (SIGTERM).
- `TrackingFactory` wraps the sandbox factory: every sandbox it opened and that was not cleaned up is
  cleaned up by `close_all`, which the runner awaits (shielded) when the run ends for any reason, so a
  cancelled trial never leaves its workspace, scratch mounts or processes behind.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

from agentgym.sandbox.base import Sandbox, SandboxFactory, SandboxSpec
from agentgym.sources.base import Snapshot

T = TypeVar("T")
SIGNALS = (signal.SIGINT, signal.SIGTERM)
logger = logging.getLogger(__name__)


class Interrupted(Exception):
    """The run was stopped by a signal (after its cleanup ran)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


async def run_until_signal(main: Coroutine[Any, Any, T], on_repeat: Callable[[], None] = lambda: None) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def handle(signum: int) -> None:
        if not received and task is not None:
            task.cancel()
        else:
            on_repeat()
        received.append(signum)

    for sig in SIGNALS:
        loop.add_signal_handler(sig, handle, sig)
    try:
        return await main
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)


async def shielded(work: Awaitable[None]) -> None:
    """Await `work` to its end even if the awaiting task is cancelled meanwhile, any number of times; the
    cancellation is re-raised once the work is done."""
    future = asyncio.ensure_future(work)
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    future.result()


class _Tracked:
    """A sandbox that leaves the tracker's live set only once its cleanup has completed."""

    def __init__(self, sandbox: Sandbox, live: set[_Tracked]) -> None:
        self._sandbox = sandbox
        self._live = live

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sandbox, name)

    async def cleanup(self) -> None:
        await self._sandbox.cleanup()
        self._live.discard(self)


class TrackingFactory:
    def __init__(self, inner: SandboxFactory) -> None:
        self.inner = inner
        self.name = inner.name
        self.live: set[_Tracked] = set()

    async def open(self, snapshot: Snapshot, spec: SandboxSpec) -> Sandbox:
        tracked = _Tracked(await self.inner.open(snapshot, spec), self.live)
        self.live.add(tracked)
        return cast(Sandbox, tracked)  # a transparent proxy of the Sandbox

    async def close_all(self) -> None:
        """Stop and clean up every sandbox not cleaned up yet (cancelled trials); errors are logged."""
        for tracked in list(self.live):
            try:
                await tracked.cleanup()
            except Exception as exc:
                logger.warning("cleanup of a cancelled trial's sandbox failed: %s", exc)
