"""The compare judge: series of intervals in, a verdict with its reason and evidence out, at every look."""

from __future__ import annotations

import dataclasses
import math

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies

from releaseguard.analysis import compare, judgement, measurement, series
from releaseguard.models import v1alpha1

PASS, FAIL, INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE
R = judgement.Reason
LOWER = v1alpha1.Direction.LOWER_IS_WORSE
PROMETHEUS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.inf)
RANK = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}
"""How bad a verdict is for the canary."""


def judge(**fields: object) -> v1alpha1.CompareJudge:
    """A compare judge at confidence 0.99 unless told otherwise: the looks and evidence pinned below were
    worked out for it, not for whatever the API's default is."""
    return v1alpha1.CompareJudge.model_validate({"type": "compare", "confidence": 0.99, **fields})


def counts(errors: float, total: float) -> series.Counts:
    return series.Counts(errors=errors, total=total)


def lognormal(
    median: float, requests: float, *, sigma: float = 0.6, bounds: tuple[float, ...] = PROMETHEUS_BUCKETS
) -> series.Histogram:
    """The expected cumulative counts of `requests` lognormal latencies: deterministic, no sampling."""

    def below(bound: float) -> float:
        if math.isinf(bound):
            return 1.0
        return 0.5 * math.erfc(-(math.log(bound) - math.log(median)) / (sigma * math.sqrt(2)))

    return series.Histogram(buckets=tuple((bound, requests * below(bound)) for bound in bounds))


def reading(value: float) -> series.Value:
    return series.Value(value=value)


def measure(
    canary: list[series.Point | None] | tuple[series.Point | None, ...],
    baseline: list[series.Point | None] | tuple[series.Point | None, ...],
    *,
    quantile: float | None = None,
) -> series.SeriesMeasurement:
    return series.SeriesMeasurement(
        name="m",
        interval_seconds=10,
        canary=series.Side(points=tuple(canary)),
        baseline=series.Side(points=tuple(baseline)),
        quantile=quantile,
    )


def looks(rule: v1alpha1.CompareJudge, measured: series.SeriesMeasurement) -> list[judgement.Judgement]:
    """The judgement at every look, on the first k intervals, as the operator calls it."""
    length = max(len(measured.canary.points), len(measured.baseline.points))
    return [
        compare.judge(
            rule,
            dataclasses.replace(measured, canary=measured.canary.upto(k), baseline=measured.baseline.upto(k)),
        )
        for k in range(1, length + 1)
    ]


def first(reason: judgement.Reason, judgements: list[judgement.Judgement]) -> int:
    """The look (from 1) at which `reason` is first given; one past the last look if never."""
    return next(
        (look for look, result in enumerate(judgements, 1) if result.reason == reason), len(judgements) + 1
    )


DEFAULT = judge()


# --- what the judge cannot judge ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["canary", "baseline"])
@pytest.mark.parametrize("reason", list(measurement.Unavailable))
def test_an_unavailable_side_is_inconclusive_with_the_providers_reason(
    which: str, reason: measurement.Unavailable
) -> None:
    healthy = series.Side(points=(counts(1, 100),) * 5)
    gone = series.Side(unavailable=reason, detail="connection refused")
    sides = {"canary": healthy, "baseline": healthy, which: gone}
    measured = series.SeriesMeasurement(name="m", interval_seconds=10, **sides)
    result = compare.judge(DEFAULT, measured)
    assert (result.verdict, result.reason) == (INCONCLUSIVE, R(reason.value))
    assert result.message == f"{which} {reason.value}: connection refused"
    assert (result.canary, result.baseline) == (None, None)


