"""The always-valid binomial test: its closed form against integration, its null expectation, its edges."""

from __future__ import annotations

import math
import typing
from collections.abc import Callable

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies
from scipy import integrate, special, stats

from releaseguard.analysis import sequential


def from_analysis_start(**arrays: typing.Any) -> float:
    """log Λ_{0:n}: the ratio test begun with the analysis, the first of the start mixture's tests."""
    per_start = sequential.log_evidence_ratio_starts(**arrays)
    return float(per_start[0]) if len(per_start) else 0.0


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


# --- the two-sample test of a rate ratio ---------------------------------------------------------------


def ratio_evidence(
    canary: list[float],
    canary_trials: list[float],
    baseline: list[float],
    baseline_trials: list[float],
    *,
    theta0: float,
    higher: bool = True,
) -> float:
    return from_analysis_start(
        canary=np.array(canary, dtype=np.float64),
        canary_trials=np.array(canary_trials, dtype=np.float64),
        baseline=np.array(baseline, dtype=np.float64),
        baseline_trials=np.array(baseline_trials, dtype=np.float64),
        theta0=theta0,
        higher=higher,
    )


def binomial_mixture(
    intervals: list[tuple[int, int, int, int]], *, theta0: float, higher: bool = True
) -> float:
    """log Λ from its definition: the canary's share of each interval's errors is Binomial(E, π(θ))."""
    steps, log_weights = sequential.ratio_prior()
    thetas = theta0 * np.exp(steps if higher else -steps)
    log_ratios = np.zeros_like(thetas)
    for canary, canary_trials, baseline, baseline_trials in intervals:
        events = canary + baseline
        shares = canary_trials * thetas / (canary_trials * thetas + baseline_trials)
        null_share = canary_trials * theta0 / (canary_trials * theta0 + baseline_trials)
        log_ratios += stats.binom.logpmf(canary, events, shares) - stats.binom.logpmf(
            canary, events, null_share
        )
    return float(special.logsumexp(log_weights + log_ratios))


@pytest.mark.parametrize(
    ("intervals", "theta0", "higher"),
    [
        ([(7, 100, 20, 900)], 1.2, True),
        ([(0, 100, 20, 900)], 1.2, True),
        ([(30, 50, 5, 450)], 1.0, True),
        ([(2, 50, 40, 950)], 0.8, False),
        ([(1, 50, 9, 450), (3, 120, 8, 380), (12, 250, 25, 250)], 1.2, True),  # a 10%, 25%, 50% step
    ],
)
def test_the_ratio_evidence_is_a_mixture_of_binomial_likelihood_ratios(
    intervals: list[tuple[int, int, int, int]], theta0: float, higher: bool
) -> None:
    columns = [list(map(float, column)) for column in zip(*intervals, strict=True)]
    assert ratio_evidence(*columns, theta0=theta0, higher=higher) == pytest.approx(
        binomial_mixture(intervals, theta0=theta0, higher=higher), abs=1e-9
    )


def test_the_ratio_prior_is_a_distribution_over_alternatives_from_theta0() -> None:
    steps, log_weights = sequential.ratio_prior()
    assert steps[0] == 0
    assert steps[-1] == pytest.approx(math.log(sequential.RATIO_SPAN))
    assert special.logsumexp(log_weights) == pytest.approx(0, abs=1e-12)
    # Most of the weight lies on the subtle side (a doubled error ratio is 1.67 times θ0 = 1.2), the rest
    # on gross regressions.
    assert 0.6 < np.exp(log_weights)[steps < math.log(2.5)].sum() < 0.75


