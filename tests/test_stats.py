"""agentgym.stats against scipy, exact enumeration and seeded simulation (coverage, unbiasedness, verdicts)."""

from __future__ import annotations

from itertools import combinations
from math import sqrt

import numpy as np
import pytest
from scipy.stats import beta, binom, norm

from agentgym.specs.result import (
    Metrics,
    ModelCallRecord,
    SafetyEvent,
    TaskInfo,
    TaskResult,
    ToolCallRecord,
    Transcript,
)
from agentgym.stats.clustered import cluster_bootstrap, clustered_mean, expanded_level, mde, t_interval
from agentgym.stats.paired import compare, mcnemar_exact, newcombe_interval
from agentgym.stats.proportions import clopper_pearson, pass_at_k, pass_hat_k, wilson
from agentgym.stats.summary import summarize_model
from agentgym.stats.usage import Prices

SIMS = 2000  # coverage simulations per task count: binomial SE of a 95% coverage is 0.49 points
TASK_COUNTS = (10, 20, 30)


def _record(
    task: str,
    *,
    success: bool,
    score: float | None = None,
    epoch: int = 0,
    repo: str = "demo",
    difficulty: str = "easy",
    failure: str | None = None,
    transcript: Transcript | None = None,
    **metrics: int,
) -> TaskResult:
    info = TaskInfo(id=task, repo=repo, difficulty=difficulty, limits={}, instruction="", policy={}, content_hash="0")
    value = (100.0 if success else 0.0) if score is None else score
    m = Metrics(
        success=success,
        partial_score=1.0 if success else 0.0,
        score_0_100=value,
        commands_used=1,
        command_valid_rate=1.0,
        safety_violations=0,
        hallucination_signals=0,
        **metrics,
    )
    reason = None if success else (failure or "wrong_answer")
    return TaskResult(
        task=info,
        metrics=m,
        output_checks=[],
        transcript=transcript or Transcript(),
        failure_reason=reason,
        epoch=epoch,
    )


def _run(successes: list[bool], scores: list[float] | None = None) -> list[TaskResult]:
    scores = scores or [100.0 if s else 0.0 for s in successes]
    return [_record(f"t{i:03d}", success=s, score=v) for i, (s, v) in enumerate(zip(successes, scores, strict=True))]


# --------------------------------------------------------------------------------------------- pass@k, pass^k


@pytest.mark.parametrize("n", [1, 3, 5, 8])
def test_pass_at_k_and_pass_hat_k_equal_enumeration_of_k_subsets(n: int) -> None:
    for c in range(n + 1):
        trials = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(combinations(trials, k))
            assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets), abs=1e-12)
            assert pass_hat_k(n, c, k) == pytest.approx(sum(all(s) for s in subsets) / len(subsets), abs=1e-12)


@pytest.mark.parametrize("p", [0.1, 0.37, 0.8])
def test_pass_at_k_and_pass_hat_k_are_exactly_unbiased(p: float) -> None:
    """E over c ~ Binomial(n, p) of the estimator equals 1-(1-p)^k and p^k (exact sums, not simulation)."""
    n = 6
    pmf = binom.pmf(np.arange(n + 1), n, p)
    for k in range(1, n + 1):
        assert sum(pmf[c] * pass_at_k(n, c, k) for c in range(n + 1)) == pytest.approx(1 - (1 - p) ** k, abs=1e-12)
        assert sum(pmf[c] * pass_hat_k(n, c, k) for c in range(n + 1)) == pytest.approx(p**k, abs=1e-12)


def test_pass_at_k_unbiased_on_simulated_task_sets() -> None:
    """Simulated heterogeneous tasks (p_i ~ Beta(2, 3)), 5 epochs: the mean estimate ≈ the true mean."""
    rng = np.random.default_rng(7)
    sims, tasks, epochs, k = 4000, 20, 5, 3
    p = rng.beta(2, 3, size=(sims, tasks))
    c = rng.binomial(epochs, p)
    at_k = np.array([[pass_at_k(epochs, int(x), k) for x in row] for row in c]).mean(axis=1)
    hat_k = np.array([[pass_hat_k(epochs, int(x), k) for x in row] for row in c]).mean(axis=1)
    for estimates, truth in ((at_k, (1 - (1 - p) ** k).mean(axis=1)), (hat_k, (p**k).mean(axis=1))):
        error = estimates - truth  # the estimator's error given the task set
        assert abs(error.mean()) < 4 * error.std(ddof=1) / sqrt(sims)
    naive = (1 - (1 - c / epochs) ** k).mean(axis=1)  # plugging the observed rate in is biased low
    assert (naive - (1 - (1 - p) ** k).mean(axis=1)).mean() < -4 * (naive - at_k).std() / sqrt(sims)


