"""`agentgym serve-local` (the embedded model) and `agentgym serve-scripted` (the tasks' reference solutions)
as OpenAI-compatible endpoints on 127.0.0.1, kept running until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

from agentgym.cli.options import ConfigDir
from agentgym.errors import SpecError

err = Console(stderr=True)
Port = Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default: a free one).")]


def serve_local(
    model: Annotated[str, typer.Option(help="1.5b, 0.5b or a path to a GGUF file.")] = "1.5b",
    port: Port = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: all cores).")] = None,
) -> None:
    """Start the embedded model's OpenAI-compatible server and keep it running until Ctrl-C."""
    import asyncio

    from agentgym.models.local_server import LocalModelServer

    async def serve() -> None:
        async with LocalModelServer(model, port=port, threads=threads) as server:
            err.print(f"serving {server.model_name} at {server.base_url} (Ctrl-C to stop)")
            print(server.base_url, flush=True)
            while True:
                await asyncio.sleep(3600)

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        err.print("stopped")


def serve_scripted(
    skill: Annotated[float, typer.Option(help="Share of the tasks whose reference solution it plays (0..1).")] = 1.0,
    seed: Annotated[str, typer.Option(help="Which tasks it solves at a given skill (same seed, same tasks).")] = "1",
    latency: Annotated[float, typer.Option(help="Seconds before each answer.")] = 0.0,
    model: Annotated[str, typer.Option(help="Model name it answers to.")] = "scripted",
    task_set: Annotated[str, typer.Option(help="Task set whose solutions it knows.")] = "l1",
    config_dir: ConfigDir = None,
    port: Port = None,
) -> None:
    """Serve a deterministic scripted model that plays the tasks' `solution:` steps (or gives up), until Ctrl-C."""
    from agentgym.models.scripted import ScriptedServer
    from agentgym.models.solution_script import SolutionScript
    from agentgym.runner.config import ConfigTree, TaskFilter, load_repos, load_tasks

    if not 0.0 <= skill <= 1.0:
        raise SpecError(f"--skill: must be between 0 and 1, got {skill}")
    if latency < 0:
        raise SpecError(f"--latency: must not be negative, got {latency}")
    tree = ConfigTree.discover(config_dir)
    tasks = [t.spec for t in load_tasks(tree, task_set, load_repos(tree), TaskFilter())]
    responder = SolutionScript(tasks, skill=skill, seed=seed, latency=latency)
    try:
        server = ScriptedServer(responder, model=model, port=port or 0, keep_requests=False)
    except OSError as exc:
        raise SpecError(f"--port {port}: cannot listen on 127.0.0.1 ({exc.strerror or exc})") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        err.print(f"serving scripted model '{model}' ({len(tasks)} tasks, skill {skill}) at {server.base_url}")
        print(server.base_url, flush=True)
        try:
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            pass
    err.print("stopped")
