"""Harness side of the executor: start it through a launcher, talk JSON lines, implement `Sandbox`.

Shared by the bubblewrap and local sandboxes; they differ only in how the executor is launched
(`Launch`) and what happens to the host files after it is gone (`HostSide`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import posixpath
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agentgym.errors import SandboxError
from agentgym.sandbox.base import CommandResult, DirEntry, FileRead, Limits, SandboxRefusal, WriteEvent

EXECUTOR_SCRIPT = Path(__file__).with_name("executor.py")
EXECUTOR_FILES = tuple(
    EXECUTOR_SCRIPT.with_name(n) for n in ("executor.py", "executor_os.py", "executor_limits.py")
)  # what the sandbox gets
STREAM_LIMIT = 256 * 1024**2  # longest response line accepted from the executor
START_TIMEOUT = 20.0
RUN_GRACE = 15.0  # harness-side deadline = command timeout + this; then the executor is killed
FILE_OP_TIMEOUT = 60.0
STOP_GRACE = 2.0


class ExecutorGone(Exception):
    """The executor died or stopped answering."""


@dataclass(frozen=True)
class Launch:
    """How to start the executor. `argv` ends with the executor script and its JSON config."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path  # the launcher's and executor's stderr (startup errors are read from here)
    start_hint: str = ""  # what the user can do when it fails to start


def executor_config(*, repo: str, tmp: str, writable: list[str], mode: str, limits: Limits, disk_quota: bool) -> str:
    """The executor's JSON config. Without a real disk quota, RLIMIT_FSIZE also stands in for disk_bytes."""
    per_command = {k: v for k, v in limits.__dict__.items() if k != "disk_bytes"}
    if not disk_quota:
        per_command["file_size_bytes"] = min(limits.file_size_bytes, limits.disk_bytes)
    data = {"repo": repo, "tmp": tmp, "writable": writable, "mode": mode, "limits": per_command}
    return json.dumps(data, separators=(",", ":"))


