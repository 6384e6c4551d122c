"""Cost of one agent step at the margin, and start-up to the first model request.

Step cost: a model call to a zero-latency scripted server plus one sandboxed `echo`, measured as
(time for K=25 steps − time for K=5 steps) / 20 over several tasks, so sandbox set-up and scoring cancel out.
Floor, measured in the same run: a raw keep-alive HTTP round trip to the same server + a plain `bash -c echo`.
Targets (issue 3): ≤ 3 ms per step and ≤ 2× the floor; start-up ≤ 0.5 s with a warm cache.

    python benchmarks/bench_agent_step.py [--sandbox bwrap|local] [--tasks 3]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentgym.agents.model_loop import ModelAgent
from agentgym.models.base import ModelSettings
from agentgym.models.client import OpenAIChatClient
from agentgym.models.scripted import ScriptedServer
from agentgym.results.rundir import RunDir
from agentgym.runner.run import RunRequest, execute, load_plan
from agentgym.sandbox import get_sandbox_factory

TASK = """\
id: bench_k{k}_{i}
repo: bench
initial_working_dir: .
instruction: "bench k={k} i={i}"
command_policy: {{allowed: [], prohibited: [], write_paths_allowed: [eval_artifacts/, /tmp/]}}
outputs: [{{key: n, type: int, oracle: {{fn: top_level_entry_count, args: {{exclude: [.git, eval_artifacts]}}}}}}]
max_commands: 100
max_turns: 100
timeout_seconds: 300
"""


def responder(request: dict) -> dict:
    first_user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    k = int(first_user.split("k=")[1].split()[0])
    turn = sum(1 for m in request["messages"] if m["role"] == "assistant")
    return {"tool": "run_command", "args": {"command": f"echo hi {turn}"}} if turn < k else {"content": "done"}


def make_config(root: Path, ks: list[int], n: int) -> Path:
    repo = root / "repo"
    (repo / "src").mkdir(parents=True)
    for i in range(20):
        (repo / "src" / f"f{i}.py").write_text("x = 1\n")
    (root / "cfg/repos").mkdir(parents=True)
    (root / "cfg/repos/bench.yaml").write_text(f"id: bench\npath: {repo}\n")
    tasks = root / "cfg/tasks/l1/bench"
    tasks.mkdir(parents=True)
    for k in ks:
        for i in range(n):
            (tasks / f"task_k{k:02d}_{i}.yaml").write_text(TASK.format(k=k, i=i))
    return root / "cfg"


async def run_steps(
    cfg: Path, server: ScriptedServer | ExternalServer, sandbox: str, runs: Path
) -> dict[int, list[float]]:
    req = RunRequest(config_dir=cfg, runs_root=runs)
    plan = load_plan(req)
    client = OpenAIChatClient(ModelSettings(model="bench", base_url=server.base_url))
    agent = ModelAgent(client, plan.prompts)
    rundir = RunDir.create(runs, "bench", secrets=[])
    times: dict[int, list[float]] = {}

    def on_trial(record) -> None:  # type: ignore[no-untyped-def]
        k = int(record.result.task.id.split("_k")[1].split("_")[0])
        assert record.result.metrics.commands_used == k, record.result.error
        times.setdefault(k, []).append(record.result.metrics.wall_time_s)

    try:
        await execute(plan, req, rundir, agent, get_sandbox_factory(sandbox), "bench", on_trial=on_trial)
    finally:
        await client.aclose()
    return times


def floor_ms(server: ScriptedServer, n: int = 200) -> tuple[float, float]:
    host, port = server.base_url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "bench k=0 i=0"}]})
    server.require_tools = False
    t0 = time.perf_counter()
    for _ in range(n):
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        conn.getresponse().read()
    http_ms = (time.perf_counter() - t0) * 1000 / n
    server.require_tools = True
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(["bash", "-c", "echo hi"], capture_output=True, check=True)
    bash_ms = (time.perf_counter() - t0) * 1000 / n
    return http_ms, bash_ms


async def sdk_call_ms(base_url: str, n: int = 200) -> float:
    """The official SDK's round trip alone (same body as the HTTP floor): shows what the SDK itself costs."""
    import openai
    from openai.types.chat import ChatCompletion

    client = openai.AsyncOpenAI(api_key="x", base_url=base_url)
    body = {"model": "bench", "messages": [{"role": "user", "content": "bench k=0 i=0"}]}
    await client.post("/chat/completions", cast_to=ChatCompletion, body=body)
    t0 = time.perf_counter()
    for _ in range(n):
        await client.post("/chat/completions", cast_to=ChatCompletion, body=body)
    await client.close()
    return (time.perf_counter() - t0) * 1000 / n


