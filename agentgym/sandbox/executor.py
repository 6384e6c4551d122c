"""In-sandbox executor: serves JSON-line requests on stdin, one JSON response per line on stdout.

Standalone and stdlib-only (with its sibling executor_os.py): it runs INSIDE the sandbox as `/usr/bin/python3 -I -S executor.py CONFIG`
(bubblewrap) or directly on the host (`local`). It lives for the whole trial, so a command costs one
fork/exec of bash plus a round trip instead of a fresh sandbox.

CONFIG (JSON): {"repo": dir, "tmp": dir, "writable": [dirs or files], "mode": "pidns" | "subreaper",
                "limits": {cpu_seconds, memory_bytes, file_size_bytes, max_processes, open_files,
                           output_bytes}}
Requests:  {"id", "op": "run", "command", "cwd", "timeout"} | {"id", "op": "read", "path", "max_bytes"}
           | {"id", "op": "write", "path", "content", "append"} | {"id", "op": "list", "path"}
Responses: {"id", "ok": true, "result": {...}} | {"id", "ok": false, "kind", "detail"}
The first line written is {"op": "ready", "pid", "problems": [...]} (problems: limits that cannot apply).

Every signal it can catch gets a no-op handler (not SIG_IGN: handlers fall back to the default at exec,
ignored signals would stay ignored in commands). In "pidns" mode (bubblewrap, private IPC namespace) it
also removes every SysV shared memory segment, semaphore set and message queue after each command.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time

TYPE_CHECKING = False  # typing is not imported at run time: ~2 ms of every sandbox's start
if TYPE_CHECKING:
    from typing import Any

if __package__:  # imported by the harness (tests, tools)
    from agentgym.sandbox.executor_limits import (
        REFUSAL_PATTERNS,
        Capture,
        apply_rlimits,
        check_limits,
        prctl,
        rlimits_of,
    )
    from agentgym.sandbox.executor_os import FileOps, Refusal, ignore_signals, remove_sysv_ipc
else:  # run as a script (`python3 -I -S executor.py`): its sibling module lies next to it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from executor_limits import (  # type: ignore[no-redef]
        REFUSAL_PATTERNS,
        Capture,
        apply_rlimits,
        check_limits,
        prctl,
        rlimits_of,
    )
    from executor_os import FileOps, Refusal, ignore_signals, remove_sysv_ipc  # type: ignore[no-redef]

OUTPUT_KILL_FACTOR = 64  # kill a command once it printed this many times the kept size
READ_CHUNK = 1 << 16
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


class Executor(FileOps):
    def __init__(self, config: dict[str, Any]) -> None:
        self.repo = os.path.realpath(config["repo"])
        self.tmp = os.path.realpath(config["tmp"])
        self.writable = [os.path.realpath(p) for p in config["writable"]]
        self.pidns = config["mode"] == "pidns" and os.getpid() <= 16  # never kill(-1) outside a pid ns
        self.limits = config["limits"]
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.cap = int(self.limits["output_bytes"])
        # Limits are fixed for the trial: apply them to the executor once, so children inherit them and
        # Popen can take the fast vfork path (a preexec_fn forces a full fork: ~1 ms more per command).
        # Only the CPU limit must start from zero for each command: it is set on the child right after spawn.
        # Until then the child has our soft CPU limit (ours keeps its hard limit; SIGXCPU is a no-op for us),
        # so no command ever starts without one.
        rlimits = rlimits_of(self.limits)
        self.cpu_limit = [(soft, hard) for res, soft, hard in rlimits if res == resource.RLIMIT_CPU]
        apply_rlimits([r for r in rlimits if r[0] != resource.RLIMIT_CPU])
        for soft, _ in self.cpu_limit:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.getrlimit(resource.RLIMIT_CPU)[1]))

    # ---- commands ---------------------------------------------------------------------------------
    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        cwd, timeout = req.get("cwd") or self.repo, float(req["timeout"])
        if not os.path.isdir(cwd):
            return {
                "stdout": "",
                "stderr": f"cwd not found: {cwd}\n",
                "exit_code": 1,
                "duration_ms": 0.0,
                "timed_out": False,
                "stdout_elided": 0,
                "stderr_elided": 0,
                "blocked": [],
            }
        start = time.monotonic()
        proc = subprocess.Popen(
            ["/bin/bash", "--noprofile", "--norc", "-c", req["command"]],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
        for soft_hard in self.cpu_limit:
            with contextlib.suppress(ProcessLookupError):
                resource.prlimit(proc.pid, resource.RLIMIT_CPU, soft_hard)
        out, err = Capture(self.cap), Capture(self.cap)
        blocked: list[str] = []
        timed_out = self._pump(proc, out, err, start + timeout, blocked)
        if timed_out:
            blocked.append(f"timeout after {timeout:g}s")
        returncode = proc.wait()
        self.kill_leftovers()
        if self.pidns:  # only in a private IPC namespace: on the host these would be other programs' objects
            remove_sysv_ipc(self.libc)
        self._drain(proc, out, err)
        return self._result(returncode, out, err, start, timed_out, blocked)

    def _pump(
        self, proc: subprocess.Popen[bytes], out: Capture, err: Capture, deadline: float, blocked: list[str]
    ) -> bool:
        """Read both streams until the command ends. True if it was killed for running too long."""
        sel = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        for stream, cap in ((proc.stdout, out), (proc.stderr, err)):
            os.set_blocking(stream.fileno(), False)
            sel.register(stream.fileno(), selectors.EVENT_READ, cap)
        pidfd = os.pidfd_open(proc.pid) if hasattr(os, "pidfd_open") else -1
        if pidfd >= 0:
            sel.register(pidfd, selectors.EVENT_READ, None)
        try:
            return self._select_loop(proc, sel, pidfd, out, err, deadline, blocked)
        finally:
            sel.close()
            if pidfd >= 0:
                os.close(pidfd)

    def _select_loop(
        self,
        proc: subprocess.Popen[bytes],
        sel: selectors.BaseSelector,
        pidfd: int,
        out: Capture,
        err: Capture,
        deadline: float,
        blocked: list[str],
    ) -> bool:
        streams = 2
        while streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill(-proc.pid)
                return True
            for key, _ in sel.select(min(remaining, 0.05 if pidfd < 0 else remaining)):
                if key.data is None:  # the command exited; leftovers holding the pipes are killed next
                    return False
                chunk = _read(key.fd)
                if not chunk:
                    sel.unregister(key.fd)
                    streams -= 1
                    continue
                key.data.feed(chunk)
                if out.total + err.total > OUTPUT_KILL_FACTOR * self.cap:
                    _kill(-proc.pid)
                    blocked.append(f"output limit (killed after {out.total + err.total} bytes)")
                    return False
            if pidfd < 0 and proc.poll() is not None:
                return False
        remaining = deadline - time.monotonic()
        try:
            proc.wait(timeout=max(remaining, 0))
        except subprocess.TimeoutExpired:
            _kill(-proc.pid)
            return True
        return False

    def _drain(self, proc: subprocess.Popen[bytes], out: Capture, err: Capture) -> None:
        """Read what the (now dead) writers left in the pipes."""
        for stream, cap in ((proc.stdout, out), (proc.stderr, err)):
            assert stream is not None
            budget = OUTPUT_KILL_FACTOR * self.cap
            while budget > 0:
                chunk = _read(stream.fileno())
                if not chunk:
                    break
                budget -= len(chunk)
                cap.feed(chunk)
            stream.close()

    def _result(
        self, returncode: int, out: Capture, err: Capture, start: float, timed_out: bool, blocked: list[str]
    ) -> dict[str, Any]:
        stdout, out_elided = out.text()
        stderr, err_elided = err.text()
        sig = -returncode if returncode < 0 else (returncode - 128 if returncode > 128 else 0)
        if sig == signal.SIGXCPU:
            blocked.append("cpu limit (SIGXCPU)")
        elif sig == signal.SIGXFSZ:
            blocked.append("file size limit (SIGXFSZ)")
        lowered = stderr.lower()
        for needle, label in REFUSAL_PATTERNS:
            if needle in lowered and not any(entry.startswith(label) for entry in blocked):
                blocked.append(label)
        return {
            "stdout": stdout,
            "stderr": stderr,
            "exit_code": 128 - returncode if returncode < 0 else returncode,
            "duration_ms": round((time.monotonic() - start) * 1000, 3),
            "timed_out": timed_out,
            "stdout_elided": out_elided,
            "stderr_elided": err_elided,
            "blocked": blocked,
        }

    def kill_leftovers(self) -> None:
        """Kill every process that outlived the command (background jobs, daemons, double forks)."""
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            victims = self._others()
            if not victims:
                break
            if self.pidns:
                _kill(-1)  # every process of this pid namespace but its init and us
            for pid in victims:
                _kill(pid)
            self._reap()
            time.sleep(0.001)
        self._reap()

    def _others(self) -> list[int]:
        if not self._reap():
            return []  # no children: orphans come to us (init or subreaper), so nothing else survives
        me, table = os.getpid(), _process_table()
        if self.pidns:
            return [pid for pid, (_, state) in table.items() if pid not in (1, me) and state != "Z"]
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        found, todo = [], list(children.get(me, []))
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return [pid for pid in found if table[pid][1] != "Z"]

    @staticmethod
    def _reap() -> bool:
        """Reap exited children; True if some child is still alive."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, READ_CHUNK)
    except OSError:  # BlockingIOError included: nothing more for now
        return b""


