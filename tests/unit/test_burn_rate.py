"""burnRate judge: SLO error-budget burn over multiwindow rules, with literal series and properties."""

from __future__ import annotations

import math

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.analysis import burn_rate, judgement, measurement, series
from releaseguard.models import v1alpha1

PASS, FAIL, INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE
RANK = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}
R = judgement.Reason
HOUR = 120  # intervals of 30 s
DEFAULT = v1alpha1.BurnRateJudge(type="burnRate", objective=0.999)


def c(errors: float, total: float) -> series.Counts:
    return series.Counts(errors=errors, total=total)


def measured(
    points: list[series.Point | None] | tuple[series.Point | None, ...],
    *,
    interval: float = 30,
    unavailable: measurement.Unavailable | None = None,
) -> series.SeriesMeasurement:
    return series.SeriesMeasurement(
        name="errors",
        interval_seconds=interval,
        canary=series.Side(points=tuple(points), unavailable=unavailable, detail="connection refused"),
        baseline=series.Side(),
    )


def steady(ratio: float, *, intervals: int = HOUR, requests: float = 1000) -> list[series.Point | None]:
    return [c(ratio * requests, requests)] * intervals


def windows(*rules: tuple[str, str, float, str], objective: float = 0.999) -> v1alpha1.BurnRateJudge:
    return v1alpha1.BurnRateJudge.model_validate(
        {
            "type": "burnRate",
            "objective": objective,
            "windows": [
                {"long": long, "short": short, "factor": factor, "severity": severity}
                for long, short, factor, severity in rules
            ],
        }
    )


# --- textbook values ------------------------------------------------------------------------------------


def test_an_error_ratio_of_0_0144_at_three_nines_burns_at_14_4() -> None:
    rules = burn_rate.burn_rates(DEFAULT, measured(steady(0.0144)))
    assert [rule.name for rule in rules] == ["1h/5m", "6h/30m", "24h/2h", "72h/6h"]
    assert [rule.severity for rule in rules] == ["page", "page", "ticket", "ticket"]
    for rule in rules:
        assert rule.long_burn == pytest.approx(14.4)
        assert rule.short_burn == pytest.approx(14.4)
        assert rule.long_requests == 120_000
    assert burn_rate.judge(DEFAULT, measured(steady(0.0144))).canary == pytest.approx(14.4)


def test_the_rules_are_rendered_as_the_workbook_writes_them() -> None:
    assert burn_rate.judge(DEFAULT, measured([])).threshold == (
        "objective 0.999: 1h/5m > 14.4 page, 6h/30m > 6 page, 24h/2h > 3 ticket, 72h/6h > 1 ticket"
    )


def test_a_window_reads_ceil_window_over_interval_intervals() -> None:
    judge = windows(("1h", "5m", 1, "page"))
    # 3600 / 30 is exactly 120 intervals: the 121st from the end is outside the window.
    rule = burn_rate.burn_rates(judge, measured([c(1000, 1000), *steady(0, intervals=120)]))[0]
    assert (rule.long_burn, rule.long_requests) == (0, 120_000)
    # 3600 / 420 = 8.6 intervals reads 9; 300 / 420 reads 1.
    points = [c(1000, 1000), c(1, 1000), *steady(0, intervals=8)]
    rule = burn_rate.burn_rates(judge, measured(points, interval=420))[0]
    assert rule.long_requests == 9000
    assert rule.long_burn == pytest.approx(1 / 9000 / 0.001)
    assert rule.short_burn == 0


def test_a_window_longer_than_the_data_reads_all_of_it() -> None:
    rule = burn_rate.burn_rates(DEFAULT, measured([c(30, 1000), c(20, 1000)]))[3]
    assert rule.long_burn == rule.short_burn == pytest.approx(25)
    assert rule.long_requests == 2000


def test_the_per_rule_figures_say_which_fired_and_why_not() -> None:
    quiet = burn_rate.burn_rates(DEFAULT, measured([c(1, 10)]))
    # Too few requests to page at 14.4 or 6; enough to be sure of a burn above 3 and 1, which open tickets.
    assert [rule.fired for rule in quiet] == [False, False, True, True]
    assert [rule.held_by_traffic for rule in quiet] == [True, True, False, False]
    assert quiet[0].long_burn == pytest.approx(100)
    # One-sided 95% Clopper-Pearson lower bound of 1/10 is 1 - 0.95 ** (1 / 10).
    assert quiet[0].long_burn_lower == pytest.approx((1 - 0.95**0.1) / 0.001)

    busy = burn_rate.burn_rates(DEFAULT, measured(steady(0.005)))
    assert [rule.fired for rule in busy] == [False, False, True, True]
    assert not any(rule.held_by_traffic for rule in busy)