@pytest.mark.parametrize(("theta0", "higher"), [(1.2, True), (1.0, True), (0.8, False)])
def test_the_ratio_evidence_averages_at_most_one_under_the_null_at_any_error_ratio(
    theta0: float, higher: bool
) -> None:
    # Exact expectations over the outcomes of one interval, at the edge of the null (the canary's ratio θ0
    # times the baseline's) and for a healthy canary. Binomial errors make Λ average below one, however
    # high the error ratio; Poisson errors make it exactly one at the edge.
    canary_trials, baseline_trials = 20, 60
    canary, baseline = np.meshgrid(np.arange(61), np.arange(121), indexing="ij")
    log_evidence = np.array(
        [
            [
                ratio_evidence([c], [canary_trials], [b], [baseline_trials], theta0=theta0, higher=higher)
                for b in row
            ]
            for c, row in zip(canary[:, 0], baseline, strict=True)
        ]
    )
    for rate in (0.01, 0.3, 0.8):
        for canary_rate in (min(theta0 * rate, 1.0), rate):
            log_probability = stats.binom.logpmf(canary, canary_trials, canary_rate) + stats.binom.logpmf(
                baseline, baseline_trials, rate
            )
            assert special.logsumexp(log_probability + log_evidence) <= 1e-12
    # Poisson at a low rate only: under the largest alternative (50 times θ0) the canary's errors still
    # lie inside the table, so the sum over it is the whole expectation.
    rate = 0.01
    log_probability = stats.poisson.logpmf(canary, theta0 * rate * canary_trials) + stats.poisson.logpmf(
        baseline, rate * baseline_trials
    )
    assert special.logsumexp(log_probability + log_evidence) == pytest.approx(0, abs=1e-9)


