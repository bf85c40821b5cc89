"""anomaly judge: the new revision against the metric's past, with literal series and properties."""

from __future__ import annotations

import math

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.analysis import anomaly, judgement, measurement, series
from releaseguard.models import v1alpha1

PASS, FAIL, INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE
RANK = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}
R = judgement.Reason
HIGHER = v1alpha1.AnomalyJudge(type="anomaly")
LOWER = v1alpha1.AnomalyJudge(type="anomaly", direction=v1alpha1.Direction.LOWER_IS_WORSE)


def side(*values: float | None, unavailable: measurement.Unavailable | None = None) -> series.Side:
    points = tuple(None if value is None else series.Value(value=value) for value in values)
    return series.Side(points=points, unavailable=unavailable, detail="timeout" if unavailable else "")


def measured(
    canary: series.Side,
    history: series.Side,
    *seasonal: series.Side,
    quantile: float | None = None,
) -> series.SeriesMeasurement:
    return series.SeriesMeasurement(
        name="latency",
        interval_seconds=30,
        canary=canary,
        baseline=history,
        seasonal=seasonal,
        quantile=quantile,
    )


# 1, 2, 3, 4, 100: median 3, absolute deviations 2, 1, 0, 1, 97, MAD 1, scale 1.4826.
TEXTBOOK = side(1, 2, 3, 4, 100)
FLAT = side(*[10.0] * 10)
ZERO = side(*[0.0] * 10)
THROUGHPUT = side(*[98.0, 100, 102, 99, 101] * 4)


# --- textbook values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("judge", "canary", "history", "verdict", "message"),
    [
        pytest.param(
            HIGHER,
            side(10, 10, 10),
            TEXTBOOK,
            FAIL,
            "level 10 vs history centre 3 (+233%), scale 1.4826: z +4.72 > 4, beyond the tolerance 3.6",
            id="mad-textbook-fail",
        ),
        pytest.param(
            HIGHER,
            side(8, 8, 8),
            TEXTBOOK,
            PASS,
            "level 8 vs history centre 3 (+167%), scale 1.4826: z +3.37 ≤ 4, beyond the tolerance 3.6",
            id="mad-textbook-pass",
        ),
        pytest.param(
            HIGHER,
            side(3, 3, 1000),
            TEXTBOOK,
            PASS,
            "level 3 vs history centre 3 (+0%), scale 1.4826: z +0 ≤ 4, within the tolerance 3.6",
            id="one-spike-of-the-new-revision",
        ),
        pytest.param(
            HIGHER,
            side(10.05, 10.05, 10.05),
            FLAT,
            PASS,
            "level 10.05 vs history centre 10 (+0.5%), scale 0.1: z +0.5 ≤ 4, within the tolerance 12",
            id="flat-history-scale-floored-at-1-percent",
        ),
        pytest.param(
            HIGHER,
            side(11, 11, 11),
            FLAT,
            PASS,
            "z +10 > 4, within the tolerance 12",
            id="unusual-but-within-tolerance",
        ),
        pytest.param(
            HIGHER, side(13, 13, 13), FLAT, FAIL, "z +30 > 4, beyond the tolerance 12", id="flat-fail"
        ),
        pytest.param(
            HIGHER,
            side(0.01, 0.02, 0.01),
            ZERO,
            FAIL,
            "level 0.01 vs history centre 0 (+0.01), scale 1e-12: z +1e+10 > 4, beyond the tolerance 0",
            id="errors-after-a-clean-history",
        ),
        pytest.param(
            HIGHER, side(0, 0, 0.5), ZERO, PASS, "z +0 ≤ 4", id="one-bad-interval-after-a-clean-history"
        ),
        pytest.param(
            HIGHER,
            side(20, 20, 20),
            side(1, 50, 2, 40, 3, 60, 5),
            PASS,
            "level 20 vs history centre 5 (+300%), scale 5.9304: z +2.53 ≤ 4, beyond the tolerance 6",
            id="noisy-history-beyond-tolerance-but-usual",
        ),
        pytest.param(
            LOWER,
            side(50, 52, 49),
            THROUGHPUT,
            FAIL,
            "level 50 vs history centre 100 (-50%), scale 1.4826: z +33.7 > 4, beyond the tolerance 80",
            id="throughput-drop",
        ),
        pytest.param(LOWER, side(150, 150, 150), THROUGHPUT, PASS, "z -33.7 ≤ 4", id="throughput-rise"),
        pytest.param(HIGHER, side(50, 50, 50), THROUGHPUT, PASS, "z -33.7 ≤ 4", id="lower-is-better-here"),
    ],
)
def test_verdicts(
    judge: v1alpha1.AnomalyJudge,
    canary: series.Side,
    history: series.Side,
    verdict: v1alpha1.Verdict,
    message: str,
) -> None:
    judged = anomaly.judge(judge, measured(canary, history))
    assert judged.verdict == verdict
    assert judged.reason == (R.ANOMALY_DETECTED if verdict == FAIL else R.WITHIN_HISTORY)
    assert message in judged.message
    assert judged.threshold == f"maxDeviation 4, maxRelativeIncrease 0.2, {judge.direction}"


