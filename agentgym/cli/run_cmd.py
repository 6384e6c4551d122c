"""`agentgym run`: flags (and --config / --models files) → CampaignSpec → `agentgym.evaluate` → summary.

Nothing is orchestrated here (runner/campaign.py does it); this module only parses and prints.
"""

from __future__ import annotations

import dataclasses
import re
import signal
from pathlib import Path
from typing import Any

from rich.console import Console

from agentgym.cli.live import make_display
from agentgym.errors import ModelError, SpecError
from agentgym.runner.campaign import CampaignResult, ModelResult, evaluate
from agentgym.runner.interrupt import Interrupted
from agentgym.sandbox.base import Limits
from agentgym.scrub import install_console_logging, scrub
from agentgym.specs.campaign import CampaignSpec, build_spec, campaign_fields
from agentgym.textsafe import for_console

console = Console(stderr=True)
EXIT_TASK_ERRORS = 4  # the run finished, but some tasks could not be evaluated (model or harness errors)
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM exits 143 (128 + signal number)
CAMPAIGN_FLAGS = (
    "task_set", "tasks", "limit", "runs_root", "config_dir", "dry_run", "scoring_profile", "epochs", "concurrency",
    "max_sandboxes", "prompt_profile", "prompt_file", "tool_output_bytes", "command_policy", "command_budget",
    "repeat_limit", "repos", "agent", "sandbox", "sandbox_limit", "cache_responses", "replay", "executor", "campaign_id",
    "ray_address", "tools",
)  # fmt: skip
ENTRY_FLAGS = ("temperature", "max_output_tokens", "include_reasoning_content", "request_timeout", "api_key_env")
SINGLE_FLAGS = ("model", "base_url", "api_key", "local_model")  # one model: not with --models / --config


def parse_limits(items: list[str]) -> dict[str, int]:
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
    return values


def _flag_value(name: str, value: Any) -> tuple[str, Any]:
    if name == "repos":
        return name, [r.strip() for r in value.split(",") if r.strip()] if value else None
    if name == "sandbox_limit":
        return "limits", parse_limits(value or [])
    return name, getattr(value, "value", value)  # enums as their text


def _single_entry(params: dict[str, Any]) -> dict[str, Any]:
    entry = {k: params[k] for k in ("model", "base_url", *ENTRY_FLAGS)}
    entry["api_key"], entry["local"] = params["api_key"], params["local_model"]
    return entry


def _as_flag(message: str) -> str:
    """`<flags>: field models[0].request_timeout: ...` as `--request-timeout: ...` (flags have no file)."""
    found = re.match(r"<flags>: field (?:models\[0\]\.)?(\w+)(?:\.\S+)?: (.*)", message)
    if not found:
        return message
    name = {"local": "local_model", "limits": "sandbox_limit"}.get(found[1], found[1])
    return f"--{name.replace('_', '-')}: {found[2]}"


def spec_from_cli(params: dict[str, Any], given: set[str]) -> tuple[CampaignSpec, list[str], bool]:
    """The spec, notes to print, and whether this is a plain single-model run (today's folder layout)."""
    files = [p for p in (params.get("config"), params.get("models")) if p is not None]
    if not files:
        fields = dict(_flag_value(k, params[k]) for k in CAMPAIGN_FLAGS)
        fields["models"] = [_single_entry(params)]
        try:  # --campaign-id asks for a campaign folder even for one model
            return build_spec(None, fields), [], "campaign_id" not in given
        except SpecError as exc:
            raise SpecError(_as_flag(exc.message)) from None
    clash = [f"--{k.replace('_', '-')}" for k in SINGLE_FLAGS if k in given]
    if clash:
        raise SpecError(f"{clash[0]}: cannot be combined with --models/--config (set it in the file's model entries)")
    fields, notes = campaign_fields(params["config"]) if params.get("config") else ({}, [])
    if params.get("models"):
        more, notes2 = campaign_fields(params["models"], models_only=True)
        fields, notes = {**fields, **more}, notes + notes2
    fields.update(dict(_flag_value(k, params[k]) for k in CAMPAIGN_FLAGS if k in given))
    entries = fields.get("models")
    if isinstance(entries, list):
        overrides = {k: params[k] for k in ENTRY_FLAGS if k in given}
        fields["models"] = [{**e, **overrides} if isinstance(e, dict) else e for e in entries]
    source = Path(params.get("models") or params["config"])  # where a bad model entry most likely is
    return build_spec(source, fields), notes, False


def _patience() -> None:
    console.print("[yellow]cleaning up the open sandboxes, then exiting[/]")


def _sigterm_as_interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signum)  # SIGTERM while planning; inside the run, run_until_signal handles both signals


def _summary(result: CampaignResult, single: bool) -> int:
    for m in result.models.values():
        where = m.run_dir / "results" / "REPORT.md"
        who = "" if single else f"{for_console(m.id)}: "
        cost = f", cost ${m.cost_usd:.4f}" if m.cost_usd is not None else ""
        console.print(
            f"[bold]{who}{m.succeeded}/{len(m.records)} succeeded, average score {m.average_score:.2f}[/]{cost}"
            f"  report: {for_console(where)}",
            soft_wrap=True,  # one line per model, a path never broken
        )
    if not single:
        console.print(f"campaign folder: {for_console(result.root)}")
    print(result.root)
    if result.aborted:
        first: ModelResult = result.aborted[0]
        raise ModelError(f"run stopped: {first.error} (finished tasks are in {first.run_dir})")
    broken = [r for r in result.records if r.failure_reason in ("model_error", "infra_error", "harness_error")]
    if broken:
        console.print(
            f"[bold red]error:[/] {len(broken)} task(s) ended with {broken[0].failure_reason}: "
            f"{for_console(scrub(broken[0].error or ''))}",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_TASK_ERRORS
    return 0


def run_command(params: dict[str, Any], given: set[str]) -> int:
    install_console_logging()
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    runs_root = params.get("runs_root")
    try:
        resume = params.get("resume")
        if resume is not None:
            extra = sorted(f"--{k.replace('_', '-')}" for k in given if k not in ("resume", "retry_infra", "progress"))
            if extra:
                raise SpecError(f"{extra[0]}: cannot be combined with --resume (the campaign's spec is reused)")
            spec, notes, single, runs_root = None, [], False, Path(resume).parent
        else:
            spec, notes, single = spec_from_cli(params, given)
            runs_root = spec.runs_root
        for note in notes:
            console.print(f"note: {for_console(note)}", highlight=False)
        display = make_display(str(getattr(params.get("progress"), "value", "auto")), console, single=single)
        with display:  # a live table stops (cursor shown again) before anything below prints
            result = evaluate(
                spec,
                single_run=single,
                hooks=display.hooks(),
                handle_signals=True,
                on_repeat_signal=_patience,
                resume=resume,
                retry_infra=params.get("retry_infra") or 0,
            )
    except (KeyboardInterrupt, Interrupted) as exc:  # trials cancelled; sandboxes and servers are cleaned up
        name = exc.args[0] if isinstance(exc, Interrupted) else "SIGINT"
        console.print(f"[bold red]interrupted[/] ({name}): finished tasks are kept under {for_console(runs_root)}")
        return exc.exit_code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED
    return _summary(result, single)
