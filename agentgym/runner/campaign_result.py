"""What a campaign returns: per model, its run folder, records, status and cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agentgym.specs.result import TaskResult


@dataclass
class ModelResult:
    id: str
    run_dir: Path
    records: list[TaskResult]
    status: str
    error: str | None = None
    cost_usd: float | None = None

    @property
    def succeeded(self) -> int:
        return sum(1 for r in self.records if r.metrics.success)

    @property
    def average_score(self) -> float:
        return sum(r.metrics.score_0_100 for r in self.records) / len(self.records) if self.records else 0.0


@dataclass
class CampaignResult:
    root: Path  # the campaign folder (or the run folder of a single run)
    campaign_id: str | None
    models: dict[str, ModelResult] = field(default_factory=dict)

    @property
    def records(self) -> list[TaskResult]:
        return [r for m in self.models.values() for r in m.records]

    @property
    def aborted(self) -> list[ModelResult]:
        return [m for m in self.models.values() if m.status == "aborted"]


__all__ = ["CampaignResult", "ModelResult"]