def test_the_judgement_carries_the_level_and_the_centre() -> None:
    judged = anomaly.judge(HIGHER, measured(side(10, 9, 11, None), TEXTBOOK))
    assert (judged.canary, judged.baseline) == (10, 3)


def test_each_kind_of_point_is_reduced_to_one_number() -> None:
    def histogram(slow: float) -> series.Histogram:
        # 100 requests, `slow` of them between 0.1 s and 1 s: the 0.9 quantile moves with them.
        return series.Histogram(buckets=((0.1, 100 - slow), (1, 100), (math.inf, 100)))

    ratios = series.Side(points=(*[series.Counts(errors=1, total=100)] * 6, series.Counts(errors=0, total=0)))
    judged = anomaly.judge(
        HIGHER, measured(series.Side(points=(series.Counts(errors=5, total=100),) * 3), ratios)
    )
    assert (judged.verdict, judged.canary, judged.baseline) == (FAIL, 0.05, 0.01)

    latencies = series.Side(points=(histogram(5),) * 6)
    judged = anomaly.judge(HIGHER, measured(series.Side(points=(histogram(30),) * 3), latencies))
    assert judged.verdict == FAIL
    # Rank 90 of 100 falls among the 95 requests under 0.1 s, or among the 30 between 0.1 s and 1 s.
    assert judged.baseline == pytest.approx(0.1 * 90 / 95)
    assert judged.canary == pytest.approx(0.1 + 0.9 * 20 / 30)
    judged = anomaly.judge(
        HIGHER, measured(series.Side(points=(histogram(30),) * 3), latencies, quantile=0.5)
    )
    assert judged.baseline == pytest.approx(0.1 * 50 / 95)
    assert judged.canary == pytest.approx(0.1 * 50 / 70)


# --- the reference --------------------------------------------------------------------------------------

QUIET_HOUR = side(*[100.0, 102, 98, 101, 99, 100] * 20)
EVENING = [300.0, 310, 295, 305, 290, 300]


def test_a_daily_peak_seen_yesterday_is_not_an_anomaly() -> None:
    tonight = side(*EVENING)
    yesterday = side(*[value * 1.05 for value in EVENING])
    judged = anomaly.judge(HIGHER, measured(tonight, QUIET_HOUR, yesterday))
    assert (judged.verdict, judged.reason) == (PASS, R.WITHIN_HISTORY)
    assert "vs same time 24h ago centre 315" in judged.message

    against_the_quiet_hour = anomaly.judge(HIGHER, measured(tonight, QUIET_HOUR))
    assert (against_the_quiet_hour.verdict, against_the_quiet_hour.reason) == (FAIL, R.ANOMALY_DETECTED)
    assert "vs history centre 100" in against_the_quiet_hour.message


def test_seasons_that_count_are_pooled_and_named_after_the_spec() -> None:
    tonight = side(*EVENING)
    yesterday = side(*EVENING)
    last_week = side(*[value * 1.1 for value in EVENING])
    judged = anomaly.judge(HIGHER, measured(tonight, QUIET_HOUR, yesterday, last_week))
    assert "vs same time 24h, 168h ago centre" in judged.message
    extra = anomaly.judge(HIGHER, measured(tonight, QUIET_HOUR, yesterday, last_week, yesterday))
    assert "vs same time 24h, 168h, season 3 ago centre" in extra.message