def test_burn_rates_refuses_what_judge_calls_inconclusive() -> None:
    with pytest.raises(ValueError, match="burnRate needs error and total counts"):
        burn_rate.burn_rates(DEFAULT, measured([series.Value(value=1)]))


# --- verdicts -------------------------------------------------------------------------------------------


def stopped_burn() -> list[series.Point | None]:
    """1.25% errors overall, all in the first 25 minutes of an hour: the burn has stopped."""
    return [*steady(0.03, intervals=50), *steady(0, intervals=70)]


def spike() -> list[series.Point | None]:
    """A minute of 10% errors at the end of a clean hour."""
    return [*steady(0, intervals=118), *steady(0.1, intervals=2)]


@pytest.mark.parametrize(
    ("points", "verdict", "reason", "words"),
    [
        pytest.param(
            steady(0.02),
            FAIL,
            R.BURN_RATE_EXCEEDED,
            "page-level burn on 1h/5m, 6h/30m: burn 20 over all 120000 requests; 1h/5m burn 20/20 > 14.4",
            id="sustained-fast-burn-pages",
        ),
        pytest.param(
            steady(0.007),
            FAIL,
            R.BURN_RATE_EXCEEDED,
            "page-level burn on 6h/30m: burn 7 over all 120000 requests; 1h/5m burn 7/7 vs 14.4 page",
            id="slower-burn-pages-on-the-6h-rule",
        ),
        pytest.param(
            steady(0.005),
            PASS,
            R.WITHIN_ERROR_BUDGET,
            "ticket-level burn on 24h/2h, 72h/6h: burn 5 over all",
            id="ticket-burn-passes-and-says-so",
        ),
        pytest.param(
            steady(0.0005),
            PASS,
            R.WITHIN_ERROR_BUDGET,
            "within the error budget: burn 0.5 over all 120000 requests",
            id="healthy",
        ),
        pytest.param(
            stopped_burn(), PASS, R.WITHIN_ERROR_BUDGET, "6h/30m burn 12.5/0 vs 6 page", id="stopped-burn"
        ),
        pytest.param(
            spike(), PASS, R.WITHIN_ERROR_BUDGET, "ticket-level burn on 72h/6h: burn 1.67", id="short-spike"
        ),
        pytest.param(
            [c(1, 10)],
            PASS,
            R.WITHIN_ERROR_BUDGET,
            "1h/5m burn 100/100 > 14.4 page, but 10 requests only show 5.12 at 95% confidence",
            id="one-error-in-ten-requests-does-not-page",
        ),
        pytest.param(
            [c(5, 10)], FAIL, R.BURN_RATE_EXCEEDED, "1h/5m burn 500/500 > 14.4 page", id="five-in-ten-do"
        ),
        pytest.param(
            [*steady(0.02, intervals=10), *steady(0, intervals=60, requests=0)],
            PASS,
            R.WITHIN_ERROR_BUDGET,
            "1h/5m burn 20/none vs 14.4 page",
            id="no-traffic-in-the-short-window",
        ),
        pytest.param([], INCONCLUSIVE, R.NO_DATA, "no canary traffic in any rule's window", id="empty"),
        pytest.param([None] * 5, INCONCLUSIVE, R.NO_DATA, "(none at all so far)", id="all-missing"),
        pytest.param(
            steady(0, requests=0), INCONCLUSIVE, R.NO_DATA, "(none at all so far)", id="zero-totals"
        ),
        pytest.param(
            [series.Value(value=0.01)],
            INCONCLUSIVE,
            R.QUERY_ERROR,
            "burnRate needs error and total counts",
            id="value",
        ),
        pytest.param(
            [None, series.Histogram(buckets=((1, 1), (math.inf, 2)))],
            INCONCLUSIVE,
            R.QUERY_ERROR,
            "burnRate needs error and total counts",
            id="histogram",
        ),
        pytest.param(
            [c(1e308, 1e308), c(1e308, 1e308)],
            INCONCLUSIVE,
            R.QUERY_ERROR,
            "beyond floating point range",
            id="overflow",
        ),
    ],
)
def test_verdicts(
    points: list[series.Point | None], verdict: v1alpha1.Verdict, reason: judgement.Reason, words: str
) -> None:
    judged = burn_rate.judge(DEFAULT, measured(points))
    assert (judged.verdict, judged.reason) == (verdict, reason)
    assert words in judged.message
    assert judged.baseline is None


def test_traffic_before_every_window_is_no_data_but_reported() -> None:
    judge = windows(("1h", "5m", 14.4, "page"))
    judged = burn_rate.judge(judge, measured([c(50, 1000), *steady(0, intervals=HOUR, requests=0)]))
    assert (judged.verdict, judged.reason) == (INCONCLUSIVE, R.NO_DATA)
    assert judged.message == "no canary traffic in any rule's window (burn 50 before them)"
    assert judged.canary == pytest.approx(50)


