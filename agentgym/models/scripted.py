"""A scripted OpenAI-compatible server on 127.0.0.1, for tests, benchmarks and demos.

Stateless by design: the reply depends only on the request (which script, how many assistant turns so far),
so it works with retries and concurrent trials. It validates that requests carry the tool schema (all tools of
one tool profile, tools/profiles.py).

Fault injection (the fault suite, tests/test_faults.py): a step may be, or may carry, a fault.
  {"status": N, "retry_after": "2", "message": ..., "echo_auth": true}  an error status (the body can echo the
                                                                       Authorization header, key included)
  {"drop": true}            headers and part of the body, then the connection is closed
  {"sleep": S, ...}         wait S seconds before answering (beyond the client's timeout)
  {"raw_text": "..."}       a 200 whose body is not JSON (Content-Type application/json unless "content_type")
  {"raw_body": {...}}       a 200 with this JSON body (`{"choices": [{"message": null}]}`, a null function, ...)
`latency=S` (ScriptedServer): every chat reply waits S seconds, like a real endpoint's generation time. Each
connection has its own thread (ThreadingHTTPServer), so N concurrent requests take ~S, not N×S.
A step with "faults": [f1, f2, ...] answers its first requests with f1, f2, ... (counted per script and turn,
so a retried request meets the next fault), then with the step itself.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agentgym.tools.profiles import profile_of_request

Step = dict[str, Any]
Responder = Callable[[dict[str, Any]], Step]


def completion(step: Step, model: str) -> dict[str, Any]:
    """Build a chat.completion body from a step: {"tool"/"args"}, {"tools": [...]}, {"content": ...}."""
    calls = step.get("tools") or ([{"tool": step["tool"], "args": step.get("args", {})}] if "tool" in step else [])
    message: dict[str, Any] = {"role": "assistant", "content": step.get("content")}
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:10]}",
                "type": "function",
                "function": {
                    "name": c["tool"],
                    "arguments": c["raw_arguments"] if "raw_arguments" in c else json.dumps(c.get("args", {})),
                },
            }
            for c in calls
        ]
    if "reasoning_content" in step:
        message["reasoning_content"] = step["reasoning_content"]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {
            "prompt_tokens": step.get("prompt_tokens", 10),
            "completion_tokens": step.get("completion_tokens", 5),
            "total_tokens": step.get("prompt_tokens", 10) + step.get("completion_tokens", 5),
        },
    }


class ScriptByTask:
    """Pick a script by a substring of the first user message; the step is the number of assistant turns."""

    def __init__(self, scripts: dict[str, list[Step]], default: list[Step] | None = None) -> None:
        self.scripts = scripts
        self.default = default if default is not None else [{"content": "done"}]
        self._seen: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> Step:
        messages = request.get("messages", [])
        first_user = next((str(m.get("content")) for m in messages if m.get("role") == "user"), "")
        key, script = next(((k, s) for k, s in self.scripts.items() if k in first_user), ("", self.default))
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        step = script[turn] if turn < len(script) else {"content": "done"}
        faults = step.get("faults") or []
        with self._lock:
            seen = self._seen.get((key, turn), 0)
            self._seen[(key, turn)] = seen + 1
        return faults[seen] if seen < len(faults) else step


class _Server(ThreadingHTTPServer):
    # listen(2) backlog: the default 5 drops the SYNs of a burst of new connections (16 trials opening theirs at
    # once), and each dropped one is retried by the client's kernel only after 1 s
    request_queue_size = 128
    daemon_threads = True


class ScriptedServer:
    def __init__(
        self,
        responder: Responder,
        *,
        model: str = "scripted-model",
        require_tools: bool = True,
        port: int = 0,
        keep_requests: bool = True,
        latency: float = 0.0,
    ) -> None:
        self.responder = responder
        self.latency = max(0.0, latency)  # seconds per chat reply, served concurrently
        self.model = model
        self.require_tools = require_tools
        self.keep_requests = keep_requests  # False for a long-lived server (`agentgym serve-scripted`)
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self.in_flight = 0  # requests being answered now, and the most ever at once (per-endpoint limit tests)
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> ScriptedServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close the open keep-alive connections too (a server that went away)."""
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _reply(self, body: dict[str, Any], auth: str) -> tuple[int, Any, dict[str, str], Step]:
        if self.require_tools:
            names = {t.get("function", {}).get("name") for t in body.get("tools") or []}
            if profile_of_request(names) is None:  # every tool of one profile (tools/profiles.py)
                message = f"request lacks the tool schema (got {sorted(map(str, names))})"
                return 400, {"error": {"message": message}}, {}, {}
        step = self.responder(body)
        if self.latency:
            time.sleep(self.latency)
        if step.get("sleep"):
            time.sleep(float(step["sleep"]))
        if "status" in step:
            headers = {}
            if "retry_after" in step or step["status"] == 429:
                headers["Retry-After"] = str(step.get("retry_after", 0))
            message = step.get("message", "scripted error") + (f" (you sent {auth})" if step.get("echo_auth") else "")
            return int(step["status"]), {"error": {"message": message}}, headers, step
        if step.get("raw_text") is not None:
            return 200, str(step["raw_text"]), {"Content-Type": step.get("content_type", "application/json")}, step
        if step.get("raw_body") is not None:
            return 200, step["raw_body"], {}, step
        return 200, completion(step, self.model), {}, step

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: avoid the 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None, drop: bool = False
            ) -> None:
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client went away
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data) + (1000 if drop else 0)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2] if drop else data)
                if drop:  # the body is cut short: the client sees the connection closed mid-response
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    if server.keep_requests:
                        server.requests.append(body)
                        server.auth_headers.append(self.headers.get("Authorization", ""))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, payload, headers, step = server._reply(body, self.headers.get("Authorization", ""))
                finally:
                    with server._lock:
                        server.in_flight -= 1
                self._send(status, payload, headers, drop=bool(step.get("drop")))

        return Handler
