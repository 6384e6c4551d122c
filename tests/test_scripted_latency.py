"""The scripted server's `latency=`: every reply waits, and concurrent requests are answered concurrently
(a thread per connection), measured by the server's own peak of requests in flight, not by timings."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any

from agentgym.models.scripted import ScriptByTask, ScriptedServer

N = 8


def _post(base_url: str, barrier: threading.Barrier, out: list[dict[str, Any]]) -> None:
    host, port = base_url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}]})
    barrier.wait()
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    out.append(json.loads(conn.getresponse().read()))
    conn.close()


def test_latency_replies_are_served_concurrently() -> None:
    replies: list[dict[str, Any]] = []
    barrier = threading.Barrier(N)
    server = ScriptedServer(ScriptByTask({}, default=[{"content": "done"}]), require_tools=False, latency=1.0)
    with server:
        threads = [threading.Thread(target=_post, args=(server.base_url, barrier, replies)) for _ in range(N)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(replies) == N
    assert all(r["choices"][0]["message"]["content"] == "done" for r in replies)
    assert server.max_in_flight == N  # all N were being answered at once: a thread per connection
    assert server.in_flight == 0


def test_latency_is_optional_and_never_negative() -> None:
    assert ScriptedServer(ScriptByTask({}), latency=-1).latency == 0.0
    assert ScriptedServer(ScriptByTask({})).latency == 0.0