def test_k_above_epochs_is_refused() -> None:
    with pytest.raises(ValueError, match="k must be"):
        pass_at_k(3, 1, 4)


# ------------------------------------------------------------------------------------------------- intervals


def test_wilson_and_clopper_pearson_match_their_formulas() -> None:
    for c, n in ((0, 10), (3, 10), (10, 10), (17, 30)):
        z, p = norm.ppf(0.975), c / n
        center = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        w = wilson(c, n)
        assert (w.low, w.high) == pytest.approx((max(0.0, center - half), min(1.0, center + half)), abs=1e-9)
        cp = clopper_pearson(c, n)
        low = 0.0 if c == 0 else beta.ppf(0.025, c, n - c + 1)
        high = 1.0 if c == n else beta.ppf(0.975, c + 1, n - c)
        assert (cp.low, cp.high) == pytest.approx((low, high), abs=1e-9)


@pytest.mark.parametrize("tasks", TASK_COUNTS)
def test_wilson_coverage_on_single_epoch_task_sets(tasks: int) -> None:
    """Task sets of varied difficulty (mean rate ~ U(0.15, 0.85), tasks p_i ~ Beta around it), one epoch each.

    Wilson's coverage at one fixed rate oscillates with n (exactly 92.4% at n=10, p=0.3); over task sets of
    varied difficulty it is within 2 points of 95%.
    """
    rng = np.random.default_rng(tasks)
    hits = 0
    for _ in range(SIMS):
        mean_rate = rng.uniform(0.15, 0.85)
        p = rng.beta(4 * mean_rate, 4 * (1 - mean_rate), size=tasks)
        ci = wilson(int((rng.random(tasks) < p).sum()), tasks)
        hits += ci.low <= mean_rate <= ci.high
    assert abs(hits / SIMS - 0.95) <= 0.02


@pytest.mark.parametrize("tasks", TASK_COUNTS)
def test_clustered_t_coverage_on_multi_epoch_heterogeneous_tasks(tasks: int) -> None:
    """3 epochs per task, task difficulty p_i ~ Beta(1, 1): success rate and a score that depends on it."""
    rng = np.random.default_rng(100 + tasks)
    hits_rate = hits_score = 0
    for _ in range(SIMS):
        success = rng.random((tasks, 3)) < rng.beta(1, 1, size=tasks)[:, None]
        score = np.where(success, 100.0, 20.0 * rng.random((tasks, 3)))  # E = 100·0.5 + 10·0.5 = 55
        rate = clustered_mean(success.astype(float).tolist(), bounds=(0.0, 1.0)).interval
        mean = clustered_mean(score.tolist(), bounds=(0.0, 100.0)).interval
        assert rate is not None and mean is not None
        hits_rate += rate.low <= 0.5 <= rate.high
        hits_score += mean.low <= 55.0 <= mean.high
    assert abs(hits_rate / SIMS - 0.95) <= 0.02
    assert abs(hits_score / SIMS - 0.95) <= 0.02


def _skewed_differences(rng: np.random.Generator, tasks: int) -> np.ndarray:
    """Per-task score differences: noise plus a few tasks that flip by a lot (true mean −4)."""
    return rng.normal(0, 20, tasks) + rng.choice([-60.0, 0.0, 0.0, 0.0, 40.0], tasks)