@pytest.mark.parametrize(
    ("canary", "baseline"),
    [
        ([], []),
        ([None, None], [None, None]),
        ([counts(0, 0)] * 3, [counts(0, 0)] * 3),
        ([counts(1, 100)] * 3, [None] * 3),
        ([counts(1, 100), None], [None, counts(1, 100)]),
        ([counts(0, 0)] * 3, [counts(1, 100)] * 3),
        ([lognormal(0.1, 0)] * 3, [lognormal(0.1, 100)] * 3),
        ([reading(1)] * 3, [None] * 3),
        ([counts(1, 100)] * 3, []),
    ],
    ids=[
        "empty",
        "all-missing",
        "no-traffic",
        "no-baseline",
        "never-together",
        "no-canary-traffic",
        "empty-histograms",
        "no-baseline-readings",
        "no-baseline-intervals",
    ],
)
def test_no_usable_interval_is_inconclusive_no_data(
    canary: list[series.Point | None], baseline: list[series.Point | None]
) -> None:
    result = compare.judge(DEFAULT, measure(canary, baseline))
    assert (result.verdict, result.reason) == (INCONCLUSIVE, R.NO_DATA)


@pytest.mark.parametrize("quantile", [0.0, 1.0, 1.5, -0.1, math.nan])
def test_a_quantile_outside_zero_to_one_is_an_invalid_judge(quantile: float) -> None:
    result = compare.judge(
        DEFAULT, measure([lognormal(0.1, 50)] * 3, [lognormal(0.1, 500)] * 3, quantile=quantile)
    )
    assert (result.verdict, result.reason) == (INCONCLUSIVE, R.INVALID_JUDGE)


def test_mismatched_lengths_judge_the_common_prefix() -> None:
    canary = [counts(5, 50)] * 8
    baseline = [counts(19, 950)] * 5
    assert compare.judge(DEFAULT, measure(canary, baseline)) == compare.judge(
        DEFAULT, measure(canary[:5], baseline)
    )


def test_points_of_another_kind_than_the_first_are_missing_intervals() -> None:
    mixed: list[series.Point | None] = [counts(1, 50), reading(3.0), counts(1, 50)]
    result = compare.judge(DEFAULT, measure(mixed, [counts(19, 950)] * 3))
    assert result.verdict == INCONCLUSIVE
    assert result.message.startswith("100 canary requests")


# --- ratio metrics -----------------------------------------------------------------------------------


@pytest.mark.parametrize("baseline", [counts(19, 950), counts(9, 450)], ids=["5%-step", "10%-step"])
def test_a_fivefold_error_ratio_fails_within_three_looks(baseline: series.Counts) -> None:
    # Canary at 5 req/s on a 5% or a 10% step (the baseline takes 95 or 45 req/s), 10 s intervals, the
    # baseline at 2% errors and the canary at 10%: 15 errors in its first 150 requests are enough.
    results = looks(DEFAULT, measure([counts(5, 50)] * 3, [baseline] * 3))
    assert first(R.SIGNIFICANT_REGRESSION, results) == 3
    failed = results[2]
    assert failed.verdict == FAIL
    assert failed.canary == pytest.approx(0.1)
    assert failed.baseline == pytest.approx(0.02)
    assert failed.message.startswith("canary 15/150 = 0.1 vs baseline 0.02 (5x, tolerated 1.2x); evidence ")
    assert failed.threshold == "maxRelativeIncrease 0.2, maxAbsoluteIncrease 0, confidence 0.99"


def test_the_ratio_evidence_is_the_canarys_share_of_each_intervals_errors() -> None:
    result = compare.judge(DEFAULT, measure([counts(5, 50)] * 3, [counts(19, 950)] * 3))
    assert result.message == "canary 15/150 = 0.1 vs baseline 0.02 (5x, tolerated 1.2x); evidence 868 ≥ 100"


def test_a_healthy_canary_waits_for_traffic_then_passes() -> None:
    results = looks(DEFAULT, measure([counts(1, 50)] * 30, [counts(19, 950)] * 30))
    assert {result.verdict for result in results} <= {PASS, INCONCLUSIVE}
    assert results[0].reason == R.TOO_FEW_SAMPLES
    assert results[0].message.startswith("50 canary requests, ")
    assert " more needed: canary 1/50 = 0.02 vs baseline 0.02 (1x, tolerated 1.2x)" in results[0].message
    passed = first(R.WITHIN_TOLERANCE, results)
    assert passed * 50 < compare.DEFAULT_MIN_REQUESTS
    assert all(result.verdict == PASS for result in results[passed - 1 :])


