"""The `agentgym` command. User errors print one line and exit non-zero; never a traceback."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentgym.cli.mutate_cmd import tasks_mutate
from agentgym.cli.options import ConfigDir
from agentgym.cli.report_cmd import report, view
from agentgym.cli.results_cmd import compare, leaderboard, publish
from agentgym.cli.serve_cmd import serve_local, serve_scripted
from agentgym.cli.tasks_cmd import tasks_generate, tasks_list, tasks_validate
from agentgym.errors import AgentGymError
from agentgym.textsafe import for_console

app = typer.Typer(
    help="AgentGym: evaluate LLMs as tool-based coding agents on real repositories, in a sandbox, with oracles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"max_content_width": 120},
    rich_markup_mode=None,  # help is plain text: "[env X]" must not be read as rich markup
)
tasks_app = typer.Typer(help="Work with task sets.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(tasks_app, name="tasks")
err = Console(stderr=True)


class AgentKind(StrEnum):
    model = "model"
    nop = "nop"
    oracle = "oracle"


class SandboxKind(StrEnum):
    bwrap = "bwrap"
    local = "local"


class ProgressMode(StrEnum):
    auto = "auto"
    live = "live"
    plain = "plain"
    quiet = "quiet"


class ExecutorKind(StrEnum):
    local = "local"
    ray = "ray"


class SchemaKind(StrEnum):
    campaign = "campaign"
    task = "task"
    repo = "repo"
    result = "result"
    weights = "weights"
    event = "event"


@app.command()
def run(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Campaign YAML (docs/running.md); flags given on the command line override its fields."
        ),
    ] = None,
    models: Annotated[
        Path | None,
        typer.Option(
            "--models",
            help="YAML list of model entries, or the original's parallel_eval_config.json (one "
            "campaign folder, one run folder per model).",
        ),
    ] = None,
    max_sandboxes: Annotated[
        int | None,
        typer.Option(
            help="Trials at once over all models of a campaign [default: min(2 x cores, RAM GiB / 2)].", min=1
        ),
    ] = None,
    repos: Annotated[str | None, typer.Option(help="Comma-separated repo ids (default: all with tasks).")] = None,
    task_set: Annotated[str, typer.Option(help="Task set folder under tasks/.")] = "l1",
    tasks: Annotated[
        str | None, typer.Option("--tasks", help="Only tasks whose id (or file path) matches this glob (default: all).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Run at most N tasks (after filtering; default: all).", min=1)
    ] = None,
    runs_root: Annotated[Path, typer.Option(help="Where run folders are created.")] = Path("runs"),
    config_dir: ConfigDir = None,
    agent: Annotated[
        AgentKind, typer.Option(help="model: an LLM; nop: does nothing; oracle: runs task solutions.")
    ] = AgentKind.model,
    dry_run: Annotated[
        bool, typer.Option(help="Load everything and score without calling a model (nop agent).")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model name [env MODEL_NAME / OPENAI_MODEL; default: 'default' when a base URL is set, else the embedded model]."
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="OpenAI-compatible base URL [env BASE_URL / OPENAI_BASE_URL; default: https://api.openai.com/v1 when a model is set, else the embedded model]."
        ),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key [env OPENAI_API_KEY; default: none]. Never written anywhere.")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature [env OPENAI_TEMPERATURE; default: 0].")
    ] = None,
    max_output_tokens: Annotated[
        int | None,
        typer.Option(
            help="Max tokens per reply [env OPENAI_MAX_OUTPUT_TOKENS; default: 4096, 1024 for the embedded model]."
        ),
    ] = None,
    include_reasoning_content: Annotated[bool, typer.Option(help="Send a provider's reasoning_content back.")] = False,
    request_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds to wait for one HTTP reply [env AGENTGYM_REQUEST_TIMEOUT; default: 600]."),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            help="Read the API key from this environment variable, keeping it out of argv [default: none: --api-key or OPENAI_API_KEY]."
        ),
    ] = None,
    local_model: Annotated[
        str | None,
        typer.Option(
            help="Evaluate the embedded model: 1.5b, 0.5b or a GGUF path "
            "(default when no model/base URL is configured: 1.5b)."
        ),
    ] = None,
    sandbox: Annotated[
        SandboxKind, typer.Option(help="bwrap: isolated (default); local: NO isolation.")
    ] = SandboxKind.bwrap,
    sandbox_limit: Annotated[
        list[str] | None,
        typer.Option(
            help="Override a sandbox limit, NAME=INT (repeatable): "
            "cpu_seconds, memory_bytes, file_size_bytes, "
            "max_processes, open_files, output_bytes, "
            "disk_bytes, trial_memory_bytes, trial_processes "
            "(default: the limits in docs/sandbox.md)."
        ),
    ] = None,
    scoring_profile: Annotated[
        str | None, typer.Option(help="v1 (original formula) or v2 [default: the weights file's profile, v2].")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Run every task N times.", min=1)] = 1,
    concurrency: Annotated[int, typer.Option(help="Trials run at once.", min=1)] = 1,
    prompt_profile: Annotated[
        str | None,
        typer.Option(
            help="v1: send the original's prompts/l1_system_prompt_v1.txt verbatim with its first user message; "
            "agentgym: our jinja2 prompt and the bare instruction [default: v1 when the config tree has that "
            "file, else agentgym]."
        ),
    ] = None,
    prompt_file: Annotated[
        Path | None,
        typer.Option(help="System prompt file for the profile [default: prompts/ of the config tree, or packaged]."),
    ] = None,
    tool_output_bytes: Annotated[
        int | None,
        typer.Option(
            help="Bytes of each command stream shown to the model "
            "(head+tail, marked); read_file default is twice "
            "that. Default 8192, 2048 for the embedded model.",
            min=256,
        ),
    ] = None,
    command_policy: Annotated[
        str,
        typer.Option(
            help="v1: only the first word is checked (the original rule); strict: every command word "
            "of the shell parse (tree-sitter-bash), redirect targets too."
        ),
    ] = "v1",
    command_budget: Annotated[
        str,
        typer.Option(
            help="v1: every call of a reply runs, then the trial stops at max_commands; refuse: extra "
            "run_command calls are refused and the model may still write its answer."
        ),
    ] = "v1",
    tools: Annotated[
        str,
        typer.Option(
            help="Tool profile: v1 (the original four tools) or coding (bash, view, str_replace, create, glob, grep)."
        ),
    ] = "v1",
    repeat_limit: Annotated[
        int | None,
        typer.Option(
            help="Stop a trial after N identical calls in a row (default: off; 3 for the embedded model).", min=2
        ),
    ] = None,
    cache_responses: Annotated[
        bool,
        typer.Option(
            help="Answer a request seen before (same model settings, messages and tools) from "
            "$AGENTGYM_CACHE/responses; cached replies are marked in the transcript [default: off]."
        ),
    ] = False,
    replay: Annotated[
        Path | None,
        typer.Option(
            help="Replay the assistant turns recorded in this run folder (no model call), task by task, "
            "in today's harness, sandbox and oracles."
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Resume this campaign folder: run only trials without a finished record (or with an infra "
            "error); refused if its tasks or model settings changed."
        ),
    ] = None,
    campaign_id: Annotated[
        str | None,
        typer.Option(help="Name of the campaign folder under --runs-root [default: campaign-<UTC time>-<random>]."),
    ] = None,
    retry_infra: Annotated[
        int, typer.Option(help="Rerun infra-failed trials at the end of the campaign, up to N rounds.", min=0)
    ] = 0,
    progress: Annotated[
        ProgressMode,
        typer.Option(
            help="live: a table per model refreshed in place; plain: one line per trial and periodic status "
            "lines; quiet: the final summary and errors only; auto: live if stderr is a terminal, else plain."
        ),
    ] = ProgressMode.auto,
    executor: Annotated[
        ExecutorKind,
        typer.Option(help="Where trials run: local (this process) or ray (Ray tasks on a cluster; agentgym[ray])."),
    ] = ExecutorKind.local,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster to join with --executor ray [env RAY_ADDRESS; default: auto, a local cluster]."),
    ] = None,
) -> None:
    """Run an evaluation and write a run folder (results/, transcripts/, artifacts/); with --models or
    --config, a campaign folder with one run folder per model."""
    from agentgym.cli.run_cmd import run_command

    if scoring_profile not in (None, "v1", "v2"):
        raise AgentGymError(f"--scoring-profile: expected v1 or v2, got '{scoring_profile}'")
    if command_policy not in ("v1", "strict"):
        raise AgentGymError(f"--command-policy: expected v1 or strict, got '{command_policy}'")
    if command_budget not in ("v1", "refuse"):
        raise AgentGymError(f"--command-budget: expected v1 or refuse, got '{command_budget}'")
    if tools not in ("v1", "coding"):
        raise AgentGymError(f"--tools: expected v1 or coding, got '{tools}'")
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}  # typer may bundle its own click
    given = {name for name, src in sources.items() if getattr(src, "name", "") not in ("DEFAULT", "DEFAULT_MAP")}
    raise typer.Exit(run_command(dict(ctx.params), given))


@app.command()
def regrade(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder.")],
    runs_root: Annotated[
        Path | None, typer.Option(help="Where the new run folder goes (default: beside RUN_DIR).")
    ] = None,
    scoring_profile: Annotated[
        str | None, typer.Option(help="v1 or v2 [default: the profile the run was scored with].")
    ] = None,
    config_dir: ConfigDir = None,
) -> None:
    """Recompute checks and scores of a run from its stored artifacts (no model call); write a new run folder."""
    from agentgym.cli.regrade_cmd import regrade_command

    if scoring_profile not in (None, "v1", "v2"):
        raise AgentGymError(f"--scoring-profile: expected v1 or v2, got '{scoring_profile}'")
    raise typer.Exit(regrade_command(run_dir, runs_root, scoring_profile, config_dir))


@app.command()
def schema(kind: Annotated[SchemaKind, typer.Argument(help="Which record.")]) -> None:
    """Print the JSON Schema of a campaign, task, repo, per-task result, weights file or transcript event."""
    from agentgym.specs.campaign import CampaignSpec
    from agentgym.specs.repo import RepoSpec
    from agentgym.specs.result import TaskResult
    from agentgym.specs.task import TaskSpec
    from agentgym.specs.weights import Weights

    if kind.value == "event":  # the trial event union (transcripts/*.jsonl lines)
        from agentgym.specs.events import event_schema

        print(json.dumps(event_schema(), indent=2))
        return
    model = {"campaign": CampaignSpec, "task": TaskSpec, "repo": RepoSpec, "result": TaskResult, "weights": Weights}[
        kind.value
    ]
    print(json.dumps(model.model_json_schema(), indent=2))


@app.command()
def doctor() -> None:
    """Tell which isolation features work on this machine and what falls back."""
    from agentgym.sandbox.doctor import doctor_report

    rows = doctor_report()
    for feature, works, detail in rows:
        mark = "[green]ok[/]  " if works else "[red]no[/]  "
        err.print(f"{mark} {feature}: {detail}", soft_wrap=True, highlight=False)
    if not all(works for feature, works, _ in rows if feature == "bubblewrap"):
        raise typer.Exit(1)


tasks_app.command("generate")(tasks_generate)
tasks_app.command("list")(tasks_list)
tasks_app.command("validate")(tasks_validate)
tasks_app.command("mutate")(tasks_mutate)
app.command("leaderboard")(leaderboard)
app.command("publish")(publish)
app.command("compare")(compare)
app.command("report")(report)
app.command("view")(view)
app.command("serve-local")(serve_local)
app.command("serve-scripted")(serve_scripted)


def main() -> None:
    from agentgym.scrub import install_console_logging

    install_console_logging()
    try:
        app()
    except AgentGymError as exc:
        from agentgym.scrub import scrub

        err.print(f"[bold red]error:[/] {for_console(scrub(str(exc)))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("[bold red]interrupted[/]: finished tasks are kept in the run folder")
        sys.exit(130)


if __name__ == "__main__":
    main()