@pytest.mark.parametrize("tasks", TASK_COUNTS)
def test_paired_bootstrap_coverage(tasks: int) -> None:
    """Expanded percentile bootstrap and paired t within 2 points; the plain percentile under-covers at T=10.

    Measured with these seeds (T = 10 / 20 / 30): expanded 93.3 / 94.0 / 95.5%, paired t 94.0 / 94.5 /
    95.4%, plain percentile 88.4 / 92.3 / 94.3%: so compare() reads the t interval below 30 tasks.
    """
    rng = np.random.default_rng(200 + tasks)
    expanded = plain = paired_t = 0
    for sim in range(SIMS):
        d = _skewed_differences(rng, tasks)
        e, p, t = cluster_bootstrap(d, seed=sim), cluster_bootstrap(d, seed=sim, expanded=False), t_interval(d)
        assert e is not None and p is not None and t is not None
        expanded += e.low <= -4.0 <= e.high
        plain += p.low <= -4.0 <= p.high
        paired_t += t.low <= -4.0 <= t.high
    assert abs(expanded / SIMS - 0.95) <= 0.02
    assert abs(paired_t / SIMS - 0.95) <= 0.02
    if tasks == 10:
        assert plain / SIMS < 0.93  # why the expanded form is the default (measured 89.7% here)


def test_expanded_level_grows_for_few_tasks() -> None:
    assert expanded_level(0.95, 10) > expanded_level(0.95, 30) > 0.95


def test_clustered_interval_does_not_collapse_on_a_perfect_run() -> None:
    est = clustered_mean([[1.0, 1.0]] * 10, bounds=(0.0, 1.0))
    assert est.value == 1.0 and est.interval is not None and est.interval.method == "wilson"
    assert est.interval.low == pytest.approx(wilson(10, 10).low) and est.mde is not None and est.mde > 0


def test_mde_formula_and_the_issue_figure() -> None:
    """SD 40 (a 0/100 score near 50%) over 30 tasks: about 29 points unpaired, 21 paired."""
    assert mde(40, 30, paired=False) == pytest.approx(29.43, abs=0.01)
    assert mde(40, 30, paired=True) == pytest.approx(21.17, abs=0.01)
    assert mde(40, 120, paired=False) < mde(40, 30, paired=False) / 1.9  # ~1/√T
    assert mde(40, 1, paired=True) is None


# ---------------------------------------------------------------------------------------- paired comparison


def test_mcnemar_equals_scipy_exact_binomial_directly() -> None:
    for lost in range(0, 12):
        for won in range(0, 12):
            n = lost + won
            expected = 1.0 if n == 0 else min(1.0, 2 * binom.cdf(min(lost, won), n, 0.5))
            assert mcnemar_exact(lost, won) == pytest.approx(expected, abs=1e-12)


def test_compare_single_epoch_success_uses_mcnemar_on_discordant_tasks() -> None:
    base = _run([True] * 12 + [False] * 8)
    cand = _run([False] * 7 + [True] * 5 + [True] + [False] * 7)  # 7 solved→failed, 1 failed→solved
    result = compare(base, cand, quantity="success")
    assert result.method == "mcnemar-exact" and result.shared_tasks == 20
    assert result.p_value == pytest.approx(2 * binom.cdf(1, 8, 0.5))
    assert result.difference == pytest.approx(-6 / 20)
    assert result.solved_to_failed == [f"demo/t{i:03d}" for i in range(7)]
    assert result.failed_to_solved == ["demo/t012"]
    assert result.interval is not None and result.interval.method == "newcombe"
    assert result.interval.low < -0.3 < result.interval.high < 0


def test_newcombe_interval_stays_open_without_discordant_pairs() -> None:
    ci = newcombe_interval((10, 0, 0, 0))
    assert ci.low == pytest.approx(-(1 - wilson(10, 10).low)) and ci.high == pytest.approx(1 - wilson(10, 10).low)


@pytest.mark.parametrize("tasks", TASK_COUNTS)
def test_newcombe_interval_does_not_under_cover(tasks: int) -> None:
    """Correlated pairs (both, base only, candidate only, neither) = (0.5, 0.1, 0.2, 0.2): true diff +0.1.

    Measured with these seeds: 97.7 / 95.3 / 95.7% at T = 10 / 20 / 30 (3000 sets of seed 0: 97.2 / 96.0 /
    95.9%; without the continuity correction of phi 90.5% at T=10). It is conservative; the verdict reads the exact McNemar p value, not this interval.
    """
    rng = np.random.default_rng(300 + tasks)
    sims = 1000
    hits = 0
    for _ in range(sims):
        ci = newcombe_interval(tuple(int(x) for x in rng.multinomial(tasks, (0.5, 0.1, 0.2, 0.2))))
        hits += ci.low <= 0.1 <= ci.high
    assert 0.93 <= hits / sims <= 0.995


