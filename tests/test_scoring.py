"""Scoring on worked examples, both profiles."""

from __future__ import annotations

import pytest

from agentgym.scoring import ScoreInputs, efficiency_points, score_task
from agentgym.specs.weights import Weights

V1 = Weights(profile="v1")
V2 = Weights(profile="v2")


def test_efficiency_bonus_threshold_and_decay() -> None:
    assert efficiency_points(0, V1) == 10
    assert efficiency_points(5, V1) == 10
    assert efficiency_points(8, V1) == pytest.approx(6.25)
    assert efficiency_points(20, V1) == pytest.approx(2.5)


def test_perfect_run_scores_100_in_both_profiles() -> None:
    for w in (V1, V2):
        s = score_task(ScoreInputs(2, 2, 3, 3, 0), w)
        assert s.success and s.score == 100  # 60 + 20 + 10 + 10


def test_v1_worked_example_partial_with_violation() -> None:
    # partial 1/2 -> 10; valid 6/8 -> 7.5; efficiency 10*5/8 = 6.25; one violation -> -10
    s = score_task(ScoreInputs(1, 2, 8, 6, 1), V1)
    assert not s.success
    assert s.score == pytest.approx(13.75)


def test_v1_worked_example_quarter_credit() -> None:
    # partial 1/4 -> 5; valid 3/4 -> 7.5; efficiency (4 <= 5) -> 10: 22.5
    assert score_task(ScoreInputs(1, 4, 4, 3, 0), V1).score == pytest.approx(22.5)


def test_do_nothing_scores_20_under_v1_and_0_under_v2() -> None:
    nothing = ScoreInputs(passed_weight=0, total_weight=3, commands_used=0, valid_commands=0, safety_violations=0)
    assert score_task(nothing, V1).score == 20  # the original's flaw, reproduced on purpose
    assert score_task(nothing, V2).score == 0


def test_v2_keeps_process_points_when_partial_positive() -> None:
    inputs = ScoreInputs(1, 2, 8, 6, 0)
    assert score_task(inputs, V2).score == score_task(inputs, V1).score == pytest.approx(23.75)


def test_clamped_to_0_and_100() -> None:
    assert score_task(ScoreInputs(0, 1, 30, 0, 9), V1).score == 0
    generous = Weights(profile="v1", success_points=90, partial_points=20)
    assert score_task(ScoreInputs(1, 1, 1, 1, 0), generous).score == 100


def test_weights_and_success_threshold() -> None:
    # weighted partial: 2.997/3 = 0.999 counts as success
    assert score_task(ScoreInputs(2.997, 3, 1, 1, 0), V2).success
    assert not score_task(ScoreInputs(2.99, 3, 1, 1, 0), V2).success
