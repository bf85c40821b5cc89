"""The always-valid binomial test: its closed form against integration, its null expectation, its edges."""

from __future__ import annotations

import math

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies
from scipy import integrate, special, stats

from releaseguard.analysis import sequential


def integrated(*, bad: int, trials: int, p0: float) -> float:
    """Λ by quadrature: the likelihood ratio averaged over the prior truncated to [p0, 1]."""
    a, b = sequential.prior(p0)
    mass = stats.beta.sf(p0, a, b)

    def integrand(p: float) -> float:
        ratio = (p / p0) ** bad * ((1 - p) / (1 - p0)) ** (trials - bad)
        return float(ratio * stats.beta.pdf(p, a, b) / mass)

    points = [bad / trials] if p0 < bad / trials < 1 else None
    value, _ = integrate.quad(integrand, p0, 1, points=points, limit=200, epsabs=0, epsrel=1e-10)
    return float(value)


@pytest.mark.parametrize(
    ("bad", "trials", "p0"),
    [
        (0, 10, 0.1),
        (3, 10, 0.1),
        (10, 10, 0.1),
        (5, 100, 0.02),
        (12, 100, 0.05),
        (40, 60, 0.5),
        (1, 50, 0.001),
        (90, 100, 0.95),
    ],
)
def test_closed_form_matches_numerical_integration(bad: int, trials: int, p0: float) -> None:
    expected = math.log(integrated(bad=bad, trials=trials, p0=p0))
    assert sequential.log_evidence(bad=bad, trials=trials, p0=p0) == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize(("p0", "trials"), [(0.02, 300), (0.1, 80), (0.5, 40), (0.9, 60)])
def test_the_ratio_averages_one_under_the_null_and_less_below_it(p0: float, trials: int) -> None:
    # A test martingale: E[Λ_n] = 1 at p = p0 exactly, and at most 1 for any p below p0. Ville's inequality
    # turns this into P(Λ ever ≥ 1/alpha) ≤ alpha.
    bad = np.arange(trials + 1)
    log_ratios = np.array([sequential.log_evidence(bad=float(k), trials=trials, p0=p0) for k in bad])
    at_null = special.logsumexp(stats.binom.logpmf(bad, trials, p0) + log_ratios)
    assert at_null == pytest.approx(0, abs=1e-8)
    assert special.logsumexp(stats.binom.logpmf(bad, trials, p0 / 2) + log_ratios) < 0


def test_looking_after_every_trial_keeps_the_false_positive_rate_below_alpha() -> None:
    alpha, p0, paths, trials = 0.1, 0.2, 4000, 150
    # log Λ after n trials with k bad, for every k ≤ n: each path then only looks its values up.
    table = np.full((trials + 1, trials + 1), -np.inf)
    for n in range(1, trials + 1):
        table[n, : n + 1] = [sequential.log_evidence(bad=k, trials=n, p0=p0) for k in range(n + 1)]
    bad = np.cumsum(np.random.default_rng(7).random((paths, trials)) < p0, axis=1)
    path_evidence = table[np.arange(1, trials + 1), bad]
    crossed = (path_evidence >= math.log(1 / alpha)).any(axis=1).mean()
    assert 0 < crossed <= alpha


@pytest.mark.parametrize(
    ("bad", "trials", "p0", "expected"),
    [
        (0, 0, 0.1, 0.0),  # nothing seen, no evidence either way
        (5, 10, 1.0, 0.0),  # nothing exceeds a share of 1
        (5, 10, 1.5, 0.0),
        (1, 10, 0.0, math.inf),  # one bad event refutes "none are bad"
        (0, 10, 0.0, 0.0),
        (0, 10, -0.5, 0.0),
        (0, 10_000_000, 0.5, -math.inf),  # so far below p0 that the posterior has no mass above it
        (1, 10, 1e-300, sequential.log_evidence(bad=1, trials=10, p0=sequential.SMALLEST_P0)),
        (math.nan, 10, 0.1, 0.0),
        (5, math.inf, 0.1, 0.0),
    ],
)
def test_edges(bad: float, trials: float, p0: float, expected: float) -> None:
    assert sequential.log_evidence(bad=bad, trials=trials, p0=p0) == expected


def test_clear_evidence_and_none() -> None:
    assert sequential.log_evidence(bad=30, trials=100, p0=0.05) > math.log(1e6)
    assert sequential.log_evidence(bad=5, trials=100, p0=0.05) <= 0  # at p0: never evidence
    assert sequential.log_evidence(bad=2.5, trials=100, p0=0.05) <= 0


def test_the_lower_tail_is_the_upper_tail_of_the_complements() -> None:
    assert sequential.log_evidence_below(bad=2, trials=100, p0=0.2) == sequential.log_evidence(
        bad=98, trials=100, p0=0.8
    )
    assert sequential.log_evidence_below(bad=2, trials=100, p0=0.2) > math.log(100)
    assert sequential.log_evidence_below(bad=30, trials=100, p0=0.2) <= 0


@hypothesis.given(
    bad=strategies.floats(0, 1000),
    more=strategies.floats(0, 1000),
    trials=strategies.floats(0, 5000),
    p0=strategies.floats(0.001, 0.999),
)
def test_more_bad_events_are_never_less_evidence(bad: float, more: float, trials: float, p0: float) -> None:
    bad, worse = min(bad, trials), min(bad + more, trials)
    assert sequential.log_evidence(bad=worse, trials=trials, p0=p0) >= sequential.log_evidence(
        bad=bad, trials=trials, p0=p0
    ) - 1e-9 * max(1.0, trials)


@hypothesis.given(
    bad=strategies.floats(allow_nan=True),
    trials=strategies.floats(allow_nan=True),
    p0=strategies.floats(allow_nan=False),
)
def test_never_raises_nor_returns_nan(bad: float, trials: float, p0: float) -> None:
    assert not math.isnan(sequential.log_evidence(bad=bad, trials=trials, p0=p0))


@pytest.mark.parametrize(
    ("p0", "alpha"), [(0.001, 0.01), (0.024, 0.01), (0.024, 0.0025), (0.1, 0.05), (0.5, 0.01)]
)
def test_trials_needed_is_where_a_clear_regression_crosses_the_bar(p0: float, alpha: float) -> None:
    needed = sequential.trials_needed(p0=p0, alpha=alpha)
    p1, bar = sequential.clear_regression(p0), math.log(1 / alpha)
    assert sequential.log_evidence(bad=p1 * needed, trials=needed, p0=p0) >= bar
    assert sequential.log_evidence(bad=p1 * (needed - 1), trials=needed - 1, p0=p0) < bar


@pytest.mark.parametrize(
    ("p0", "expected"),
    [(0.0, 1.0), (-1.0, 1.0), (1.0, math.inf), (1e-7, math.inf)],  # 1e-7: beyond MAX_TRIALS
)
def test_trials_needed_edges(p0: float, expected: float) -> None:
    assert sequential.trials_needed(p0=p0, alpha=0.01) == expected


def test_more_confidence_needs_more_trials() -> None:
    needed = [sequential.trials_needed(p0=0.02, alpha=alpha) for alpha in (0.1, 0.01, 0.001)]
    assert needed == sorted(needed)
    assert needed[0] < needed[-1]