def test_verdict_clear_regression_and_improvement() -> None:
    base = _run([True] * 20)
    cand = _run([False] * 15 + [True] * 5)
    assert compare(base, cand, quantity="success", min_effect=0.1).verdict == "regression"
    assert compare(cand, base, quantity="success", min_effect=0.1).verdict == "improvement"
    scored = compare(base, cand, quantity="score", min_effect=10)
    assert scored.verdict == "regression" and scored.method == "paired-t" and scored.interval == scored.t_interval
    assert scored.interval is not None and scored.interval.high < 0 and scored.difference == pytest.approx(-75)


def test_from_30_shared_tasks_the_verdict_reads_the_paired_bootstrap() -> None:
    rng = np.random.default_rng(5)
    scores = rng.uniform(0, 100, 30)
    base, cand = _run([True] * 30, list(scores)), _run([True] * 30, list(np.clip(scores - 30, 0, 100)))
    result = compare(base, cand, min_effect=10)
    assert result.method == "paired-bootstrap" and result.interval == result.bootstrap_interval
    assert result.interval is not None and result.interval.method == "bootstrap-expanded"
    assert result.verdict == "regression" and result.t_interval is not None
    assert compare(base, cand, min_effect=10, seed=1).interval != result.interval  # seeded, not fixed
    assert compare(base, cand, min_effect=10).interval == result.interval


def test_verdict_no_detectable_change() -> None:
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 100, 40)
    base = _run([True] * 40, list(scores))
    cand = _run([True] * 40, list(np.clip(scores + rng.normal(0, 2, 40), 0, 100)))
    result = compare(base, cand, quantity="score", min_effect=5)
    assert result.verdict == "no detectable change", result.reason
    assert result.mde is not None and result.mde < 5 and result.correlation is not None and result.correlation > 0.99


def test_verdict_insufficient_data_when_mde_exceeds_min_effect() -> None:
    base = _run([True, False, True, False], [80.0, 10.0, 60.0, 30.0])
    cand = _run([False, True, True, False], [20.0, 70.0, 65.0, 0.0])
    result = compare(base, cand, quantity="score", min_effect=5)
    assert result.verdict == "insufficient data" and result.mde is not None and result.mde > 5
    assert "minimum detectable effect at 4 tasks" in result.reason
    assert compare(base[:1], cand[:1]).verdict == "insufficient data"


def test_significant_but_smaller_than_min_effect_is_no_detectable_change() -> None:
    base = _run([True] * 30, [80.0] * 30)
    cand = _run([True] * 30, [79.0] * 30)
    result = compare(base, cand, min_effect=5)
    assert result.significant and result.verdict == "no detectable change"
    assert compare(base, cand).verdict == "regression"  # no min_effect: any significant drop


def test_compare_pairs_by_task_averages_epochs_and_drops_infra() -> None:
    base = [_record("a", success=True, epoch=e) for e in range(3)] + [_record("b", success=False)]
    cand = [_record("a", success=e > 0, epoch=e) for e in range(3)] + [_record("c", success=True)]
    cand.append(_record("b", success=False, failure="infra_error"))
    result = compare(base, cand, quantity="success")
    assert result.shared_tasks == 1 and result.base_only == ["demo/b"] and result.candidate_only == ["demo/c"]
    assert result.method == "paired-t" and result.deltas[0].candidate_success == pytest.approx(2 / 3)
    assert result.verdict == "insufficient data"


# -------------------------------------------------------------------------------------------------- summary


def _transcript() -> Transcript:
    return Transcript(
        tool_calls=[
            ToolCallRecord(tool_name="run_command", ok=True, tool_output={"exit_code": 0}),
            ToolCallRecord(tool_name="run_command", ok=True, tool_output={"exit_code": 2}, recovered_from_text=True),
            ToolCallRecord(tool_name="run_command", ok=True, tool_output={"exit_code": True}),  # not a number
            ToolCallRecord(tool_name="fly", ok=False, error="unknown tool 'fly' (available: list_dir)"),
            ToolCallRecord(tool_name="run_command", ok=False, error="refused (prohibited_command): rm"),
        ],
        safety_events=[
            SafetyEvent(type="prohibited_command", detail="rm"),
            SafetyEvent(type="sandbox_blocked", detail="network", penalized=False),
        ],
        model_calls=[ModelCallRecord(latency_ms=float(v)) for v in (100, 200, 300, 400)],
    )


