"""Shared pieces of the campaign and fixed-cost benchmarks: a tiny git repo, generated task files, and the
scripted server in its own process (as a real endpoint would be: no GIL shared with the harness)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
from pathlib import Path
from typing import Any

from agentgym.models.scripted import ScriptedServer

TASK = """\
id: bench_{i:05d}
repo: bench
initial_working_dir: .
instruction: "bench steps={steps} i={i}"
command_policy: {{allowed: [], prohibited: [], write_paths_allowed: [eval_artifacts/, /tmp/]}}
outputs: [{{key: n, type: int, oracle: {{fn: top_level_entry_count, args: {{exclude: [.git, eval_artifacts]}}}}}}]
max_commands: 1000
max_turns: 1000
timeout_seconds: 600
"""


def responder(request: dict[str, Any]) -> dict[str, Any]:
    """`steps=K` in the instruction: K model calls, K-1 sandboxed `echo`s then a final answer."""
    first_user = next(str(m["content"]) for m in request["messages"] if m["role"] == "user")
    if "steps=" not in first_user:  # a floor measurement's plain request
        return {"content": "done"}
    steps = int(first_user.split("steps=")[1].split()[0])
    turn = sum(1 for m in request["messages"] if m["role"] == "assistant")
    return {"tool": "run_command", "args": {"command": f"echo hi {turn}"}} if turn < steps - 1 else {"content": "3"}


def make_config(root: Path, n_tasks: int, steps: int) -> Path:
    """A config tree: repos/bench.yaml (a 3-file git repo made here) and n task files of `steps` model calls."""
    repo = root / "repo"
    (repo / "src").mkdir(parents=True)
    for name in ("README.md", "src/a.py", "src/b.py"):
        (repo / name).write_text("x = 1\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    cfg = root / "cfg"
    (cfg / "repos").mkdir(parents=True)
    (cfg / "repos/bench.yaml").write_text(f"id: bench\nurl: {repo}\nref: main\n")
    tasks = cfg / "tasks/l1/bench"
    tasks.mkdir(parents=True)
    for i in range(n_tasks):
        (tasks / f"task_{i:05d}.yaml").write_text(TASK.format(i=i, steps=steps))
    return cfg


def _serve(conn: Any, latency: float, model: str) -> None:
    server = ScriptedServer(responder, latency=latency, model=model, keep_requests=False).start()
    conn.send(server.base_url)
    conn.recv()  # block until the parent is done
    conn.send(server.max_in_flight)


class ExternalServer:
    """The scripted server in a forked process; `max_in_flight` is read back when it stops."""

    def __init__(self, latency: float = 0.0, model: str = "bench") -> None:
        self.latency, self.model = latency, model
        self.max_in_flight = 0

    def __enter__(self) -> ExternalServer:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, self.latency, self.model), daemon=True)
        self.proc.start()
        self.base_url: str = self.conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.send("stop")
        if self.conn.poll(5):
            self.max_in_flight = self.conn.recv()
        self.proc.join(5)


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}–{max(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"
