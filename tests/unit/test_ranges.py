"""Range-query matrices into interval series: every shape Prometheus can answer with."""

from __future__ import annotations

import math
from typing import Any

import pytest

from releaseguard.analysis import series
from releaseguard.providers import base, ranges

AT = ranges.stamps(end=1_000_030, step=10, count=4)


def matrix(*samples: tuple[float, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metric": labels or {}, "values": [[stamp, value] for stamp, value in samples]}


def test_stamps_end_at_the_end_one_step_apart() -> None:
    assert AT == (1_000_000, 1_000_010, 1_000_020, 1_000_030)
    assert ranges.stamps(end=5, step=10, count=1) == (5,)


def test_counts_pair_errors_with_totals_interval_by_interval() -> None:
    total = [matrix((1_000_000, "100"), (1_000_010, "0"), (1_000_030, "50"))]
    errors = [matrix((1_000_000, "3"), (1_000_030, "50.4"))]
    assert ranges.counts(errors=errors, total=total, at=AT) == (
        series.Counts(errors=3, total=100),
        series.Counts(errors=0, total=0),  # traffic stopped: no errors, not a missing interval
        None,  # no total at all: missing
        series.Counts(errors=50, total=50),  # extrapolation put errors a hair above total
    )


def test_no_errors_series_means_no_errors() -> None:
    total = [matrix((1_000_000, "10"))]
    assert ranges.counts(errors=[], total=total, at=AT)[0] == series.Counts(errors=0, total=10)


def test_nan_and_samples_between_the_stamps_are_missing() -> None:
    result = [matrix((1_000_000, "NaN"), (1_000_005, "7"), (1_000_010, "+Inf"), (1_000_020, "2.5"))]
    assert ranges.values(result, at=AT) == (None, None, series.Value(value=2.5), None)


def test_histograms_gather_buckets_by_le_and_stay_cumulative() -> None:
    result = [
        matrix((1_000_000, "4"), (1_000_010, "1"), labels={"le": "0.1"}),
        matrix((1_000_000, "9"), (1_000_010, "0.9"), labels={"le": "0.5"}),
        matrix((1_000_000, "10"), labels={"le": "+Inf"}),
    ]
    points = ranges.histograms(result, at=AT)
    assert points[0] == series.Histogram(buckets=((0.1, 4), (0.5, 9), (math.inf, 10)))
    assert points[1] is None  # no +Inf bucket in that interval
    assert points[2:] == (None, None)


def test_a_histogram_bucket_below_the_previous_one_is_lifted() -> None:
    result = [
        matrix((1_000_000, "5"), labels={"le": "0.1"}),
        matrix((1_000_000, "4.9"), labels={"le": "+Inf"}),
    ]
    assert ranges.histograms(result, at=AT)[0] == series.Histogram(buckets=((0.1, 5), (math.inf, 5)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ranges.values([matrix(), matrix()], at=AT), "must return one series, got 2"),
        (lambda: ranges.values([{"metric": {}, "value": [1, "2"]}], at=AT), "unknown shape"),
        (lambda: ranges.values([matrix((1_000_000, "x"))], at=AT), "not [time, number]"),
        (lambda: ranges.histograms([matrix((1_000_000, "1"))], at=AT), "le label"),
        (lambda: ranges.histograms([matrix(labels={"le": "fast"})], at=AT), "le='fast'"),
    ],
)
def test_a_result_of_the_wrong_shape_is_a_query_error(call: Any, message: str) -> None:
    with pytest.raises(base.QueryError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()
