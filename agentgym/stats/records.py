"""Typed results of the statistics: frozen pydantic records the leaderboard, report and HTML serialize."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Interval(_Frozen):
    low: float
    high: float
    level: float = 0.95
    method: str = Field(
        description="wilson, clopper-pearson, clustered-t, paired-t, bootstrap-expanded, bootstrap, newcombe"
    )


class Estimate(_Frozen):
    """A point estimate with its interval and the minimum detectable effect at this task count."""

    value: float | None
    se: float | None = Field(None, description="Standard error (task-clustered where tasks have several trials).")
    interval: Interval | None = None
    mde: float | None = Field(
        None,
        description="Smallest difference to a second model of this many tasks that a two-sided 5% test "
        "detects with power 0.8 (unpaired form, this model's per-task SD); None when not computable.",
    )
    tasks: int = 0
    trials: int = 0
