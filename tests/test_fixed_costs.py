"""Pieces cut for start-up cost, tested on real parts: the warm-up client (real HTTP to a scripted server),
the plain-http client, and the launcher's plain-argv protocol (a real subprocess)."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agentgym.models.base import ModelSettings
from agentgym.models.scripted import ScriptByTask, ScriptedServer
from agentgym.runner.settings import WarmingClient, make_client
from agentgym.sandbox.launcher import EXIT_FAILED
from agentgym.tools.schema import TOOL_SCHEMAS

LAUNCHER = Path(__file__).resolve().parents[1] / "agentgym" / "sandbox" / "launcher.py"
MESSAGES = [{"role": "user", "content": "hello"}]


def _in_thread(fn: Any, *args: Any) -> Future[Any]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fn, *args)
    pool.shutdown(wait=False)
    return future


async def _two_calls(client: WarmingClient) -> list[str | None]:
    replies = await asyncio.gather(*(client.complete(MESSAGES, TOOL_SCHEMAS) for _ in range(2)))
    return [r.content for r in replies]


def test_warming_client_uses_the_warmed_client_once_and_closes_it() -> None:
    with ScriptedServer(ScriptByTask({}, default=[{"content": "hi"}])) as server:
        settings = ModelSettings(model="scripted-model", base_url=server.base_url)
        warm = _in_thread(make_client, settings)
        client = WarmingClient(settings, warm)

        async def scenario() -> tuple[list[str | None], bool, bool]:
            contents = await _two_calls(client)  # concurrent first calls: one client is built, not two
            built = await client.client()
            same = built is warm.result()
            await client.aclose()
            return contents, same, built._client.is_closed()

        contents, same, closed = asyncio.run(scenario())
    assert contents == ["hi", "hi"] and same and closed
    assert len(server.requests) == 2


def test_warming_client_builds_its_own_when_the_thread_warmed_a_module_only() -> None:
    with ScriptedServer(ScriptByTask({}, default=[{"content": "own"}])) as server:
        settings = ModelSettings(model="scripted-model", base_url=server.base_url)
        client = WarmingClient(settings, _in_thread(importlib.import_module, "agentgym.models.client"))

        async def scenario() -> list[str | None]:
            try:
                return await _two_calls(client)
            finally:
                await client.aclose()

        assert asyncio.run(scenario()) == ["own", "own"]


def test_unused_warming_client_closes_the_warmed_one() -> None:
    settings = ModelSettings(model="m", base_url="http://127.0.0.1:9/v1")
    warm = _in_thread(make_client, settings)
    asyncio.run(WarmingClient(settings, warm).aclose())
    assert warm.result()._client.is_closed()


def test_plain_http_endpoint_client_follows_no_redirect() -> None:
    from agentgym.models.client import OpenAIChatClient

    plain = OpenAIChatClient(ModelSettings(model="m", base_url="http://127.0.0.1:9/v1"))
    tls = OpenAIChatClient(ModelSettings(model="m", base_url="https://127.0.0.1:9/v1"))
    assert plain._client._client.follow_redirects is False
    assert tls._client._client.follow_redirects is True  # the SDK's own client, CA bundle and all


def _launch(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-I", "-S", str(LAUNCHER), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_launcher_plain_argv(tmp_path: Path) -> None:
    flt = tmp_path / "filter.bin"
    flt.write_bytes(b"abc")
    done = _launch("-", "0", "1", "9", str(flt), "/bin/sh", "-c", 'cat <&9; echo " $0"', "ok")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "abc ok\n"  # the file at fd 9, then the program with its own arguments


def test_launcher_bad_arguments_fail_closed(tmp_path: Path) -> None:
    for args in (
        ["x1", "0", "0", "/bin/true"],
        ["-", "x"],
        ["-", "2", "/only-one"],
        ["-", "0", "1", "9"],
        ["-", "0", "0"],
    ):
        done = _launch(*args)
        assert done.returncode == EXIT_FAILED and "agentgym launcher" in done.stderr, (args, done.stderr)
    missing = _launch("-", "1", str(tmp_path / "no-such-cgroup" / "cgroup.procs"), "0", "/bin/true")
    assert missing.returncode == EXIT_FAILED and "cannot join the trial cgroup" in missing.stderr