def test_a_service_without_errors_passes_after_the_default_traffic() -> None:
    results = looks(DEFAULT, measure([counts(0, 50)] * 25, [counts(0, 950)] * 25))
    assert first(R.WITHIN_TOLERANCE, results) == compare.DEFAULT_MIN_REQUESTS // 50
    assert results[0].message.startswith(
        f"50 canary requests, {compare.DEFAULT_MIN_REQUESTS - 50} more needed"
    )


def test_min_samples_replaces_the_default() -> None:
    rule = judge(minSamples=1500)
    results = looks(rule, measure([counts(1, 50)] * 31, [counts(19, 950)] * 31))
    assert first(R.WITHIN_TOLERANCE, results) == 30
    assert results[0].message.startswith("50 canary requests, 1450 more needed")


@pytest.mark.parametrize(
    ("rule", "canary_errors", "fails"),
    [
        (judge(maxRelativeIncrease=0, maxAbsoluteIncrease=0.01), 25, False),  # 2.5% vs 2% + 1 point
        (judge(maxRelativeIncrease=0, maxAbsoluteIncrease=0.01), 60, True),  # 6% vs 2% + 1 point
        (judge(maxRelativeIncrease=1), 35, False),  # 3.5% vs twice 2%
        (judge(maxRelativeIncrease=1), 80, True),
        (judge(maxRelativeIncrease=0), 35, True),  # no tolerance: 3.5% vs 2% over 20 000 requests
        (judge(maxRelativeIncrease=1, maxAbsoluteIncrease=0.01), 35, False),  # within both
        (judge(maxRelativeIncrease=1, maxAbsoluteIncrease=0.01), 38, False),  # beyond 1 point, not twice
        (judge(maxRelativeIncrease=1, maxAbsoluteIncrease=0.01), 80, True),  # beyond both
    ],
)
def test_the_tolerance_is_the_larger_of_relative_and_absolute(
    rule: v1alpha1.CompareJudge, canary_errors: float, fails: bool
) -> None:
    result = compare.judge(rule, measure([counts(canary_errors, 1000)] * 20, [counts(200, 10_000)] * 20))
    assert (result.verdict == FAIL) is fails


def test_a_global_incident_during_a_step_is_not_blamed_on_the_canary() -> None:
    # 500 req/s in all; the canary takes 10% of it for 30 intervals, then 50%. As the step happens every
    # pod's error ratio jumps from 2% to 10%. The canary's requests are mostly in the bad stretch, the
    # baseline's mostly in the good one: compared cumulatively the canary looks twice as bad.
    canary = [counts(1, 50)] * 30 + [counts(25, 250)] * 30
    baseline = [counts(9, 450)] * 30 + [counts(25, 250)] * 30
    naive_canary = sum(point.errors for point in canary) / sum(point.total for point in canary)
    naive_baseline = sum(point.errors for point in baseline) / sum(point.total for point in baseline)
    assert naive_canary > 1.5 * naive_baseline
    results = looks(DEFAULT, measure(canary, baseline))
    assert FAIL not in {result.verdict for result in results}
    incident = first(R.GLOBAL_ANOMALY, results)
    assert incident <= 33
    assert results[incident - 1].message.startswith("not the release: baseline in its last")


def test_the_global_anomaly_check_does_not_hide_a_canary_worse_than_the_incident() -> None:
    # The same incident and step as above (a Global anomaly by the 33rd look), but the canary's error ratio
    # goes to 40% where the baseline's goes to 10%: it fails before the incident is called.
    canary = [counts(1, 50)] * 30 + [counts(100, 250)] * 10
    baseline = [counts(9, 450)] * 30 + [counts(25, 250)] * 10
    results = looks(DEFAULT, measure(canary, baseline))
    assert first(R.SIGNIFICANT_REGRESSION, results) == 31
    assert R.GLOBAL_ANOMALY not in {result.reason for result in results}