@pytest.mark.parametrize(
    "season",
    [
        pytest.param(side(300, None, None, None, None, 300), id="less-than-half-usable"),
        pytest.param(
            side(*EVENING, unavailable=measurement.Unavailable.PROVIDER_UNAVAILABLE), id="unavailable"
        ),
        pytest.param(side(), id="empty"),
        pytest.param(side(None, None, None), id="all-missing"),
    ],
)
def test_a_season_without_data_leaves_the_history_as_the_reference(season: series.Side) -> None:
    judged = anomaly.judge(HIGHER, measured(side(*EVENING), QUIET_HOUR, season))
    assert judged.verdict == FAIL
    assert "vs history centre 100" in judged.message


def test_a_season_is_read_only_as_far_as_the_bake_has_come() -> None:
    # Yesterday's peak came at this time; the quiet night after it is not the reference yet.
    yesterday = side(*EVENING, *[50.0] * 100)
    judged = anomaly.judge(HIGHER, measured(side(*EVENING), QUIET_HOUR, yesterday))
    assert judged.verdict == PASS
    assert judged.baseline == 300


def test_a_season_with_too_few_values_so_far_waits_rather_than_judging_against_the_history() -> None:
    judged = anomaly.judge(HIGHER, measured(side(300, 310, 305), QUIET_HOUR, side(300, 305, 310)))
    assert (judged.verdict, judged.reason) == (INCONCLUSIVE, R.TOO_FEW_SAMPLES)
    assert judged.message == "3 usable values in the same time 24h ago, 5 needed: wait for more intervals"


# --- inconclusive ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("canary", "history", "reason", "message"),
    [
        pytest.param(
            side(5, None, 6),
            TEXTBOOK,
            R.TOO_FEW_SAMPLES,
            "2 usable intervals of the new revision, 3 needed: 1 more",
            id="two",
        ),
        pytest.param(
            side(),
            TEXTBOOK,
            R.TOO_FEW_SAMPLES,
            "0 usable intervals of the new revision, 3 needed: 3 more",
            id="none",
        ),
        pytest.param(
            side(1, 2, 3),
            side(1, 2, None, 3, 4),
            R.NO_HISTORY,
            "4 usable values in the history, 5 needed",
            id="short-history",
        ),
        pytest.param(
            side(1, 2, 3), side(), R.NO_HISTORY, "0 usable values in the history, 5 needed", id="no-history"
        ),
        pytest.param(
            side(1, 2, 3),
            side(unavailable=measurement.Unavailable.PROVIDER_UNAVAILABLE),
            R.PROVIDER_UNAVAILABLE,
            "history unavailable: ProviderUnavailable (timeout)",
            id="history-unavailable",
        ),
        pytest.param(
            side(1, 2, 3, unavailable=measurement.Unavailable.NO_DATA),
            TEXTBOOK,
            R.NO_DATA,
            "new revision unavailable: NoData (timeout)",
            id="canary-unavailable",
        ),
        pytest.param(
            side(1, 2, 3),
            side(*[1.7e308] * 6),  # the median of an even count averages two values, whose sum overflows
            R.QUERY_ERROR,
            "the values exceed the range of floating point",
            id="overflow",
        ),
    ],
)
def test_inconclusive(
    canary: series.Side, history: series.Side, reason: judgement.Reason, message: str
) -> None:
    judged = anomaly.judge(HIGHER, measured(canary, history))
    assert (judged.verdict, judged.reason) == (INCONCLUSIVE, reason)
    assert judged.message == message


@pytest.mark.parametrize("quantile", [-0.1, 1.5, math.nan])
def test_a_quantile_outside_0_1_is_a_query_error(quantile: float) -> None:
    judged = anomaly.judge(HIGHER, measured(side(1, 2, 3), TEXTBOOK, quantile=quantile))
    assert (judged.verdict, judged.reason) == (INCONCLUSIVE, R.QUERY_ERROR)


# --- properties -----------------------------------------------------------------------------------------

PROPERTY = hypothesis.settings(max_examples=50, deadline=None)

finite = strategies.floats(allow_nan=False, allow_infinity=False)
moderate = strategies.floats(min_value=-1e6, max_value=1e6)