def test_looking_after_every_interval_keeps_the_ratios_false_positive_rate_below_alpha() -> None:
    # The canary exactly at the tolerated ratio (θ0 = 1.2, 2% baseline errors) while its share of the
    # traffic steps from 10% to 50% and an incident multiplies every error ratio by five half-way.
    alpha, paths, intervals = 0.2, 400, 40
    rng = np.random.default_rng(11)
    share = np.repeat([0.1, 0.25, 0.5], [14, 13, 13])
    rate = np.where(np.arange(intervals) < intervals // 2, 0.02, 0.1)
    canary_trials = rng.poisson(500 * share, (paths, intervals)).astype(np.float64)
    baseline_trials = rng.poisson(500 * (1 - share), (paths, intervals)).astype(np.float64)
    canary = rng.binomial(canary_trials.astype(np.int64), 1.2 * rate).astype(np.float64)
    baseline = rng.binomial(baseline_trials.astype(np.int64), rate).astype(np.float64)
    crossed = 0
    for path in range(paths):
        for look in range(1, intervals + 1):
            found = from_analysis_start(
                canary=canary[path, :look],
                canary_trials=canary_trials[path, :look],
                baseline=baseline[path, :look],
                baseline_trials=baseline_trials[path, :look],
                theta0=1.2,
                higher=True,
            )
            if found >= math.log(1 / alpha):
                crossed += 1
                break
    assert crossed <= alpha * paths


def test_a_regression_beyond_the_tolerated_ratio_is_evidence() -> None:
    # Canary at 10% errors against the baseline's 2%, five times, in 150 and 1350 requests.
    assert ratio_evidence([15], [150], [27], [1350], theta0=1.2) > math.log(100)
    assert ratio_evidence([3], [150], [27], [1350], theta0=1.2) < 0
    # Lower is worse: a rate falling to a tenth of the baseline's, against at least 0.8 of it.
    assert ratio_evidence([3], [300], [150], [1500], theta0=0.8, higher=False) > math.log(100)


@pytest.mark.parametrize(
    ("canary", "canary_trials", "baseline", "baseline_trials", "theta0", "expected"),
    [
        ([], [], [], [], 1.2, 0.0),  # nothing seen
        ([5], [0], [5], [100], 1.2, 0.0),  # no canary traffic: the interval carries nothing
        ([5], [100], [5], [0], 1.2, 0.0),
        ([0], [100], [0], [900], 1.2, 0.0),  # no errors on either side: nothing to split
        ([5], [100], [1], [900], 0.0, 0.0),  # no ratio is below 0
        ([5], [100], [1], [900], -1.0, 0.0),
        ([5], [100], [1], [900], math.nan, 0.0),
        ([5], [100], [1], [900], math.inf, 0.0),
        ([1e307] * 20, [1e307] * 20, [1e307] * 20, [1e307] * 20, 1.2, 0.0),  # too large to weigh
    ],
)
def test_ratio_edges(
    canary: list[float],
    canary_trials: list[float],
    baseline: list[float],
    baseline_trials: list[float],
    theta0: float,
    expected: float,
) -> None:
    assert ratio_evidence(canary, canary_trials, baseline, baseline_trials, theta0=theta0) == pytest.approx(
        expected, abs=1e-12
    )


def test_intervals_without_traffic_on_either_side_carry_nothing() -> None:
    with_gaps = ratio_evidence([5, 9, 2, 7], [50, 0, 50, 50], [9, 9, 9, 8], [450, 450, 0, 450], theta0=1.2)
    assert with_gaps == ratio_evidence([5, 7], [50, 50], [9, 8], [450, 450], theta0=1.2)


counts = strategies.one_of(strategies.just(0.0), strategies.floats(1e-3, 1e6))
intervals = strategies.lists(strategies.tuples(counts, counts, counts, counts), max_size=20)
"""Events and trials of each side, as a Prometheus increase() gives them: fractional, not absurdly small."""


@hypothesis.given(
    intervals=intervals,
    more=strategies.floats(0, 1e3),
    theta0=strategies.floats(0.01, 10),
    higher=strategies.booleans(),
)
def test_more_canary_errors_are_more_evidence_and_more_baseline_errors_less(
    intervals: list[tuple[float, float, float, float]], more: float, theta0: float, higher: bool
) -> None:
    columns = [list(column) for column in zip(*intervals, strict=True)] or [[], [], [], []]
    canary, canary_trials, baseline, baseline_trials = columns
    found = ratio_evidence(*columns, theta0=theta0, higher=higher)
    worse_canary = ratio_evidence(
        [c + more for c in canary], canary_trials, baseline, baseline_trials, theta0=theta0, higher=higher
    )
    worse_baseline = ratio_evidence(
        canary, canary_trials, [b + more for b in baseline], baseline_trials, theta0=theta0, higher=higher
    )
    tolerance = 1e-9 * max(1.0, abs(found))
    if higher:
        assert worse_canary >= found - tolerance
        assert worse_baseline <= found + tolerance
    else:
        assert worse_canary <= found + tolerance
        assert worse_baseline >= found - tolerance


@hypothesis.given(intervals=intervals, relative=strategies.floats(0, 0.99))
def test_lower_is_worse_is_higher_is_worse_with_the_sides_swapped(
    intervals: list[tuple[float, float, float, float]], relative: float
) -> None:
    # "The canary's rate is at least (1 - r) times the baseline's" is "the baseline's is at most 1 / (1 - r)
    # times the canary's": the same null, and the same evidence, the alternatives mirrored.
    canary, canary_trials, baseline, baseline_trials = [
        list(column) for column in zip(*intervals, strict=True)
    ] or [[], [], [], []]
    lower = ratio_evidence(
        canary, canary_trials, baseline, baseline_trials, theta0=1 - relative, higher=False
    )
    higher = ratio_evidence(baseline, baseline_trials, canary, canary_trials, theta0=1 / (1 - relative))
    # Up to rounding, which grows with the errors counted (log1p of large traffic ratios cancels).
    assert lower == pytest.approx(higher, rel=1e-9, abs=1e-12 * (1 + sum(canary) + sum(baseline)))


@hypothesis.given(
    intervals=strategies.lists(
        strategies.tuples(*[strategies.floats(allow_nan=True, allow_infinity=True)] * 4), max_size=8
    ),
    theta0=strategies.floats(allow_nan=True),
    higher=strategies.booleans(),
)
def test_the_ratio_evidence_never_raises_nor_returns_nan(
    intervals: list[tuple[float, float, float, float]], theta0: float, higher: bool
) -> None:
    columns = [list(column) for column in zip(*intervals, strict=True)] or [[], [], [], []]
    assert not math.isnan(ratio_evidence(*columns, theta0=theta0, higher=higher))


@pytest.mark.parametrize(
    ("theta0", "higher", "rate", "share"),
    [(1.2, True, 0.02, 1 / 9), (1.2, True, 0.001, 1 / 19), (1.0, True, 0.3, 1.0), (0.8, False, 0.5, 1 / 3)],
)
def test_ratio_trials_needed_is_where_a_clear_regression_crosses_the_bar(
    theta0: float, higher: bool, rate: float, share: float
) -> None:
    alpha = 0.01
    needed = sequential.ratio_trials_needed(theta0=theta0, higher=higher, rate=rate, share=share, alpha=alpha)
    clear = 2 * theta0 if higher else theta0 / 2

    def expected(trials: float) -> float:
        # The expected counts of `trials` canary requests, in one interval: the evidence is linear in them.
        return ratio_evidence(
            [clear * rate * trials],
            [trials],
            [rate * trials / share],
            [trials / share],
            theta0=theta0,
            higher=higher,
        )

    assert expected(needed) >= math.log(1 / alpha)
    assert expected(needed - 1) < math.log(1 / alpha)


@pytest.mark.parametrize(
    ("theta0", "rate", "share", "expected"),
    [
        (1.2, 0.0, 0.1, math.inf),  # no errors: no regression can show
        (0.0, 0.02, 0.1, math.inf),
        (1.2, 0.02, 0.0, math.inf),
        (1.2, math.nan, 0.1, math.inf),
        (1.2, 1e-9, 0.1, math.inf),  # beyond MAX_TRIALS
    ],
)
def test_ratio_trials_needed_edges(theta0: float, rate: float, share: float, expected: float) -> None:
    assert (
        sequential.ratio_trials_needed(theta0=theta0, higher=True, rate=rate, share=share, alpha=0.01)
        == expected
    )


# --- mixtures over start times ---------------------------------------------------------------------------


def since_counts(values: list[float]) -> np.ndarray:
    """Sums from each start of the mixture on, as the compare judge passes them."""
    array = np.array(values, dtype=np.float64)
    return np.cumsum(array[::-1])[::-1][sequential.starts(len(array))]


@hypothesis.given(
    strategies.lists(
        strategies.tuples(
            strategies.integers(0, 30),
            strategies.integers(1, 200),
            strategies.integers(0, 60),
            strategies.integers(1, 900),
        ),
        max_size=40,
    ),
    strategies.sampled_from([(1.2, True), (1.0, True), (0.8, False)]),
)
def test_the_start_mixture_never_gives_less_evidence_than_half_the_analysis_start_test(
    intervals: list[tuple[int, int, int, int]], tolerance: tuple[float, bool]
) -> None:
    # The analysis-start test keeps half of the weight, so M_n ≥ Λ_{0:n} / 2 whatever the data.
    theta0, higher = tolerance
    canary, canary_trials, baseline, baseline_trials = (
        (np.array(column, dtype=np.float64) for column in zip(*intervals, strict=True))
        if intervals
        else (np.zeros(0),) * 4
    )
    canary = np.minimum(canary, canary_trials)
    baseline = np.minimum(baseline, baseline_trials)
    arrays = {
        "canary": canary,
        "canary_trials": canary_trials,
        "baseline": baseline,
        "baseline_trials": baseline_trials,
    }
    mixed = sequential.mix(sequential.log_evidence_ratio_starts(**arrays, theta0=theta0, higher=higher))
    pooled = from_analysis_start(**arrays, theta0=theta0, higher=higher)
    assert mixed.log_evidence >= pooled - math.log(2) - 1e-9
    bad, trials = since_counts(canary.tolist()), since_counts(canary_trials.tolist())
    shares = sequential.log_evidence_starts(bad=bad, trials=trials, p0=0.05)
    whole = sequential.log_evidence(bad=float(canary.sum()), trials=float(canary_trials.sum()), p0=0.05)
    assert shares.log_evidence >= whole - math.log(2) - 1e-9


def test_a_start_mixture_without_data_or_with_none_against_the_null_is_no_evidence() -> None:
    empty = np.zeros(0)
    assert sequential.log_evidence_starts(bad=empty, trials=empty, p0=0.1).log_evidence == 0.0
    none = sequential.mix(
        sequential.log_evidence_ratio_starts(
            canary=empty, canary_trials=empty, baseline=empty, baseline_trials=empty, theta0=1.2, higher=True
        )
    )
    assert none == sequential.Since(log_evidence=0.0, start=0)
    # Clean intervals only: every start's Λ is at most 1, so M_n is at most 1.
    clean = sequential.log_evidence_starts(
        bad=since_counts([0.0] * 30), trials=since_counts([100.0] * 30), p0=0.1
    )
    assert clean.log_evidence <= 0.0


def test_a_regression_from_mid_analysis_fails_within_a_few_looks_of_its_onset() -> None:
    # 60 healthy intervals at 2% errors on both sides, then the canary's errors double. Pooled from the
    # analysis' start, the healthy stretch dilutes the evidence; from the start nearest the onset it is not.
    onset, intervals, bar = 60, 100, math.log(100)
    canary = np.where(np.arange(intervals) < onset, 10.0, 20.0)
    arrays = {
        "canary_trials": np.full(intervals, 500.0),
        "baseline": np.full(intervals, 90.0),
        "baseline_trials": np.full(intervals, 4500.0),
    }

    def first_fail(evidence: Callable[[int], float]) -> int:
        return next(look for look in range(1, intervals + 1) if evidence(look) >= bar)

    def mixed(look: int) -> float:
        cut = {name: values[:look] for name, values in arrays.items()}
        return sequential.mix(
            sequential.log_evidence_ratio_starts(canary=canary[:look], **cut, theta0=1.2, higher=True)
        ).log_evidence

    def pooled(look: int) -> float:
        cut = {name: values[:look] for name, values in arrays.items()}
        return from_analysis_start(canary=canary[:look], **cut, theta0=1.2, higher=True)

    assert first_fail(mixed) - onset <= 8
    assert first_fail(pooled) - onset > 15
    found = sequential.mix(
        sequential.log_evidence_ratio_starts(canary=canary, **arrays, theta0=1.2, higher=True)
    )
    assert found.start == onset
    # The binomial test likewise: 10% slow requests, then 20%, against a tolerated 10%.
    slow = np.where(np.arange(intervals) < onset, 50.0, 100.0)

    def shares(look: int) -> float:
        mixed = sequential.log_evidence_starts(
            bad=since_counts(slow[:look].tolist()), trials=since_counts([500.0] * look), p0=0.1
        )
        return mixed.log_evidence

    assert first_fail(shares) - onset <= 4


def test_looking_after_every_interval_keeps_the_start_mixtures_false_positive_rate_below_alpha() -> None:
    # Both tests exactly at the null's edge, looked at after each of 45 intervals: every start is one more
    # chance to cross, and the weights pay for them.
    alpha, paths, intervals = 0.1, 200, 45
    rng = np.random.default_rng(7)
    canary_trials = rng.poisson(50, (paths, intervals)).astype(np.float64)
    baseline_trials = rng.poisson(450, (paths, intervals)).astype(np.float64)
    canary = rng.binomial(canary_trials.astype(np.int64), 1.2 * 0.03).astype(np.float64)
    baseline = rng.binomial(baseline_trials.astype(np.int64), 0.03).astype(np.float64)
    slow = rng.binomial(canary_trials.astype(np.int64), 0.1).astype(np.float64)
    ratio_crossed = share_crossed = 0
    for path in range(paths):
        ratio = share = False
        for look in range(1, intervals + 1):
            ratio = ratio or sequential.mix(
                sequential.log_evidence_ratio_starts(
                    canary=canary[path, :look],
                    canary_trials=canary_trials[path, :look],
                    baseline=baseline[path, :look],
                    baseline_trials=baseline_trials[path, :look],
                    theta0=1.2,
                    higher=True,
                )
            ).log_evidence >= math.log(1 / alpha)
            share = share or sequential.log_evidence_starts(
                bad=since_counts(slow[path, :look].tolist()),
                trials=since_counts(canary_trials[path, :look].tolist()),
                p0=0.1,
            ).log_evidence >= math.log(1 / alpha)
        ratio_crossed += ratio
        share_crossed += share
    assert ratio_crossed <= alpha * paths
    assert share_crossed <= alpha * paths