class ExecutorClient:
    """One running executor process."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> dict[str, Any]:
        with open(self.launch.log_path, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.launch.argv,
                env=self.launch.env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=STREAM_LIMIT,
                start_new_session=True,
            )
        try:
            ready = await self._read(time.monotonic() + START_TIMEOUT)
        except ExecutorGone:
            await self.kill()
            raise SandboxError(
                f"the sandbox failed to start: {self._last_log_line()}", hint=self.launch.start_hint or None
            ) from None
        if ready.get("problems"):
            await self.kill()
            raise SandboxError(
                f"limits cannot apply: {'; '.join(ready['problems'])}",
                hint="lower them with --sandbox-limit NAME=VALUE",
            )
        return ready

    async def call(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        if not self.alive or self.proc is None or self.proc.stdin is None:
            raise ExecutorGone("the executor is not running")
        payload = {**payload, "id": next(self._ids)}
        try:
            self.proc.stdin.write(json.dumps(payload).encode() + b"\n")
            await self.proc.stdin.drain()
            while True:
                reply = await self._read(time.monotonic() + timeout)
                if reply.get("id") == payload["id"]:
                    return reply
        except (ExecutorGone, ConnectionError, asyncio.CancelledError):
            await self.kill()  # a half-finished exchange cannot be resumed
            raise

    async def _read(self, deadline: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            async with asyncio.timeout(max(0.001, deadline - time.monotonic())):  # no extra task, unlike wait_for
                line = await self.proc.stdout.readline()
        except (TimeoutError, ValueError, ConnectionError) as exc:
            raise ExecutorGone(f"the executor stopped answering ({type(exc).__name__})") from None
        if not line:
            raise ExecutorGone("the executor exited")
        try:
            return dict(json.loads(line))
        except ValueError:
            raise ExecutorGone("the executor sent an unreadable reply") from None

    async def close(self) -> None:
        """End the executor (closing its input ends it and, under bubblewrap, its whole namespace)."""
        if self.proc is None:
            return
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_GRACE)
        except TimeoutError:
            await self.kill()

    async def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 10)

    def _last_log_line(self) -> str:
        try:
            lines = self.launch.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else "the executor exited without a message"


class HostSide(Protocol):
    """What a sandbox does on the host once the executor is gone."""

    host_root: Path

    async def finish(self) -> list[WriteEvent]:
        """Bring the final files to host_root; return unauthorized changes."""
        ...

    async def release(self) -> None: ...


@dataclass
class View:
    """Paths as the agent sees them."""

    repo_root: str
    workdir: str
    tmp: str

    def absolute(self, path: str) -> str:
        """Relative paths start at workdir; `..` and links are resolved by the executor, like the kernel."""
        return posixpath.join(self.workdir, path) if path else self.workdir


@dataclass
class ExecutorSandbox:
    """A `Sandbox` backed by a long-lived executor process."""

    name: str
    launch: Launch
    view: View
    host: HostSide
    client: ExecutorClient | None = None
    _changes: list[WriteEvent] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def repo_root(self) -> str:
        return self.view.repo_root

    @property
    def workdir(self) -> str:
        return self.view.workdir

    @property
    def tmp_dir(self) -> str:
        return self.view.tmp

    @property
    def host_root(self) -> Path:
        return self.host.host_root

    async def start(self) -> None:
        self.client = ExecutorClient(self.launch)
        await self.client.start()

    async def _call(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self._changes is not None:
            raise ExecutorGone("the sandbox is stopped")
        async with self._lock:
            if self.client is None or not self.client.alive:
                await self.start()  # the agent killed the executor: a fresh one, same files
            assert self.client is not None
            return await self.client.call(payload, timeout)

    async def run(self, command: str, *, cwd: str | None, timeout: float) -> CommandResult:
        payload = {"op": "run", "command": command, "cwd": self.view.absolute(cwd or ""), "timeout": timeout}
        started = time.monotonic()
        try:
            reply = await self._call(payload, timeout + RUN_GRACE)
        except ExecutorGone as gone:
            elapsed = (time.monotonic() - started) * 1000
            return CommandResult(
                stdout="",
                stderr=f"sandbox: {gone}\n",
                exit_code=-1,
                duration_ms=elapsed,
                timed_out=elapsed >= timeout * 1000,
                blocked=[f"sandbox executor lost: {gone}"],
            )
        if not reply.get("ok"):
            return CommandResult(
                stdout="",
                stderr=f"sandbox: {reply.get('detail')}\n",
                exit_code=-1,
                duration_ms=0.0,
                blocked=[str(reply.get("detail"))],
            )
        return CommandResult(**reply["result"])

    async def _file_op(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await self._call(payload, FILE_OP_TIMEOUT)
        except ExecutorGone as gone:
            raise SandboxRefusal("error", f"sandbox executor lost: {gone}") from None
        if not reply.get("ok"):
            raise SandboxRefusal(str(reply.get("kind", "error")), str(reply.get("detail", "")))
        return dict(reply["result"])

    async def read_file(self, path: str, max_bytes: int) -> FileRead:
        result = await self._file_op({"op": "read", "path": self.view.absolute(path), "max_bytes": max_bytes})
        return FileRead(**result)

    async def write_file(self, path: str, content: str, *, append: bool) -> int:
        payload = {"op": "write", "path": self.view.absolute(path), "content": content, "append": append}
        return int((await self._file_op(payload))["written"])

    async def list_dir(self, path: str) -> list[DirEntry]:
        result = await self._file_op({"op": "list", "path": self.view.absolute(path)})
        return [DirEntry(**entry) for entry in result["entries"]]

    async def stop(self) -> list[WriteEvent]:
        if self._changes is not None:
            return list(self._changes)
        async with self._lock:
            if self.client is not None:
                await self.client.close()
            self._changes = await self.host.finish()
        return list(self._changes)

    async def cleanup(self) -> None:
        try:
            if self._changes is None:
                await self.stop()
        finally:
            await self.host.release()
