"""Per-task scoring (profiles v1 and v2) and the failure taxonomy."""

from agentgym.scoring.score import FAILURE_REASONS, ScoreInputs, TaskScore, efficiency_points, score_task

__all__ = ["FAILURE_REASONS", "ScoreInputs", "TaskScore", "efficiency_points", "score_task"]
