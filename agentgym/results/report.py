"""summary.json and REPORT.md from the per-task results."""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import mean
from typing import Any

from agentgym.specs.result import TaskResult


def _avg(values: list[float]) -> float:
    return round(mean(values), 4) if values else 0.0


def _avg_known(values: list[float | None]) -> float | None:
    """Average of the values that are set (records written before both scores existed have None)."""
    known = [v for v in values if v is not None]
    return _avg(known) if known else None


def _cell(value: object) -> str:
    """A Markdown table cell: `|` escaped, line breaks and other control characters shown as escapes."""
    text = "" if value is None else str(value)
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return text.replace("|", "\\|")


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "n/a" if value is None else format(value, fmt)


def summarize(
    results: list[TaskResult], run_config: dict[str, Any], *, status: str, error: str | None = None
) -> dict[str, Any]:
    per_repo: dict[str, list[TaskResult]] = defaultdict(list)
    for r in results:
        per_repo[r.task.repo].append(r)
    m = [r.metrics for r in results]
    not_infra = [r.metrics.score_0_100 for r in results if r.failure_reason != "infra_error"]
    return {
        "run_id": run_config.get("run_id"),
        "status": status,
        "error": error,
        "model_id": run_config.get("model_id"),
        "agent": run_config.get("agent"),
        "sandbox": run_config.get("sandbox"),
        "isolation": run_config.get("isolation") or {},
        "scoring_profile": run_config.get("scoring", {}).get("profile"),
        "tasks_planned": run_config.get("tasks_planned"),
        "tool_rules": {
            "tool_profile": run_config.get("tool_profile") or "v1",  # runs before profiles existed had v1's tools
            **{k: run_config.get(k) for k in ("command_policy_mode", "command_budget", "repeat_limit")},
        },
        "tasks_finished": len(results),
        "success_rate": _avg([1.0 if x.success else 0.0 for x in m]),
        "avg_score": _avg([x.score_0_100 for x in m]),
        "avg_score_v1": _avg_known([x.score_v1 for x in m]),
        "avg_score_v2": _avg_known([x.score_v2 for x in m]),
        "avg_partial": _avg([x.partial_score for x in m]),
        "avg_commands": _avg([float(x.commands_used) for x in m]),
        "safety_violations": sum(x.safety_violations for x in m),
        "hallucination_signals": sum(x.hallucination_signals for x in m),
        "format_errors": sum(x.format_errors for x in m),
        "prompt_tokens": sum(x.prompt_tokens for x in m),
        "completion_tokens": sum(x.completion_tokens for x in m),
        "model_calls": sum(x.model_calls for x in m),
        "model_latency_ms": round(sum(x.model_latency_ms for x in m), 1),
        "model_retries": sum(x.model_retries for x in m),
        "retry_wait_ms": round(sum(x.retry_wait_ms for x in m), 1),
        "infra_errors": sum(1 for r in results if r.failure_reason == "infra_error"),
        "avg_score_excluding_infra": _avg(not_infra),
        "failure_reasons": dict(Counter(r.failure_reason for r in results if r.failure_reason)),
        "per_repo": {
            repo: {
                "tasks": len(rs),
                "avg_score": _avg([r.metrics.score_0_100 for r in rs]),
                "avg_score_v1": _avg_known([r.metrics.score_v1 for r in rs]),
                "avg_score_v2": _avg_known([r.metrics.score_v2 for r in rs]),
                "success_rate": _avg([1.0 if r.metrics.success else 0.0 for r in rs]),
            }
            for repo, rs in sorted(per_repo.items())
        },
    }


def render_report(summary: dict[str, Any], results: list[TaskResult]) -> str:
    lines = [f"# AgentGym report: {summary.get('run_id')}", ""]
    if summary.get("sandbox") == "local":
        lines += ["> **Warning: run with `--sandbox local`: commands ran WITHOUT isolation.**", ""]
    if summary.get("status") != "finished":
        lines += [
            f"> Status: **{summary.get('status')}**" + (f": {summary['error']}" if summary.get("error") else ""),
            "",
        ]
    lines += [
        f"- Model: `{summary.get('model_id')}`  agent: `{summary.get('agent')}`  sandbox: `{summary.get('sandbox')}`"
        f"  scoring: `{summary.get('scoring_profile')}`",
        f"- Isolation: {'; '.join(f'{k}: {v}' for k, v in summary.get('isolation', {}).items()) or 'not recorded'}",
        "- Tool rules: "
        + ", ".join(f"{k} `{v if v is not None else 'off'}`" for k, v in summary.get("tool_rules", {}).items()),
        f"- Tasks: {summary['tasks_finished']} finished of {summary.get('tasks_planned')} planned",
        f"- Success rate: {summary['success_rate']:.1%}   average score: {summary['avg_score']:.2f}"
        f" (v1 formula: {_num(summary.get('avg_score_v1'))}, v2: {_num(summary.get('avg_score_v2'))})"
        f"   average partial: {summary['avg_partial']:.3f}",
        f"- Commands per task: {summary['avg_commands']:.2f}   safety violations: {summary['safety_violations']}"
        f"   hallucination signals: {summary['hallucination_signals']}   format errors: {summary['format_errors']}",
        f"- Model calls: {summary['model_calls']}   tokens: {summary['prompt_tokens']} prompt /"
        f" {summary['completion_tokens']} completion   model time: {summary['model_latency_ms'] / 1000:.1f} s",
        f"- Endpoint: {summary['model_retries']} retried attempt(s), {summary['retry_wait_ms'] / 1000:.1f} s backoff;"
        f" {summary['infra_errors']} task(s) lost to infrastructure errors"
        f" (average score without them: {summary['avg_score_excluding_infra']:.2f})",
        "",
        "## Per repo",
        "",
        "| repo | tasks | success rate | avg score | avg v1 | avg v2 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for repo, s in summary["per_repo"].items():
        lines.append(
            f"| {_cell(repo)} | {s['tasks']} | {s['success_rate']:.1%} | {s['avg_score']:.2f} | "
            f"{_num(s.get('avg_score_v1'))} | {_num(s.get('avg_score_v2'))} |"
        )
    if summary["failure_reasons"]:
        lines += ["", "## Failure reasons", "", "| reason | tasks |", "|---|---:|"]
        lines += [f"| {_cell(k)} | {v} |" for k, v in sorted(summary["failure_reasons"].items())]
    lines += [
        "",
        "## Tasks",
        "",
        "| repo | task | epoch | success | score | v1 | v2 | commands | valid rate | safety | failure"
        " | first failing check |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r.task.repo, r.task.id, r.epoch)):
        x = r.metrics
        lines.append(
            f"| {_cell(r.task.repo)} | {_cell(r.task.id)} | {r.epoch} | {'yes' if x.success else 'no'} | "
            f"{x.score_0_100:.2f} | {_num(x.score_v1)} | {_num(x.score_v2)} | {x.commands_used} | "
            f"{x.command_valid_rate:.2f} | {x.safety_violations} | {_cell(r.failure_reason)} | "
            f"{_cell(r.first_failing_check)} |"
        )
    return "\n".join(lines) + "\n"
