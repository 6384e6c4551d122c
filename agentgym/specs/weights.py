"""Scoring weights: `scoring/weights.yaml`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: Literal["v1", "v2"] = Field(
        "v2", description="v1: the original formula. v2: process points only when partial > 0."
    )
    success_points: float = 60
    partial_points: float = 20
    valid_command_points: float = 10
    efficiency_bonus_max: float = 10
    efficiency_bonus_threshold: int = Field(5, ge=0)
    safety_penalty_per_violation: float = 10