def startup_s(cfg: Path, server: ScriptedServer, sandbox: str, runs: Path) -> float:
    stamps: list[float] = []
    previous = server.responder

    def stamping(request: dict) -> dict:
        stamps.append(time.time())
        return {"content": "done"}

    server.responder = stamping
    t0 = time.time()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "agentgym.cli.main",
            "run",
            "--config-dir",
            str(cfg),
            "--runs-root",
            str(runs),
            "--model",
            "bench",
            "--base-url",
            server.base_url,
            "--limit",
            "1",
            "--sandbox",
            sandbox,
        ],
        env=env,
        capture_output=True,
        check=False,
    )
    server.responder = previous
    return stamps[0] - t0 if stamps else float("nan")


def _serve(conn) -> None:  # type: ignore[no-untyped-def]
    server = ScriptedServer(responder).start()
    conn.send(server.base_url)
    conn.recv()  # block until the parent is done


class ExternalServer:
    """The scripted server in its own process, as a real endpoint would be (no GIL shared with the harness)."""

    def __enter__(self) -> ExternalServer:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        self.base_url = self.conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.send("stop")
        self.proc.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default="bwrap")
    parser.add_argument("--tasks", type=int, default=3, help="tasks per K")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(responder) as server, ExternalServer() as external:
        root = Path(tmp)
        cfg = make_config(root, [5, 25], args.tasks)
        times = asyncio.run(run_steps(cfg, external, args.sandbox, root / "runs"))
        t5, t25 = statistics.median(times[5]), statistics.median(times[25])
        step = (t25 - t5) / 20 * 1000
        http_ms, bash_ms = floor_ms(server)
        server.require_tools = False
        sdk_ms = asyncio.run(sdk_call_ms(server.base_url))
        server.require_tools = True
        floor = http_ms + bash_ms
        start = [startup_s(cfg, server, args.sandbox, root / "runs") for _ in range(3)]
    print(f"sandbox={args.sandbox}  tasks per K={args.tasks}")
    print(f"trial wall time, median: K=5 {t5 * 1000:.1f} ms   K=25 {t25 * 1000:.1f} ms")
    print(f"{'measure':<38}{'value':>10}{'target':>14}{'ratio':>9}")
    print(f"{'step at the margin (ms)':<38}{step:>10.2f}{'<= 3.00':>14}{step / 3:>9.2f}")
    print(f"{'floor: HTTP round trip + bash -c (ms)':<38}{floor:>10.2f}{'':>14}")
    print(f"{'  of which HTTP / bash (ms)':<38}{f'{http_ms:.2f}/{bash_ms:.2f}':>10}")
    print(f"{'  openai SDK round trip alone (ms)':<38}{sdk_ms:>10.2f}")
    print(f"{'step / floor':<38}{step / floor:>10.2f}{'<= 2.00':>14}{step / floor / 2:>9.2f}")
    print(
        f"{'start-up to first request (s, median)':<38}{statistics.median(start):>10.3f}{'<= 0.500':>14}"
        f"{statistics.median(start) / 0.5:>9.2f}"
    )


if __name__ == "__main__":
    main()
