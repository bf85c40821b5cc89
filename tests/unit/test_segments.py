"""Contribution analysis: which segments explain a canary's excess of bad events, and by how much."""

from __future__ import annotations

import math

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.impact import segments


def seg(name: str, canary: tuple[float, float], baseline: tuple[float, float]) -> segments.SegmentCounts:
    return segments.SegmentCounts(
        segment=name,
        canary_events=canary[0],
        canary_total=canary[1],
        baseline_events=baseline[0],
        baseline_total=baseline[1],
    )


def test_the_broken_route_explains_the_excess() -> None:
    # Checkout fails on 40% of the canary's calls against 1% on the baseline; the rest is healthy.
    result = segments.breakdown(
        label="route",
        counts=[
            seg("/", (10, 1000), (90, 9000)),
            seg("/api/checkout", (40, 100), (9, 900)),
            seg("/api/cart", (5, 500), (45, 4500)),
        ],
    )
    assert result.main is not None
    assert result.main.segment == "/api/checkout"
    assert result.main.expected == pytest.approx(1.0)
    assert result.main.excess == pytest.approx(39.0)
    assert result.main.share == pytest.approx(1.0)
    assert result.main.canary_ratio == pytest.approx(0.4)
    assert result.main.baseline_ratio == pytest.approx(0.01)
    assert [contribution.segment for contribution in result.segments] == ["/api/checkout", "/", "/api/cart"]
    assert result.rate == pytest.approx(39.0)


def test_a_canary_serving_more_of_a_failing_segment_is_mix_not_rate() -> None:
    # Both sides fail 10% in eu and 0% in us; the canary happens to serve mostly eu.
    result = segments.breakdown(
        label="region",
        counts=[seg("eu", (80, 800), (100, 1000)), seg("us", (0, 200), (0, 1000))],
    )
    assert result.excess == pytest.approx(80 - 1000 * 0.05)
    assert result.rate == pytest.approx(0.0)
    assert result.mix == pytest.approx(30.0)
    assert result.main is None


def test_lower_is_worse_counts_good_events_missing() -> None:
    result = segments.breakdown(
        label="tier",
        counts=[seg("gold", (50, 100), (95, 100)), seg("free", (90, 100), (90, 100))],
        higher_is_worse=False,
    )
    assert result.main is not None
    assert result.main.segment == "gold"
    assert result.main.excess == pytest.approx(45.0)


def test_a_segment_the_baseline_did_not_serve_is_held_to_its_overall_ratio() -> None:
    result = segments.breakdown(
        label="route",
        counts=[seg("/new", (30, 100), (0, 0)), seg("/", (10, 1000), (100, 10000))],
    )
    assert result.main is not None
    assert result.main.segment == "/new"
    assert not result.main.baseline_served
    assert result.main.baseline_ratio is None
    assert result.main.expected == pytest.approx(1.0)


@pytest.mark.parametrize(
    "broken",
    [
        seg("nan", (math.nan, 10), (1, 10)),
        seg("negative", (-1, 10), (1, 10)),
        seg("more-errors-than-requests", (11, 10), (1, 10)),
        seg("infinite", (1, math.inf), (1, 10)),
    ],
    ids=lambda segment: segment.segment,
)
def test_inconsistent_segments_are_left_out(broken: segments.SegmentCounts) -> None:
    result = segments.breakdown(label="route", counts=[broken, seg("/", (5, 100), (1, 100))])
    assert [contribution.segment for contribution in result.segments] == ["/"]


def test_nothing_to_compare_with_is_no_excess() -> None:
    for counts in ([], [seg("/", (5, 100), (0, 0))]):
        result = segments.breakdown(label="route", counts=counts)
        assert result.excess == 0
        assert result.segments == ()
        assert result.main is None


counts_strategy = strategies.lists(
    strategies.tuples(
        strategies.integers(0, 1000),
        strategies.integers(0, 1000),
        strategies.integers(0, 1000),
        strategies.integers(0, 1000),
    ).map(lambda row: (min(row[0], row[1]), row[1], min(row[2], row[3]), row[3])),
    min_size=1,
    max_size=6,
)


def _segments(rows: list[tuple[int, int, int, int]]) -> list[segments.SegmentCounts]:
    return [seg(f"s{index}", (row[0], row[1]), (row[2], row[3])) for index, row in enumerate(rows)]


@hypothesis.given(rows=counts_strategy, higher=strategies.booleans())
def test_rate_and_mix_add_up_to_the_excess_and_shares_to_one(
    rows: list[tuple[int, int, int, int]], higher: bool
) -> None:
    result = segments.breakdown(label="l", counts=_segments(rows), higher_is_worse=higher)
    assert result.rate + result.mix == pytest.approx(result.excess, abs=1e-6)
    shares = sum(contribution.share for contribution in result.segments)
    assert shares == pytest.approx(1.0) or shares == 0
    excesses = [contribution.excess for contribution in result.segments]
    assert excesses == sorted(excesses, reverse=True)


@hypothesis.given(rows=counts_strategy, extra=strategies.integers(1, 100))
def test_more_canary_errors_in_a_segment_never_lower_its_excess(
    rows: list[tuple[int, int, int, int]], extra: int
) -> None:
    before = segments.breakdown(label="l", counts=_segments(rows))
    worse_rows = [(min(rows[0][0] + extra, rows[0][1]), *rows[0][1:]), *rows[1:]]
    after = segments.breakdown(label="l", counts=_segments(worse_rows))
    excess = {contribution.segment: contribution.excess for contribution in before.segments}
    for contribution in after.segments:
        if contribution.segment == "s0":
            assert contribution.excess >= excess["s0"]
    assert after.excess >= before.excess