@pytest.mark.parametrize("reason", list(measurement.Unavailable))
def test_an_unavailable_canary_is_inconclusive_with_its_reason(reason: measurement.Unavailable) -> None:
    judged = burn_rate.judge(DEFAULT, measured(steady(0.5), unavailable=reason))
    assert (judged.verdict, judged.reason) == (INCONCLUSIVE, R(reason.value))
    assert judged.message == f"canary unavailable: {reason} (connection refused)"
    assert judged.canary is None


@pytest.mark.parametrize("interval", [0, -30, math.nan, math.inf])
def test_an_interval_that_holds_no_window_is_a_query_error(interval: float) -> None:
    judged = burn_rate.judge(DEFAULT, measured(steady(0.5), interval=interval))
    assert (judged.verdict, judged.reason) == (INCONCLUSIVE, R.QUERY_ERROR)


def test_a_tiny_interval_reads_everything_without_overflowing() -> None:
    judged = burn_rate.judge(DEFAULT, measured(steady(0.02), interval=5e-324))
    assert judged.verdict == FAIL


# --- properties -----------------------------------------------------------------------------------------

PROPERTY = hypothesis.settings(max_examples=50, deadline=None)

any_float = strategies.floats()
totals = strategies.floats(min_value=0, max_value=1e6, allow_nan=False)
fractions = strategies.floats(min_value=0, max_value=1)
counts = strategies.builds(lambda total, share: c(total * share, total), totals, fractions)
huge_counts = strategies.builds(
    lambda total, share: c(total * share, total),
    strategies.floats(min_value=0, max_value=1.7e308, allow_nan=False),
    fractions,
)
values = strategies.builds(series.Value, value=strategies.floats(allow_nan=False, allow_infinity=False))
histograms = strategies.just(series.Histogram(buckets=((0.1, 3), (math.inf, 4))))
points = strategies.none() | counts | huge_counts | values | histograms
durations = strategies.sampled_from(["30s", "5m", "1h", "6h", "72h"])
rules = strategies.lists(
    strategies.tuples(
        durations,
        durations,
        strategies.floats(min_value=1e-3, max_value=1e3),
        strategies.sampled_from(["page", "ticket"]),
    ),
    min_size=1,
    max_size=8,
)
judges = strategies.builds(
    lambda objective, rules: windows(*rules, objective=objective),
    strategies.floats(min_value=1e-6, max_value=1 - 1e-9),
    rules,
)


@PROPERTY
@hypothesis.given(
    judge=judges,
    points=strategies.lists(points, max_size=50),
    interval=any_float,
    unavailable=strategies.none() | strategies.sampled_from(measurement.Unavailable),
)
def test_never_raises_and_always_explains(
    judge: v1alpha1.BurnRateJudge,
    points: list[series.Point | None],
    interval: float,
    unavailable: measurement.Unavailable | None,
) -> None:
    judged = burn_rate.judge(judge, measured(points, interval=interval, unavailable=unavailable))
    assert judged.message
    assert judged.threshold.startswith("objective ")
    if judged.verdict != INCONCLUSIVE:
        assert judged.canary is not None
        assert math.isfinite(judged.canary)


@PROPERTY
@hypothesis.given(
    judge=judges,
    base=strategies.lists(strategies.none() | counts, max_size=40),
    extra=strategies.lists(fractions, min_size=40, max_size=40),
)
def test_more_errors_never_give_a_better_verdict(
    judge: v1alpha1.BurnRateJudge, base: list[series.Counts | None], extra: list[float]
) -> None:
    worse = [
        point if point is None else c(min(point.total, point.errors + point.total * more), point.total)
        for point, more in zip(base, extra, strict=False)
    ]
    before = burn_rate.judge(judge, measured(base))
    after = burn_rate.judge(judge, measured(worse))
    assert RANK[after.verdict] >= RANK[before.verdict]
    for earlier, later in zip(
        burn_rate.burn_rates(judge, measured(base)), burn_rate.burn_rates(judge, measured(worse)), strict=True
    ):
        assert later.fired >= earlier.fired


@PROPERTY
@hypothesis.given(
    errors=strategies.integers(min_value=0, max_value=1),
    requests=strategies.integers(min_value=10, max_value=1000),
    intervals=strategies.integers(min_value=1, max_value=HOUR),
)
def test_one_error_among_ten_requests_or_more_never_pages(errors: int, requests: int, intervals: int) -> None:
    quiet = [c(0, 0)] * (intervals - 1)
    judged = burn_rate.judge(DEFAULT, measured([c(errors, requests), *quiet]))
    assert judged.verdict == PASS
