"""The leaderboard of run folders in the original's shape and numbers (FORMATS.md, "Leaderboard of v1"):
`L1-leaderboard.md` and `L1-detailed-results.md`, plus `leaderboard.json` with the same numbers.

Per model (all its run folders pooled, one row per per-task record, epochs included as the original's glob
reads them): average score, success rate, average score per repo, commands per task, safety violations per
task and in total, hallucination signals. Models are sorted by average score, best first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from statistics import mean
from typing import Any

from agentgym.results.report import _cell
from agentgym.results.runsets import RunFolder


def _num(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class Row:
    """The numbers of one per-task record that the leaderboard uses."""

    repo: str
    task_id: str
    epoch: int
    success: bool
    score: float
    commands: float
    valid_rate: float
    safety: int
    hallucination: int
    first_failure: str
    failure_reason: str | None

    @classmethod
    def of(cls, record: dict[str, Any]) -> Row:
        task, m = record.get("task") or {}, record.get("metrics") or {}
        epoch = record.get("epoch") if isinstance(record.get("epoch"), int) else 0
        return cls(
            repo=str(task.get("repo", "")),
            task_id=str(task.get("id", "")),
            epoch=epoch,
            success=m.get("success") is True,
            score=_num(m.get("score_0_100")),
            commands=_num(m.get("commands_used")),
            valid_rate=_num(m.get("command_valid_rate")),
            safety=int(_num(m.get("safety_violations"))),
            hallucination=int(_num(m.get("hallucination_signals"))),
            first_failure=first_failure(record),
            failure_reason=record.get("failure_reason") if isinstance(record.get("failure_reason"), str) else None,
        )

    @property
    def name(self) -> str:
        return self.task_id if self.epoch == 0 else f"{self.task_id}.epoch{self.epoch}"


def first_failure(record: dict[str, Any]) -> str:
    """The key of the first failing output check, else `safety:<kind>` of the first safety event, else ''."""
    for check in record.get("output_checks") or []:
        if isinstance(check, dict) and check.get("ok") is False:
            return str(check.get("key", ""))
    events = (record.get("transcript") or {}).get("safety_events") or []
    for event in events:
        if isinstance(event, dict):
            return f"safety:{event.get('type', '')}"
    return ""


@dataclass
class Stats:
    rows: list[Row]

    @property
    def tasks(self) -> int:
        return len(self.rows)

    @property
    def avg_score(self) -> float:
        return mean(r.score for r in self.rows) if self.rows else 0.0

    @property
    def success_rate(self) -> float:
        return mean(1.0 if r.success else 0.0 for r in self.rows) if self.rows else 0.0

    @property
    def avg_commands(self) -> float:
        return mean(r.commands for r in self.rows) if self.rows else 0.0

    @property
    def safety(self) -> int:
        return sum(r.safety for r in self.rows)

    @property
    def hallucination(self) -> int:
        return sum(r.hallucination for r in self.rows)

    def as_json(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "avg_score": round(self.avg_score, 4),
            "success_rate": round(self.success_rate, 4),
            "avg_commands": round(self.avg_commands, 4),
            "safety_violations": self.safety,
            "hallucination_signals": self.hallucination,
        }


@dataclass
class ModelBoard:
    model_id: str
    runs: list[RunFolder] = field(default_factory=list)

    @cached_property  # the runs are complete once build() has grouped them
    def rows(self) -> list[Row]:
        return [Row.of(rec) for run in self.runs for rec in run.records]

    @cached_property
    def overall(self) -> Stats:
        return Stats(self.rows)

    @cached_property
    def _per_repo(self) -> dict[str, Stats]:
        groups: dict[str, list[Row]] = defaultdict(list)
        for row in self.rows:
            groups[row.repo].append(row)
        return {repo: Stats(groups[repo]) for repo in sorted(groups)}

    def per_repo(self) -> dict[str, Stats]:
        return self._per_repo


def build(runs: list[RunFolder]) -> list[ModelBoard]:
    boards: dict[str, ModelBoard] = {}
    for run in runs:
        boards.setdefault(run.model_id, ModelBoard(run.model_id)).runs.append(run)
    return sorted(boards.values(), key=lambda b: (-b.overall.avg_score, b.model_id))


def _pct(rate: float) -> str:
    return f"{rate * 100:.2f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def all_repos(boards: list[ModelBoard]) -> list[str]:
    return sorted({repo for b in boards for repo in b.per_repo()})


def leaderboard_md(boards: list[ModelBoard], title: str = "L1 Leaderboard") -> str:
    repos = all_repos(boards)
    header = ["Model", "Avg Score (overall)", "Avg Success Rate (overall)"]
    header += [f"Avg Score ({_cell(r)})" for r in repos] + ["Safety / task (total)"]
    rows = []
    for b in boards:
        o, per = b.overall, b.per_repo()
        cells = [f"`{_cell(b.model_id)}`", f"{o.avg_score:.2f}", _pct(o.success_rate)]
        cells += [f"{per[r].avg_score:.2f}" if r in per else "n/a" for r in repos]
        per_task = o.safety / o.tasks if o.tasks else 0.0
        rows.append([*cells, f"{per_task:.2f} ({o.safety})"])
    return "\n".join([f"# {title}", "", *_table(header, rows), ""])


SUMMARY_HEADER = ["Runs", "Tasks", "Avg Score", "Avg Success Rate", "Avg Commands / task", "Safety (total)",
                  "Hallucination (total)"]  # fmt: skip
REPO_HEADER = ["Repo", "Tasks", "Avg Score", "Success Rate", "Avg Commands / task", "Safety Violations",
               "Hallucination Signals"]  # fmt: skip
TASK_HEADER = ["task_id", "success", "score", "commands", "cmd_valid_rate", "safety", "hallucination",
               "first_failure"]  # fmt: skip


def _stat_cells(s: Stats) -> list[str]:
    """Tasks, Avg Score, Success Rate, Avg Commands / task, Safety, Hallucination."""
    return [str(s.tasks), f"{s.avg_score:.2f}", _pct(s.success_rate), f"{s.avg_commands:.2f}", str(s.safety),
            str(s.hallucination)]  # fmt: skip


def _task_cells(r: Row) -> list[str]:
    return [_cell(r.name), str(r.success), f"{r.score:.2f}", str(int(r.commands)), _pct(r.valid_rate),
            str(r.safety), str(r.hallucination), _cell(r.first_failure)]  # fmt: skip


def _model_section(b: ModelBoard) -> list[str]:
    per = b.per_repo()
    out = [f"## `{_cell(b.model_id)}`", "", *_table(SUMMARY_HEADER, [[str(len(b.runs)), *_stat_cells(b.overall)]])]
    out += ["", *_table(REPO_HEADER, [[_cell(repo), *_stat_cells(s)] for repo, s in per.items()]), ""]
    for repo, s in per.items():
        rows = [_task_cells(r) for r in sorted(s.rows, key=lambda r: (r.task_id, r.epoch))]
        out += [f"### {_cell(repo)}", "", *_table(TASK_HEADER, rows), ""]
    return out


def detailed_md(boards: list[ModelBoard], title: str = "L1 Detailed Results") -> str:
    lines = [f"# {title}", ""]
    for b in boards:
        lines += _model_section(b)
    return "\n".join(lines)


def board_json(boards: list[ModelBoard]) -> dict[str, Any]:
    return {
        "models": [
            {
                "model_id": b.model_id,
                "runs": [str(run.path) for run in b.runs],
                "skipped_files": sum(run.skipped for run in b.runs),
                "overall": b.overall.as_json(),
                "per_repo": {repo: s.as_json() for repo, s in b.per_repo().items()},
            }
            for b in boards
        ]
    }


__all__ = ["ModelBoard", "Row", "Stats", "board_json", "build", "detailed_md", "first_failure", "leaderboard_md"]
