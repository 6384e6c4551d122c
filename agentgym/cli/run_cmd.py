"""`agentgym run`: resolve settings, plan, pick agent/model/sandbox, execute, print the summary."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import signal
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console

from agentgym.agents.baselines import NopAgent, OracleAgent
from agentgym.agents.model_loop import EMBEDDED_REPEAT_LIMIT, ModelAgent
from agentgym.cli import settings as st
from agentgym.errors import SpecError
from agentgym.models.base import ModelSettings
from agentgym.results.rundir import RunDir
from agentgym.runner.interrupt import Interrupted, run_until_signal
from agentgym.runner.run import Plan, RunRequest, execute, load_plan, new_run_id, run_config, sandbox_env_candidates
from agentgym.runner.trial import TrialRecord
from agentgym.sandbox import get_sandbox_factory
from agentgym.sandbox.base import Limits
from agentgym.scrub import install_console_logging, register, scrub, url_secrets
from agentgym.textsafe import for_console

console = Console(stderr=True)
EMBEDDED_OUTPUT_CAP = 2048  # the embedded model has an 8k-token context and ~50 prompt tokens/s on 2 cores
EXIT_TASK_ERRORS = 4  # the run finished, but some tasks could not be evaluated (model or harness errors)
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM exits 143 (128 + signal number)


@dataclasses.dataclass
class ModelFlags:
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    include_reasoning_content: bool = False
    local_model: str | None = None
    request_timeout: float | None = None
    api_key_env: str | None = None
    cache_responses: bool = False  # models/response_cache.py
    replay: Path | None = None  # models/replay.py: serve the turns recorded in this run folder


def parse_limits(items: list[str]) -> Limits:
    fields = {f.name for f in dataclasses.fields(Limits)}
    values: dict[str, int] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or name not in fields:
            raise SpecError(f"--sandbox-limit '{item}': expected NAME=INT with NAME in {', '.join(sorted(fields))}")
        try:
            values[name] = int(raw)
        except ValueError:
            raise SpecError(f"--sandbox-limit {name}: expected an integer, got '{raw}'") from None
        if values[name] <= 0:
            raise SpecError(f"--sandbox-limit {name}: must be positive")
    return dataclasses.replace(Limits(), **values)


def _settings(
    flags: ModelFlags, *, model: str, base_url: str, api_key: str | None, default_max_tokens: int
) -> ModelSettings:
    temperature = st.resolve("temperature", flags.temperature)
    max_tokens = st.resolve("max_output_tokens", flags.max_output_tokens)
    timeout = st.as_number("request_timeout", st.resolve("request_timeout", flags.request_timeout), 600.0)
    if timeout <= 0:
        raise SpecError(f"--request-timeout: must be a positive number of seconds, got {timeout:g}")
    return ModelSettings(
        model=model,
        base_url=base_url,
        api_key=api_key,
        temperature=st.as_number("temperature", temperature, 0.0),
        max_output_tokens=st.as_number("max_output_tokens", max_tokens, default_max_tokens),
        include_reasoning_content=flags.include_reasoning_content,
        request_timeout=timeout,
        api_key_env=flags.api_key_env if api_key and flags.api_key is None else None,
    )


def model_settings(flags: ModelFlags) -> ModelSettings | None:
    model = st.resolve("model", flags.model)
    base_url = st.resolve("base_url", flags.base_url)
    if not model and not base_url:
        return None
    return _settings(
        flags,
        model=model or "default",
        base_url=base_url or "https://api.openai.com/v1",
        api_key=st.resolve_api_key(flags.api_key, flags.api_key_env),
        default_max_tokens=4096,
    )


@contextlib.asynccontextmanager
async def model_endpoint(flags: ModelFlags) -> AsyncIterator[tuple[ModelSettings, dict[str, Any]]]:
    """A configured endpoint, or the embedded local model started for this run (and always stopped)."""
    settings = None if flags.local_model else model_settings(flags)
    if settings is not None:
        yield settings, settings.public()
        return
    from agentgym.models.local_server import LocalModelServer

    choice = flags.local_model or "1.5b"
    console.print(f"[bold]No model configured:[/] starting the embedded local model ({choice}) …")
    async with LocalModelServer(choice) as server:
        console.print(f"local model ready at {server.base_url}")
        settings = _settings(
            flags, model=server.model_name, base_url=server.base_url, api_key=None, default_max_tokens=1024
        )
        yield settings, {**settings.public(), "model_card": server.card}


def _scrubbed(plan: Plan, keys: list[str]) -> list[str]:
    """What is scrubbed from console, logs and run folder: the key, credentials in the base URL, and the values
    of host variables that some planned task may receive in its sandbox."""
    allowed = {name for t in plan.tasks for name in t.policy.env_allowed}
    values = keys + [v for k, v in sandbox_env_candidates(keys).items() if k in allowed]
    register(values)
    return values


def _print_trial(record: TrialRecord) -> None:
    r = record.result
    mark = "[green]✓[/]" if r.metrics.success else "[red]✗[/]"
    reason = f" ({for_console(r.failure_reason)})" if r.failure_reason else ""
    calls = len(r.transcript.tool_calls)
    console.print(
        f"  {mark} {for_console(r.task.repo)}/{for_console(r.task.id)} e{r.epoch}: score {r.metrics.score_0_100:.1f}, "
        f"{calls} tool call(s), {r.metrics.commands_used} command(s){reason}"
    )


def _make_client(settings: ModelSettings) -> Any:
    from agentgym.models.client import OpenAIChatClient

    return OpenAIChatClient(settings)


def _warm_up(flags: ModelFlags) -> Future[Any]:
    """Import the openai SDK (~0.3 s) and build the HTTP client in a thread while the run is planned."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentgym-warm")
    configured = None if flags.local_model else model_settings(flags)
    if configured is not None:
        future = pool.submit(_make_client, configured)
    else:
        future = pool.submit(importlib.import_module, "agentgym.models.client")
    pool.shutdown(wait=False)
    return future