@hypothesis.given(
    intervals=strategies.lists(
        strategies.tuples(strategies.floats(0, 1), strategies.integers(1, 500), strategies.integers(1, 5000)),
        min_size=1,
        max_size=60,
    ),
    rule=strategies.sampled_from([DEFAULT, judge(maxRelativeIncrease=0), judge(maxAbsoluteIncrease=0.01)]),
)
def test_the_same_error_ratio_on_both_sides_never_fails(
    intervals: list[tuple[float, int, int]], rule: v1alpha1.CompareJudge
) -> None:
    # Whatever every pod's error ratio does from one interval to the next (an incident, a recovery) and
    # however the traffic splits (steps, bursts): each interval is compared on its own.
    canary = [counts(rate * c, c) for rate, c, _ in intervals]
    baseline = [counts(rate * b, b) for rate, _, b in intervals]
    assert compare.judge(rule, measure(canary, baseline)).verdict != FAIL


def test_a_ceiling_fails_the_canary_whatever_the_baseline() -> None:
    rule = judge(maxAbsolute=0.05)
    result = compare.judge(rule, measure([counts(10, 100)] * 10, [counts(100, 1000)] * 10))
    assert (result.verdict, result.reason) == (FAIL, R.ABSOLUTE_LIMIT_EXCEEDED)
    assert result.message.startswith("canary ratio 0.1 above maxAbsolute 0.05 in 1000 requests")
    assert result.threshold.endswith(", maxAbsolute 0.05")


def test_lower_is_worse_fails_a_falling_success_ratio() -> None:
    rule = judge(direction=LOWER, maxRelativeIncrease=0.05)
    falling = looks(rule, measure([counts(70, 100)] * 10, [counts(990, 1000)] * 10))
    assert first(R.SIGNIFICANT_REGRESSION, falling) == 3
    assert falling[-1].threshold.endswith(", lowerIsWorse")
    assert falling[-1].message.startswith("canary 700/1000 = 0.7 vs baseline 0.99 (0.707x, tolerated 0.95x)")
    steady = compare.judge(rule, measure([counts(99, 100)] * 10, [counts(990, 1000)] * 10))
    assert steady.verdict == PASS


def test_a_success_ratio_near_one_is_judged_as_a_rate_of_common_events() -> None:
    # The test assumes the counted events vary as much as Poisson counts; successes at 99% vary far less,
    # so a success ratio falling from 99% to 85% (an error ratio fifteen times the baseline's) takes 22
    # looks to fail here. Judged as an error ratio, higher is worse, it fails at the first.
    success = looks(
        judge(direction=LOWER, maxRelativeIncrease=0.05),
        measure([counts(85, 100)] * 30, [counts(990, 1000)] * 30),
    )
    assert first(R.SIGNIFICANT_REGRESSION, success) == 22
    errors = looks(DEFAULT, measure([counts(15, 100)] * 30, [counts(10, 1000)] * 30))
    assert first(R.SIGNIFICANT_REGRESSION, errors) == 1


@hypothesis.given(
    intervals=strategies.lists(
        strategies.tuples(*[strategies.integers(0, 1000)] * 4), min_size=1, max_size=30
    ),
    relative=strategies.sampled_from([0.0, 0.5]),
)
def test_lower_is_worse_is_higher_is_worse_with_the_sides_swapped(
    intervals: list[tuple[int, int, int, int]], relative: float
) -> None:
    # "The canary's ratio is at least (1 - r) times the baseline's" is "the baseline's is at most 1 / (1 - r)
    # times the canary's": r = 0.5 is r' = 1 with the sides swapped, and the same test fails both or none.
    canary = [counts(min(e, n), n) for e, n, _, _ in intervals]
    baseline = [counts(min(e, n), n) for _, _, e, n in intervals]
    lower = compare.judge(judge(direction=LOWER, maxRelativeIncrease=relative), measure(canary, baseline))
    swapped = judge(maxRelativeIncrease=1 / (1 - relative) - 1)
    higher = compare.judge(swapped, measure(baseline, canary))
    assert (lower.verdict == FAIL) == (higher.verdict == FAIL)


