"""A metric's intervals: what a histogram accepts, and the arrays it holds for the judges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from releaseguard.analysis import series


def test_a_histogram_holds_its_buckets_as_read_only_arrays() -> None:
    histogram = series.Histogram(buckets=((0.1, 4), (1, 9), (math.inf, 10)))
    assert histogram.bounds.tolist() == [0.1, 1.0, math.inf]
    assert histogram.counts.tolist() == [4.0, 9.0, 10.0]
    assert histogram.bounds.dtype == histogram.counts.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        histogram.counts[0] = 0.0


def test_histograms_are_equal_by_their_buckets() -> None:
    buckets = ((0.1, 4.0), (math.inf, 10.0))
    assert series.Histogram(buckets=buckets) == series.Histogram(buckets=buckets)
    assert hash(series.Histogram(buckets=buckets)) == hash(series.Histogram(buckets=buckets))
    assert series.Histogram(buckets=buckets) != series.Histogram(buckets=((0.1, 5.0), (math.inf, 10.0)))
    assert repr(series.Histogram(buckets=buckets)) == f"Histogram(buckets={buckets!r})"


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ((), "needs a +Inf bucket"),
        (((0.1, 1.0),), "needs a +Inf bucket"),
        (((0.1, 1.0), (0.1, 2.0), (math.inf, 3.0)), "bounds must increase"),
        (((1.0, 1.0), (0.1, 2.0), (math.inf, 3.0)), "bounds must increase"),
        (((0.1, -1.0), (math.inf, 3.0)), "finite and not negative"),
        (((0.1, math.nan), (math.inf, 3.0)), "finite and not negative"),
        (((0.1, 1.0), (math.inf, math.inf)), "finite and not negative"),
        (((0.1, 4.0), (math.inf, 3.0)), "must not decrease"),
    ],
)
def test_malformed_histograms_are_refused(buckets: tuple[tuple[float, float], ...], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        series.Histogram(buckets=buckets)


def test_slower_counts_requests_past_a_limit_over_the_intervals() -> None:
    one = series.Histogram(buckets=((0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)))
    points: list[series.Point | None] = [one, None, one]
    # Halfway through the (0.1, 0.5] bucket: 70 of each interval's 100 took at most 0.3 s.
    assert series.slower(points, limit=0.3) == pytest.approx((60.0, 200.0))
    assert series.slower(points, limit=0.05) == pytest.approx((150.0, 200.0))  # the first bucket starts at 0
    assert series.slower(points, limit=5.0) == (0.0, 200.0)  # past the last finite bound, nothing is known
    assert series.slower([None], limit=0.3) is None
    assert series.slower(points, limit=math.nan) is None