def _campaign_model() -> list[TaskResult]:
    out = []
    for i in range(6):
        for epoch in range(2):
            success = i < 3 or (i == 3 and epoch == 0)
            repo, difficulty = ("alpha", "easy") if i < 4 else ("beta", "hard")
            out.append(
                _record(
                    f"t{i}",
                    success=success,
                    epoch=epoch,
                    repo=repo,
                    difficulty=difficulty,
                    transcript=_transcript() if i == 0 and epoch == 0 else None,
                    failure="infra_error" if i == 5 and epoch == 1 else None,
                    prompt_tokens=1000,
                    completion_tokens=100,
                    format_errors=1 if i == 1 else 0,
                )
            )
    return out


def test_summary_per_model_groups_intervals_and_pass_k() -> None:
    s = summarize_model(_campaign_model(), model="m1", prices=Prices(per_million_input=2.0, per_million_output=8.0))
    o = s.overall
    assert (o.tasks, o.trials, o.infra_errors, o.epochs_min, o.epochs_max) == (6, 12, 1, 2, 2)
    assert o.success_rate.value == pytest.approx(3.5 / 6) and o.success_rate.interval is not None
    assert o.success_rate.interval.method == "clustered-t" and o.success_rate.mde is not None
    assert o.pass_at_k[2].value == pytest.approx(4 / 6) and o.pass_hat_k[2].value == pytest.approx(3 / 6)
    assert sorted(o.pass_at_k) == [1, 2]
    assert o.mean_score_excluding_infra.tasks == 6 and o.mean_score_excluding_infra.trials == 11
    assert sorted(s.per_repo) == ["alpha", "beta"] and s.per_repo["beta"].success_rate.value == 0.0
    assert s.per_difficulty["easy"].tasks == 4
    t3 = s.per_task["alpha/t3"]
    assert t3.success_rate.value == 0.5 and t3.success_rate.interval == wilson(1, 2)
    assert s.tokens.prompt == 12000 and s.tokens.completion == 1200 and s.tokens.cached is None
    assert s.cost_usd == pytest.approx((12000 * 2 + 1200 * 8) / 1e6)
    assert summarize_model(_campaign_model(), prices=Prices(per_million_input=2.0)).cost_usd is None
    assert (s.latency.calls, s.latency.mean_ms, s.latency.p50_ms) == (4, 250.0, 250.0)
    assert s.latency.p95_ms == pytest.approx(385.0)
    q = s.tool_quality
    assert (q.tool_calls, q.malformed, q.recovered_from_text, q.unknown_tools) == (5, 2, 1, 1)
    assert (q.policy_refusals, q.nonzero_exits) == (1, 1)
    assert q.safety_events == {"prohibited_command": 1, "sandbox_blocked": 1}
    assert s.failure_reasons == {"infra_error": 1, "wrong_answer": 4}
    assert s.model_dump(mode="json")["overall"]["pass_at_k"]["2"]["value"] == pytest.approx(4 / 6)


def test_summary_single_epoch_success_is_wilson() -> None:
    s = summarize_model(_run([True] * 7 + [False] * 3))
    assert s.overall.success_rate.interval == wilson(7, 10)
    assert s.overall.mean_score.interval is not None and s.overall.mean_score.interval.method == "clustered-t"
    assert list(s.overall.pass_at_k) == [1] and s.overall.pass_at_k[1].value == pytest.approx(0.7)


def test_empty_inputs_give_empty_estimates_not_errors() -> None:
    s = summarize_model([])
    assert s.overall.mean_score.value is None and s.overall.pass_at_k == {} and s.latency.calls == 0
    result = compare([], [], quantity="success")
    assert result.verdict == "insufficient data" and result.difference is None


def test_a_perfect_score_set_gets_a_wilson_interval_not_a_point() -> None:
    from agentgym.stats.clustered import clustered_mean
    from agentgym.stats.proportions import wilson

    est = clustered_mean([[100.0, 100.0]] * 30, bounds=(0.0, 100.0))
    unit = wilson(30, 30)
    assert est.interval is not None and est.interval.high == 100.0
    assert abs(est.interval.low - unit.low * 100) < 1e-9 and est.interval.low < 90
    assert est.mde is not None and est.mde > 0
    zero = clustered_mean([[0.0]] * 10, bounds=(0.0, 100.0))
    assert zero.interval is not None and zero.interval.low == 0.0 and zero.interval.high > 20