# --- latency histograms ------------------------------------------------------------------------------


def test_a_fifty_percent_slower_canary_fails() -> None:
    results = looks(DEFAULT, measure([lognormal(0.15, 50)] * 10, [lognormal(0.1, 450)] * 10))
    failed = first(R.SIGNIFICANT_REGRESSION, results)
    assert failed <= 5
    result = results[failed - 1]
    assert "canary p50 " in result.message
    assert result.canary == pytest.approx(series.quantile(lognormal(0.15, 1), 0.9))
    assert result.baseline == pytest.approx(series.quantile(lognormal(0.1, 1), 0.9))


def test_a_healthy_latency_passes_once_enough_traffic_accrued() -> None:
    results = looks(DEFAULT, measure([lognormal(0.1, 50)] * 30, [lognormal(0.1, 450)] * 30))
    assert {result.verdict for result in results} <= {PASS, INCONCLUSIVE}
    assert results[0].reason == R.TOO_FEW_SAMPLES
    assert results[-1].reason == R.WITHIN_TOLERANCE


def test_a_tail_only_regression_fails_at_the_users_quantile() -> None:
    # Same median, a far wider spread: only the p90 (and above) moves.
    canary = [lognormal(0.1, 100, sigma=1.2)] * 20
    result = compare.judge(DEFAULT, measure(canary, [lognormal(0.1, 900)] * 20))
    assert (result.verdict, result.reason) == (FAIL, R.SIGNIFICANT_REGRESSION)
    assert result.message.startswith("canary p90 ")
    median_only = compare.judge(DEFAULT, measure(canary, [lognormal(0.1, 900)] * 20, quantile=0.5))
    assert median_only.verdict == PASS


def test_a_ceiling_on_the_users_quantile() -> None:
    rule = judge(maxAbsolute=0.2)
    result = compare.judge(rule, measure([lognormal(0.1, 50)] * 20, [lognormal(0.1, 450)] * 20))
    assert (result.verdict, result.reason) == (FAIL, R.ABSOLUTE_LIMIT_EXCEEDED)
    assert result.message.startswith("canary p90 0.2374 above maxAbsolute 0.2: 209 of 1000 requests slower")
    generous = compare.judge(
        judge(maxAbsolute=0.5), measure([lognormal(0.1, 50)] * 20, [lognormal(0.1, 450)] * 20)
    )
    assert generous.verdict == PASS


def test_past_the_last_finite_bound_nothing_counts_as_slower() -> None:
    # The baseline's p90 is in the +Inf bucket, so its limit lies past 1 s, where the histogram says
    # nothing: the canary's heavier +Inf bucket (40% against 33%) cannot fail it at p90.
    canary = series.Histogram(buckets=((0.1, 30.0), (1.0, 30.0), (math.inf, 50.0)))
    baseline = series.Histogram(buckets=((0.1, 300.0), (1.0, 300.0), (math.inf, 450.0)))
    result = compare.judge(DEFAULT, measure([canary] * 30, [baseline] * 30))
    assert result.verdict == PASS
    assert result.canary == result.baseline == 1.0  # histogram_quantile's answer: the last finite bound
    # Below the last finite bound the +Inf bucket does count: the median fails a canary 80% past 1 s.
    slow = series.Histogram(buckets=((0.1, 10.0), (1.0, 10.0), (math.inf, 50.0)))
    failed = compare.judge(DEFAULT, measure([slow] * 30, [baseline] * 30))
    assert failed.verdict == FAIL
    assert failed.message.startswith(
        "canary p50 1 vs reference 0.075 (bound 0.07681, limit 0.09217): 1223/1500 slower"
    )