async def _execute(
    plan: Plan,
    req: RunRequest,
    agent_name: str,
    flags: ModelFlags,
    sandbox: str,
    dry_run: bool,
    warm: Future[Any] | None = None,
) -> RunDir:
    factory = get_sandbox_factory(sandbox)
    if sandbox == "local":
        console.print("[bold yellow]Warning:[/] --sandbox local runs commands WITHOUT isolation.")
    run_id = new_run_id()
    if agent_name != "model" or flags.replay is not None:
        agent, agent_name, model = _offline_agent(agent_name, flags, plan, req)
        rundir = RunDir.create(req.runs_root, model["model"], secrets=_scrubbed(plan, []))
        rundir.write_run_config(
            run_config(
                plan,
                req,
                run_id=run_id,
                agent=agent_name,
                model=model,
                sandbox=factory.name,
                dry_run=dry_run,
            )
        )
        console.print(f"run folder: {for_console(rundir.root)}")
        await execute(plan, req, rundir, agent, factory, model["model"], on_trial=_print_trial)
        return rundir
    async with model_endpoint(flags) as (settings, public):
        if "model_card" in public and req.tool_output_bytes is None:
            req.tool_output_bytes = EMBEDDED_OUTPUT_CAP
        if "model_card" in public and req.repeat_limit is None:
            req.repeat_limit = EMBEDDED_REPEAT_LIMIT  # a small model loops; recorded in run_config and REPORT.md
        warmed = await asyncio.wrap_future(warm) if warm is not None else None
        client = warmed if getattr(warmed, "settings", None) == settings else _make_client(settings)
        if flags.cache_responses:
            from agentgym.models.response_cache import ResponseCache

            client = ResponseCache(client, settings)
        try:
            agent_obj = ModelAgent(client, plan.prompts, repeat_limit=req.repeat_limit)
            keys = [v for v in (settings.api_key, *url_secrets(settings.base_url)) if v]
            rundir = RunDir.create(req.runs_root, settings.model, secrets=_scrubbed(plan, keys))
            config = run_config(
                plan, req, run_id=run_id, agent="model", model=public, sandbox=factory.name, dry_run=False
            )
            rundir.write_run_config({**config, "cache_responses": flags.cache_responses})
            console.print(f"run folder: {for_console(rundir.root)}")
            await execute(
                plan,
                req,
                rundir,
                agent_obj,
                factory,
                settings.model,
                secrets=keys,
                on_trial=_print_trial,
            )
        finally:
            await client.aclose()
    return rundir


def _offline_agent(agent_name: str, flags: ModelFlags, plan: Plan, req: RunRequest) -> tuple[Any, str, dict[str, Any]]:
    """The nop/oracle baselines, or --replay's recorded turns: (agent, agent name, run_config model)."""
    if flags.replay is None or agent_name != "model":
        return (NopAgent() if agent_name == "nop" else OracleAgent()), agent_name, {"model": agent_name}
    from agentgym.models.replay import ReplayAgent, ReplaySource

    source = ReplaySource(flags.replay)
    model = {"model": source.model_id, "replay_of": str(source.run_dir), "recorded_model": source.recorded_model}
    return ReplayAgent(source, plan.prompts, repeat_limit=req.repeat_limit), "replay", model


def _patience() -> None:
    console.print("[yellow]cleaning up the open sandboxes, then exiting[/]")


def _sigterm_as_interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signum)  # SIGTERM while planning; inside the run, run_until_signal handles both signals


def run_command(req: RunRequest, *, agent: str, flags: ModelFlags, sandbox: str, dry_run: bool) -> int:
    install_console_logging()
    if dry_run:
        agent = "nop"
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        warm = _warm_up(flags) if agent == "model" and flags.replay is None else None
        plan = load_plan(req, progress=lambda m: console.print(f"[dim]{for_console(m)}[/]"))
        console.print(f"{len(plan.trials)} trial(s) over {len(plan.snapshots)} repo(s), agent={agent}")
        rundir = asyncio.run(run_until_signal(_execute(plan, req, agent, flags, sandbox, dry_run, warm), _patience))
    except (KeyboardInterrupt, Interrupted) as exc:  # trials cancelled; sandboxes and servers are cleaned up
        name = exc.args[0] if isinstance(exc, Interrupted) else "SIGINT"
        console.print(f"[bold red]interrupted[/] ({name}): finished tasks are kept under {for_console(req.runs_root)}")
        return exc.exit_code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED
    s = rundir.results
    ok = sum(1 for r in s if r.metrics.success)
    avg = sum(r.metrics.score_0_100 for r in s) / len(s) if s else 0.0
    console.print(
        f"[bold]{ok}/{len(s)} succeeded, average score {avg:.2f}[/]  report: {rundir.root / 'results' / 'REPORT.md'}"
    )
    print(rundir.root)
    broken = [r for r in s if r.failure_reason in ("model_error", "infra_error", "harness_error")]
    if broken:
        first = broken[0]
        console.print(
            f"[bold red]error:[/] {len(broken)} task(s) ended with {first.failure_reason}: {for_console(scrub(first.error or ''))}",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_TASK_ERRORS
    return 0
