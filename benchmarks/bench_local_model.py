"""Throughput of the embedded models on this machine: server start, prompt and generation tokens/s,
and rough seconds per agent step.

    python benchmarks/bench_local_model.py [--models 1.5b 0.5b] [--repeats 2] [--threads N]

Prompt speed: a ~480-token prompt with max_tokens=1, from usage and wall time (a unique first
line defeats the server's prefix cache). Generation speed: the same prompt, max_tokens=64,
streamed; tokens over the time between the first and the last streamed token.
Agent step: a tool-using conversation; "first step" renders the tools and the task from scratch,
"next step" appends a ~300-token tool result to the cached prefix and generates up to 64 tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

from agentgym.models.local_server import LocalModelServer

GEN_TOKENS = 64
CODE = '''def parse_config(path):
    """Read a key=value file into a dict, skipping comments and blank lines."""
    result = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result
'''
PROMPT = "Explain in detail what each of these functions does, line by line.\n\n" + CODE * 5
TOOL_RESULT = "\n".join(
    f"src/pkg/module_{i}.py: def handler_{i}(request, context): return process(request)" for i in range(14)
)
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": name, "description": desc,
        "parameters": {"type": "object", "properties": {arg: {"type": "string"}}, "required": [arg]}}}
    for name, desc, arg in [("read_file", "Read a file of the repository.", "path"),
                            ("run", "Run a shell command in the repository.", "cmd"),
                            ("write_file", "Write a file (path, then text).", "path")]
]  # fmt: skip


@dataclass
class Figures:
    model: str
    start_s: float
    prompt_tokens: int
    prompt_tps: float
    gen_tokens: int
    gen_tps: float
    first_step_s: float
    next_step_s: float


async def timed(
    client: AsyncOpenAI,
    model: str,
    messages: list[dict[str, Any]],
    max_tokens: int,
    tools: list[dict[str, Any]] | None = None,
) -> tuple[float, Any]:
    extra: dict[str, Any] = {"tools": tools} if tools else {}
    t0 = time.perf_counter()
    resp = await client.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        temperature=0,
        **extra,  # type: ignore[arg-type]
    )
    return time.perf_counter() - t0, resp


def fresh_prompt() -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"Request {uuid.uuid4().hex}.\n{PROMPT}"}]


async def streamed_generation(client: AsyncOpenAI, model: str) -> tuple[int, float]:
    """Tokens generated and their rate, timed between the first and the last streamed token."""
    stream = await client.chat.completions.create(
        model=model,
        messages=fresh_prompt(),
        max_tokens=GEN_TOKENS,
        temperature=0,
        stream=True,  # type: ignore[arg-type]
    )
    stamps: list[float] = []
    async for chunk in stream:  # llama-cpp-python streams one token per chunk
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
    return len(stamps), (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-6) if len(stamps) > 1 else 0.0


async def throughput(client: AsyncOpenAI, model: str) -> tuple[int, float, int, float]:
    t_prompt, resp = await timed(client, model, fresh_prompt(), 1)
    gen, gen_tps = await streamed_generation(client, model)
    return resp.usage.prompt_tokens, resp.usage.prompt_tokens / t_prompt, gen, gen_tps


async def agent_steps(client: AsyncOpenAI, model: str) -> tuple[float, float]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": f"Session {uuid.uuid4().hex}. You are a coding agent; use the tools."},
        {"role": "user", "content": "Find where requests are handled in this repository and summarise it."},
    ]
    first, resp = await timed(client, model, messages, GEN_TOKENS, TOOLS)
    messages.append({"role": "assistant", "content": resp.choices[0].message.content or ""})
    messages.append({"role": "user", "content": f"<tool_response>\n{TOOL_RESULT}\n</tool_response>"})
    nxt, _ = await timed(client, model, messages, GEN_TOKENS, TOOLS)
    return first, nxt


async def bench(model: str, repeats: int, threads: int | None) -> Figures:
    t0 = time.perf_counter()
    async with LocalModelServer(model, threads=threads, n_ctx=4096) as server:
        start = time.perf_counter() - t0
        client = AsyncOpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=600)
        await timed(client, server.model_name, [{"role": "user", "content": "hi"}], 4)  # warm-up
        runs = [await throughput(client, server.model_name) for _ in range(repeats)]
        steps = [await agent_steps(client, server.model_name) for _ in range(repeats)]
        await client.close()
    med = [statistics.median(col) for col in zip(*runs, strict=True)]
    first, nxt = (statistics.median(col) for col in zip(*steps, strict=True))
    return Figures(model, start, int(med[0]), med[1], int(med[2]), med[3], first, nxt)


def table(rows: list[Figures]) -> str:
    head = (
        f"{'model':<6} {'start s':>8} {'prompt tok':>10} {'prompt t/s':>10} {'gen tok':>8} {'gen t/s':>8} "
        f"{'1st step s':>10} {'next step s':>11}"
    )
    lines = [head, "-" * len(head)]
    for f in rows:
        lines.append(
            f"{f.model:<6} {f.start_s:>8.1f} {f.prompt_tokens:>10} {f.prompt_tps:>10.1f} {f.gen_tokens:>8} "
            f"{f.gen_tps:>8.1f} {f.first_step_s:>10.1f} {f.next_step_s:>11.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["1.5b", "0.5b"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    rows = [asyncio.run(bench(m, args.repeats, args.threads)) for m in args.models]
    print(table(rows))


if __name__ == "__main__":
    main()