def test_histograms_of_different_layouts_are_rebinned() -> None:
    finer = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.inf)
    canary = [lognormal(0.1, 50, bounds=finer)] * 30
    same = compare.judge(DEFAULT, measure(canary, [lognormal(0.1, 450)] * 30))
    assert same.verdict == PASS
    slower = compare.judge(
        DEFAULT, measure([lognormal(0.2, 50, bounds=finer)] * 30, [lognormal(0.1, 450)] * 30)
    )
    assert slower.verdict == FAIL


def test_a_latency_incident_in_the_baseline_is_a_global_anomaly() -> None:
    canary = [lognormal(0.1, 50)] * 30 + [lognormal(0.3, 250)] * 10
    baseline = [lognormal(0.1, 450)] * 30 + [lognormal(0.3, 250)] * 10
    results = looks(DEFAULT, measure(canary, baseline))
    assert FAIL not in {result.verdict for result in results}
    assert first(R.GLOBAL_ANOMALY, results) <= len(results)


@pytest.mark.parametrize(
    ("canary", "baseline"),
    [
        # A doubled error ratio from the 61st interval, after 60 healthy ones.
        ([counts(10, 500)] * 60 + [counts(20, 500)] * 30, [counts(90, 4500)] * 90),
        # Latency 50% slower from the 61st interval.
        ([lognormal(0.1, 500)] * 60 + [lognormal(0.15, 500)] * 30, [lognormal(0.1, 4500)] * 90),
    ],
    ids=["ratio", "latency"],
)
def test_a_regression_from_mid_analysis_fails_within_a_few_looks_of_its_onset(
    canary: list[series.Point], baseline: list[series.Point]
) -> None:
    # Pooled since the analysis' start, the healthy hour before would hide it for many looks.
    results = looks(DEFAULT, measure(canary, baseline))
    failed = first(R.SIGNIFICANT_REGRESSION, results)
    assert {result.verdict for result in results[: failed - 1]} <= {PASS, INCONCLUSIVE}
    assert 60 < failed <= 68
    assert "(regression from interval 60)" in results[failed - 1].message


def test_a_long_healthy_analysis_passes_at_every_look() -> None:
    ratio = looks(DEFAULT, measure([counts(10, 500)] * 90, [counts(90, 4500)] * 90))
    latency = looks(DEFAULT, measure([lognormal(0.1, 500)] * 90, [lognormal(0.1, 4500)] * 90))
    assert {result.verdict for result in ratio[3:] + latency[3:]} == {PASS}


# --- readings ----------------------------------------------------------------------------------------


def test_readings_forty_percent_worse_in_every_interval_fail_within_ten_looks() -> None:
    baseline = [reading(100 + 10 * math.sin(t)) for t in range(20)]
    canary = [reading(1.4 * point.value) for point in baseline]
    failed = first(R.SIGNIFICANT_REGRESSION, looks(DEFAULT, measure(canary, baseline)))
    assert failed <= 10


def test_a_load_swing_that_moves_both_sides_passes() -> None:
    baseline = [reading(100 * (1 + t % 5)) for t in range(25)]
    canary = [reading(point.value * 1.05) for point in baseline]
    results = looks(DEFAULT, measure(canary, baseline))
    assert {result.verdict for result in results} <= {PASS, INCONCLUSIVE}
    assert first(R.WITHIN_TOLERANCE, results) == compare.DEFAULT_MIN_INTERVALS
    assert results[0].message.startswith(
        f"1 canary intervals, {compare.DEFAULT_MIN_INTERVALS - 1} more needed"
    )


def test_a_ceiling_on_readings() -> None:
    result = compare.judge(judge(maxAbsolute=50), measure([reading(60)] * 12, [reading(60)] * 12))
    assert (result.verdict, result.reason) == (FAIL, R.ABSOLUTE_LIMIT_EXCEEDED)
    floor = compare.judge(
        judge(maxAbsolute=70, direction=LOWER), measure([reading(60)] * 12, [reading(60)] * 12)
    )
    assert (floor.verdict, floor.reason) == (FAIL, R.ABSOLUTE_LIMIT_EXCEEDED)


