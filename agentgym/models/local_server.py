"""An embedded OpenAI-compatible model server: llama-cpp-python serving a local GGUF file.

    async with LocalModelServer("1.5b") as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="local")
        await client.chat.completions.create(model=server.model_name, ...)

The server runs in its own process group. `stop()` (also on cancellation, via `async with`)
sends SIGTERM to the group, then SIGKILL after a grace period. Fallbacks for an interpreter
that exits without stopping it: an atexit hook, and on Linux the child asks the kernel
(PR_SET_PDEATHSIG) to be terminated when the process that started it dies.

Findings for Qwen2.5-Coder GGUFs with llama-cpp-python 0.3.36: the chat template stored in
the GGUF is used (no --chat_format needed) and it renders the request's `tools`. The model
answers with its calls as plain content (a ```json block or <tool_call> tags), not native
`tool_calls` (see agentgym.models.textcalls); only a forced `tool_choice` gives native
calls. Assistant history messages need `content: ""` rather than null (the server rejects null).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from agentgym.errors import LocalModelError
from agentgym.fsutil import file_sha256
from agentgym.models.weights import MODEL_CARDS, SPECS, PipSource, ensure_weights, models_dir

INSTALL_HINT = (
    'install the server with: CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON '
    "-DGGML_F16C=ON\" pip install 'agentgym[local]'"
)
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
_REPACK_NOTE = MODEL_CARDS["1.5b"]["note"]
_LOG_TAIL = 15
_QUANT_RE = re.compile(r"(?i)(?<![A-Z0-9])(I?Q\d(?:_K)?(?:_[A-Z0-9]+)?|BF16|F16|F32)(?![A-Z0-9])")
# Runs in the child: die with the parent (Linux), then become the server (same pid).
_LAUNCHER = (
    "import ctypes, os, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, 15)\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'llama_cpp.server', *sys.argv[2:]])\n"
)
_LIVE: dict[int, subprocess.Popen[bytes]] = {}


class LocalModelServer:
    """Async context manager around one llama-cpp-python server process."""

    slots = 1  # llama-cpp-python's server runs one completion at a time (its requests share one lock)

    def __init__(
        self,
        model: str = "1.5b",
        *,
        threads: int | None = None,
        n_ctx: int = 8192,
        port: int | None = None,
        host: str = "127.0.0.1",
        cache: Path | None = None,
        startup_timeout: float = 180.0,
        stop_grace: float = 5.0,
        weights_source: PipSource | None = None,
    ) -> None:
        self.model = model
        self.threads = threads or _default_threads()
        self.n_ctx = n_ctx
        self.host = host
        self.cache = cache
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.weights_source = weights_source
        self._requested_port = port
        self.port: int | None = None
        self.model_path: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._card: dict[str, Any] = {}

    # --- public API ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LocalModelError("the local model server is not started")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model_name(self) -> str:
        """The `model` to send in requests (the server's alias for the loaded file)."""
        return self.model_path.stem if self.model_path else str(self.model)

    @property
    def card(self) -> dict[str, Any]:
        return dict(self._card)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def __aenter__(self) -> LocalModelServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Resolve weights, launch the server and wait until it answers; never hangs."""
        if self._proc is not None:
            raise LocalModelError("the local model server is already started")
        version = _server_version()
        if self._requested_port:  # fail fast, before a possibly long weights download
            _choose_port(self.host, self._requested_port)
        self.model_path, sha = await asyncio.to_thread(self._resolve_model)
        self.port = _choose_port(self.host, self._requested_port)
        self._card = self._make_card(sha, version)
        t0 = time.monotonic()
        try:
            self._launch()
            await self._wait_healthy()
        except BaseException:
            await self.stop()
            raise
        self._card["startup_seconds"] = round(time.monotonic() - t0, 2)

    async def stop(self) -> None:
        """Terminate the whole process group: SIGTERM, then SIGKILL after `stop_grace` seconds."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            _signal_group(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_grace
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            _kill_now(proc)

    # --- internals -----------------------------------------------------------------------------

    def _resolve_model(self) -> tuple[Path, str]:
        if self.model in SPECS:
            path = ensure_weights(self.model, self.cache, source=self.weights_source)
            return path, SPECS[self.model].sha256
        path = Path(self.model).expanduser().resolve()
        if not path.is_file():
            known = ", ".join(sorted(SPECS))
            raise LocalModelError(f"model {self.model!r} is neither an embedded model ({known}) nor a file")
        return path, _path_sha256(path, models_dir(self.cache))

    def _make_card(self, sha: str, version: str) -> dict[str, Any]:
        assert self.model_path is not None
        known = MODEL_CARDS.get(self.model, {})
        return {
            "model": known.get("hf_name", self.model_path.stem),
            "name": self.model if known else self.model_path.stem,
            "file": str(self.model_path),
            "sha256": sha,
            "quantisation": known.get("quantisation") or _quant_from_name(self.model_path.name),
            "context_size": self.n_ctx,
            "threads": self.threads,
            "server": f"llama-cpp-python {version}",
            "note": _REPACK_NOTE if known else "user-supplied GGUF file",
        }

    def _launch(self) -> None:
        assert self.model_path is not None and self.port is not None
        log_dir = models_dir(self.cache) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"server-{time.strftime('%Y%m%d-%H%M%S')}-{self.port}.log"
        args = [
            "--model", str(self.model_path), "--model_alias", self.model_name,
            "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
        ]  # fmt: skip
        cmd = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *args]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _register(self._proc)

    async def _wait_healthy(self) -> None:
        assert self._proc is not None and self.port is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise self._failure(f"exited with code {self._proc.returncode} during startup")
            if await _answers(self.host, self.port, "/v1/models"):
                return
            if time.monotonic() > deadline:
                raise self._failure(f"did not become healthy within {self.startup_timeout:g} s")
            await asyncio.sleep(0.2)

    def _failure(self, what: str) -> LocalModelError:
        tail = _log_tail(self.log_path)
        return LocalModelError(
            f"local model server for {self.model_path} {what}; log {self.log_path}:\n{tail}",
            hint="check that the file is a valid GGUF model and that there is enough memory",
        )