@strategies.composite
def histograms(draw: strategies.DrawFn) -> series.Histogram:
    bounds = sorted(draw(strategies.sets(finite, min_size=0, max_size=4)))
    steps = draw(
        strategies.lists(
            strategies.floats(min_value=0, max_value=1e6), min_size=len(bounds) + 1, max_size=len(bounds) + 1
        )
    )
    counts = [sum(steps[: index + 1]) for index in range(len(steps))]
    return series.Histogram(buckets=tuple(zip([*bounds, math.inf], counts, strict=True)))


counts = strategies.builds(
    lambda total, share: series.Counts(errors=total * share, total=total),
    strategies.floats(min_value=0, max_value=1.7e308),
    strategies.floats(min_value=0, max_value=1),
)
points = strategies.none() | counts | histograms() | strategies.builds(series.Value, value=finite)
sides = strategies.builds(
    series.Side,
    points=strategies.lists(points, max_size=30).map(tuple),
    unavailable=strategies.none() | strategies.sampled_from(measurement.Unavailable),
)
judges = strategies.builds(
    v1alpha1.AnomalyJudge,
    type=strategies.just("anomaly"),
    max_deviation=strategies.floats(min_value=1e-3, max_value=1e3),
    max_relative_increase=strategies.floats(min_value=0, max_value=10),
    direction=strategies.sampled_from(v1alpha1.Direction),
)


@PROPERTY
@hypothesis.given(
    judge=judges,
    canary=sides,
    history=sides,
    seasonal=strategies.lists(sides, max_size=3),
    quantile=strategies.none() | strategies.floats(),
)
def test_never_raises_and_always_explains(
    judge: v1alpha1.AnomalyJudge,
    canary: series.Side,
    history: series.Side,
    seasonal: list[series.Side],
    quantile: float | None,
) -> None:
    judged = anomaly.judge(judge, measured(canary, history, *seasonal, quantile=quantile))
    assert judged.message
    for value in (judged.canary, judged.baseline):
        assert value is None or math.isfinite(value)
    if judged.verdict != INCONCLUSIVE:
        assert judged.canary is not None
        assert judged.baseline is not None


@PROPERTY
@hypothesis.given(
    judge=judges,
    current=strategies.lists(moderate, min_size=3, max_size=20),
    rises=strategies.lists(strategies.floats(min_value=0, max_value=1e6), min_size=20, max_size=20),
    history=strategies.lists(moderate, min_size=5, max_size=40),
    seasonal=strategies.lists(strategies.lists(moderate, max_size=20), max_size=2),
)
def test_higher_current_values_never_give_a_better_verdict(
    judge: v1alpha1.AnomalyJudge,
    current: list[float],
    rises: list[float],
    history: list[float],
    seasonal: list[list[float]],
) -> None:
    # For lowerIsWorse the same property holds for falls.
    sign = 1 if judge.direction == v1alpha1.Direction.HIGHER_IS_WORSE else -1
    worse = [value + sign * rise for value, rise in zip(current, rises, strict=False)]
    seasons = [side(*values) for values in seasonal]
    before = anomaly.judge(judge, measured(side(*current), side(*history), *seasons))
    after = anomaly.judge(judge, measured(side(*worse), side(*history), *seasons))
    assert RANK[after.verdict] >= RANK[before.verdict]


@PROPERTY
@hypothesis.given(
    judge=judges,
    current=strategies.lists(moderate, max_size=20),
    history=strategies.lists(moderate, max_size=40),
    seasonal=strategies.lists(strategies.lists(strategies.none() | moderate, max_size=20), max_size=2),
)
def test_mirroring_the_data_and_the_direction_gives_the_same_verdict(
    judge: v1alpha1.AnomalyJudge,
    current: list[float],
    history: list[float],
    seasonal: list[list[float | None]],
) -> None:
    flipped = v1alpha1.Direction.LOWER_IS_WORSE
    if judge.direction == flipped:
        flipped = v1alpha1.Direction.HIGHER_IS_WORSE
    mirror = judge.model_copy(update={"direction": flipped})

    def negated(values: list[float] | list[float | None]) -> series.Side:
        return side(*[None if value is None else -value for value in values])

    straight = anomaly.judge(judge, measured(side(*current), side(*history), *[side(*s) for s in seasonal]))
    mirrored = anomaly.judge(
        mirror, measured(negated(current), negated(history), *[negated(s) for s in seasonal])
    )
    assert (mirrored.verdict, mirrored.reason) == (straight.verdict, straight.reason)
