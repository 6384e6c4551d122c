"""Single-epoch proportions (Wilson, Clopper–Pearson) and the unbiased pass@k / pass^k estimators."""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

from scipy.stats import binomtest

from agentgym.stats.records import Interval


def _check_counts(successes: int, n: int) -> None:
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")


def wilson(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval: close to nominal coverage even for small n and rates near 0 or 1."""
    _check_counts(successes, n)
    ci = binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return Interval(low=max(0.0, float(ci.low)), high=min(1.0, float(ci.high)), level=level, method="wilson")


def clopper_pearson(successes: int, n: int, level: float = 0.95) -> Interval:
    """Exact (Clopper–Pearson) interval from beta quantiles: coverage ≥ level always, so conservative."""
    _check_counts(successes, n)
    ci = binomtest(successes, n).proportion_ci(confidence_level=level, method="exact")
    return Interval(low=float(ci.low), high=float(ci.high), level=level, method="clopper-pearson")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of P(at least one of k trials succeeds) from c successes in n trials.

    1 - C(n-c, k) / C(n, k): the chance that k trials drawn without replacement from the n hold a success.
    """
    _check_k(n, c, k)
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of P(all k trials succeed) (pass^k) from c successes in n trials: C(c, k) / C(n, k)."""
    _check_k(n, c, k)
    return comb(c, k) / comb(n, k)


def _check_k(n: int, c: int, k: int) -> None:
    _check_counts(c, n)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..n (epochs), got k={k} with n={n}")


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """pass@k averaged over tasks; counts holds (trials, successes) per task, every task with ≥ k trials."""
    if not counts:
        raise ValueError("no tasks")
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)


def mean_pass_hat_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """pass^k averaged over tasks; counts holds (trials, successes) per task."""
    if not counts:
        raise ValueError("no tasks")
    return sum(pass_hat_k(n, c, k) for n, c in counts) / len(counts)