@hypothesis.given(
    values=strategies.lists(
        strategies.tuples(strategies.floats(-1e6, 1e6), strategies.floats(-1e6, 1e6)), min_size=1, max_size=40
    ),
    relative=strategies.sampled_from([0.0, 0.2, 1.0]),
    absolute=strategies.sampled_from([0.0, 1.0, 100.0]),
)
def test_readings_mirror_between_directions(
    values: list[tuple[float, float]], relative: float, absolute: float
) -> None:
    canary = [reading(c) for c, _ in values]
    baseline = [reading(b) for _, b in values]
    higher = compare.judge(
        judge(maxRelativeIncrease=relative, maxAbsoluteIncrease=absolute), measure(canary, baseline)
    )
    lower = compare.judge(
        judge(maxRelativeIncrease=relative, maxAbsoluteIncrease=absolute, direction=LOWER),
        measure([reading(-c) for c, _ in values], [reading(-b) for _, b in values]),
    )
    assert (higher.verdict, higher.reason) == (lower.verdict, lower.reason)
    # The same counts and evidence; only the signs of the levels differ.
    assert higher.message.split("beyond tolerance")[1] == lower.message.split("beyond tolerance")[1]


# --- properties --------------------------------------------------------------------------------------


@hypothesis.given(
    totals=strategies.lists(
        strategies.tuples(strategies.integers(0, 200), strategies.integers(0, 2000)), min_size=1, max_size=40
    ),
    rate=strategies.floats(0, 0.5),
    worse=strategies.floats(0, 1),
    rule=strategies.sampled_from(
        [DEFAULT, judge(maxAbsolute=0.1), judge(minSamples=100), judge(maxRelativeIncrease=0)]
    ),
)
def test_more_canary_errors_never_improve_the_verdict(
    totals: list[tuple[int, int]], rate: float, worse: float, rule: v1alpha1.CompareJudge
) -> None:
    baseline = [counts(round(rate * b), b) for _, b in totals]
    canary = [counts(round(rate * c), c) for c, _ in totals]
    worse_canary = [counts(p.errors + round(worse * (p.total - p.errors)), p.total) for p in canary]
    better = compare.judge(rule, measure(canary, baseline))
    assert RANK[compare.judge(rule, measure(worse_canary, baseline)).verdict] >= RANK[better.verdict]


@hypothesis.given(
    medians=strategies.lists(strategies.floats(0.01, 2), min_size=1, max_size=30),
    slower=strategies.floats(1, 5),
    requests=strategies.integers(0, 300),
)
def test_slower_canary_requests_never_improve_the_verdict(
    medians: list[float], slower: float, requests: int
) -> None:
    baseline = [lognormal(median, 9 * requests) for median in medians]
    canary = [lognormal(median, requests) for median in medians]
    slower_canary = [lognormal(median * slower, requests) for median in medians]
    for rule in (DEFAULT, judge(maxAbsolute=0.5)):
        better = compare.judge(rule, measure(canary, baseline))
        assert RANK[compare.judge(rule, measure(slower_canary, baseline)).verdict] >= RANK[better.verdict]


@hypothesis.given(
    values=strategies.lists(
        strategies.tuples(strategies.floats(-1e3, 1e3), strategies.floats(-1e3, 1e3)), min_size=1, max_size=40
    ),
    more=strategies.floats(0, 1e3),
)
def test_higher_readings_never_improve_the_verdict(values: list[tuple[float, float]], more: float) -> None:
    baseline = [reading(b) for _, b in values]
    better = compare.judge(DEFAULT, measure([reading(c) for c, _ in values], baseline))
    worse = compare.judge(DEFAULT, measure([reading(c + more) for c, _ in values], baseline))
    assert RANK[worse.verdict] >= RANK[better.verdict]


finite = strategies.floats(min_value=0, max_value=1e300)