def _kill(pid: int) -> None:
    """SIGKILL a pid (negative: a process group; -1: everything we may signal)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, state) for every process visible in /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                raw = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        if len(fields) >= 2:
            table[int(name)] = (int(fields[1]), fields[0])
    return table


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


def _handle(executor: Executor, request: dict[str, Any]) -> dict[str, Any]:
    ops = {"run": executor.run, "read": executor.read, "write": executor.write, "list": executor.list}
    op = ops.get(str(request.get("op")))
    if op is None:
        raise Refusal("error", f"unknown op {request.get('op')!r}")
    return op(request)


def main() -> None:
    ignore_signals()
    config = json.loads(sys.argv[1])
    prctl(PR_SET_DUMPABLE, 0)  # commands run as our uid: keep them out of /proc/<us>/fd and ptrace
    if config["mode"] == "subreaper":
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of commands come back to us, so we can kill them
    problems = check_limits(config["limits"])
    if problems:  # report before applying anything: setrlimit would fail on them
        _emit({"op": "ready", "pid": os.getpid(), "problems": problems})
        return
    executor = Executor(config)
    _emit({"op": "ready", "pid": os.getpid(), "problems": []})
    for line in sys.stdin.buffer:
        request: dict[str, Any] = {}
        try:
            request = json.loads(line)
            _emit({"id": request.get("id"), "ok": True, "result": _handle(executor, request)})
        except Refusal as refusal:
            _emit({"id": request.get("id"), "ok": False, "kind": refusal.kind, "detail": refusal.detail})
        except Exception as exc:
            _emit({"id": request.get("id"), "ok": False, "kind": "error", "detail": f"{type(exc).__name__}: {exc}"})
    executor.kill_leftovers()


if __name__ == "__main__":
    main()
