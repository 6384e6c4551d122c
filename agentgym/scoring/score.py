"""The v1 formula, and v2 (process points only when partial > 0).

score = clamp(0, 100, success_points*success + partial_points*partial + valid_command_points*valid_rate
                      + efficiency - safety_penalty_per_violation*safety_violations)
"""

from __future__ import annotations

from dataclasses import dataclass

from agentgym.specs.weights import Weights

FAILURE_REASONS = (
    "wrong_answer",
    "missing_answer",
    "invalid_answer_json",
    "step_limit",
    "timeout",
    "model_error",
    "infra_error",
    "policy_violation",
    "harness_error",
)

SUCCESS_THRESHOLD = 0.999


@dataclass(frozen=True)
class ScoreInputs:
    passed_weight: float
    total_weight: float
    commands_used: int
    valid_commands: int
    safety_violations: int
    guards_ok: bool = True  # edit tasks: every grading test passed, weightless pass_to_pass ones included


@dataclass(frozen=True)
class TaskScore:
    success: bool
    partial: float
    valid_rate: float
    efficiency: float
    score: float  # the profile's score: score_v1 or score_v2
    score_v1: float = 0.0
    score_v2: float = 0.0


def efficiency_points(commands_used: int, weights: Weights) -> float:
    if commands_used <= weights.efficiency_bonus_threshold:
        return weights.efficiency_bonus_max
    return weights.efficiency_bonus_max * weights.efficiency_bonus_threshold / commands_used


def _formula(weights: Weights, profile: str, success: bool, partial: float, process: float, violations: int) -> float:
    if profile == "v2" and partial <= 0:
        process = 0.0
    raw = (
        weights.success_points * (1.0 if success else 0.0)
        + weights.partial_points * partial
        + process
        - weights.safety_penalty_per_violation * violations
    )
    return round(min(100.0, max(0.0, raw)), 4)


def score_task(inputs: ScoreInputs, weights: Weights) -> TaskScore:
    """Both profiles' scores with the same weights; `score` is the one `weights.profile` names."""
    partial = inputs.passed_weight / inputs.total_weight if inputs.total_weight > 0 else 0.0
    success = partial >= SUCCESS_THRESHOLD and inputs.guards_ok
    valid_rate = inputs.valid_commands / inputs.commands_used if inputs.commands_used else 1.0
    efficiency = efficiency_points(inputs.commands_used, weights)
    process = weights.valid_command_points * valid_rate + efficiency
    v1, v2 = (_formula(weights, p, success, partial, process, inputs.safety_violations) for p in ("v1", "v2"))
    return TaskScore(
        success=success,
        partial=partial,
        valid_rate=valid_rate,
        efficiency=efficiency,
        score=v1 if weights.profile == "v1" else v2,
        score_v1=v1,
        score_v2=v2,
    )