@strategies.composite
def any_counts(draw: strategies.DrawFn) -> series.Counts:
    total = draw(finite)
    return counts(draw(strategies.floats(0, 1)) * total, total)


@strategies.composite
def any_histogram(draw: strategies.DrawFn) -> series.Histogram:
    bounds = sorted(set(draw(strategies.lists(strategies.floats(-1e300, 1e300), max_size=5))))
    steps = draw(strategies.lists(finite, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    cumulative = [sum(steps[: index + 1]) for index in range(len(steps))]
    if not all(map(math.isfinite, cumulative)):
        cumulative = [min(count, 1e308) for count in cumulative]
    return series.Histogram(buckets=tuple(zip([*bounds, math.inf], cumulative, strict=True)))


points = strategies.one_of(
    strategies.none(),
    any_counts(),
    any_histogram(),
    strategies.builds(reading, strategies.floats(-1e308, 1e308)),
)


@hypothesis.given(
    canary=strategies.lists(points, max_size=8),
    baseline=strategies.lists(points, max_size=8),
    quantile=strategies.one_of(strategies.none(), strategies.floats(allow_nan=True)),
    rule=strategies.sampled_from(
        [DEFAULT, judge(maxAbsolute=0.5, direction=LOWER), judge(maxRelativeIncrease=0, minSamples=1)]
    ),
)
def test_never_raises(
    canary: list[series.Point | None],
    baseline: list[series.Point | None],
    quantile: float | None,
    rule: v1alpha1.CompareJudge,
) -> None:
    result = compare.judge(rule, measure(canary, baseline, quantile=quantile))
    assert len(result.message) <= 400
    for value in (result.canary, result.baseline):
        assert value is None or math.isfinite(value)


@pytest.mark.parametrize(
    ("canary", "baseline", "quantile"),
    [
        ([counts(5, 50)] * 40, [counts(19, 950)] * 40, None),
        ([lognormal(0.15, 50)] * 40, [lognormal(0.1, 450)] * 40, 0.99),
        ([lognormal(0.1, 50)] * 40, [lognormal(0.1, 450)] * 40, None),
        ([reading(10.0)] * 40, [reading(10.0)] * 40, None),
    ],
)
@pytest.mark.parametrize(
    "rule",
    [
        DEFAULT,
        judge(maxAbsolute=0.01, direction=LOWER, confidence=0.9999),
        judge(maxAbsoluteIncrease=0.01, maxAbsolute=0.01, confidence=0.9999),
    ],
)
def test_messages_stay_short(
    canary: list[series.Point],
    baseline: list[series.Point],
    quantile: float | None,
    rule: v1alpha1.CompareJudge,
) -> None:
    for result in looks(rule, measure(canary, baseline, quantile=quantile)):
        assert len(result.message) <= 320, result.message


@hypothesis.given(
    bounds=strategies.lists(strategies.floats(1e-6, 1e6), min_size=1, max_size=12, unique=True),
    steps=strategies.lists(strategies.integers(0, 10**9), min_size=13, max_size=13),
    limits=strategies.lists(
        strategies.one_of(strategies.floats(-1, 2e6), strategies.sampled_from([0.0, -math.inf, math.inf])),
        min_size=1,
        max_size=4,
    ),
    higher=strategies.booleans(),
)
def test_one_histogram_counts_slower_requests_as_every_start_does(
    bounds: list[float], steps: list[int], limits: list[float], higher: bool
) -> None:
    # The pooled test counts with scalars and the start mixtures with rows: a canary must meet one count.
    layout = np.array([*sorted(bounds), math.inf])
    counts = np.cumsum(np.array(steps[: len(layout)], dtype=np.float64))
    cumulative = compare._Cumulative.of(bounds=layout, counts=counts)
    rows = compare._slower_rows(
        bounds=layout, rows=np.array([counts] * len(limits)), limits=np.array(limits), higher=higher
    )
    scalars = [cumulative.slower(limit, higher=higher) for limit in limits]
    assert scalars == pytest.approx(rows.tolist(), rel=1e-9, abs=1e-6)