# --- helpers -----------------------------------------------------------------------------------


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _server_version() -> str:
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise LocalModelError(
            f"the local model server needs llama-cpp-python with its server extra (missing: {', '.join(missing)})",
            hint=INSTALL_HINT,
        )
    return importlib.metadata.version("llama_cpp_python")


def _choose_port(host: str, port: int | None) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port or 0))
        except OSError:
            raise LocalModelError(f"port {port} is in use", hint="choose another port or omit it") from None
        return int(sock.getsockname()[1])


async def _answers(host: str, port: int, path: str, timeout: float = 2.0) -> bool:
    """True when GET `path` answers 200 (a tiny HTTP/1.0 client: no extra dependency)."""
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
    parts = status.split()
    return len(parts) >= 2 and parts[1] == b"200"


def _log_tail(path: Path | None) -> str:
    if path is None or not path.exists():
        return "(no log)"
    with path.open("r", errors="replace") as fh:
        lines = deque((ln.rstrip()[:300] for ln in fh), maxlen=_LOG_TAIL)
    return "\n".join(lines) or "(empty log)"


def _quant_from_name(name: str) -> str:
    m = _QUANT_RE.search(name)
    return m.group(1).upper() if m else "unknown"


def _path_sha256(path: Path, cache_dir: Path) -> str:
    """sha256 of a user GGUF, remembered by (path, size, mtime) under the cache."""
    index = cache_dir / "file-hashes.json"
    st = path.stat()
    key = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    stamp = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    try:
        known: dict[str, Any] = json.loads(index.read_text())
    except (OSError, ValueError):
        known = {}
    entry = known.get(key)
    if isinstance(entry, dict) and {k: entry.get(k) for k in stamp} == stamp and "sha256" in entry:
        return str(entry["sha256"])
    sha = file_sha256(path)
    known[key] = {**stamp, "sha256": sha}
    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = index.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(index)
    return sha


# --- process-group lifecycle -------------------------------------------------------------------


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _kill_now(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the group (the leader's pid is the pgid) and reap the leader. Synchronous."""
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    _LIVE.pop(proc.pid, None)
    deadline = time.monotonic() + 2.0  # orphaned group members are reaped by init: wait briefly
    while _group_exists(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _register(proc: subprocess.Popen[bytes]) -> None:
    if not _LIVE:
        atexit.unregister(_kill_all)
        atexit.register(_kill_all)
    _LIVE[proc.pid] = proc


def _kill_all() -> None:
    for proc in list(_LIVE.values()):
        _kill_now(proc)
