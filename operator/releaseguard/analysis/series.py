"""A metric as a series of equal intervals, for the judges that weigh accumulating evidence.

A threshold judge reads one value. The statistical judges (compare, burnRate, anomaly) read what happened in
every interval since the analysis began: the counts behind a ratio, the histogram behind a latency, the
readings of a gauge. They are recomputed from this series at every look, so the judgement is a pure
function of data Prometheus keeps: an operator restart loses nothing.

Interval `i` of the canary and interval `i` of the baseline cover the same stretch of time (or, during the
bake, the same position before the promotion). A missing interval (no series, a scrape gap) is None.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from releaseguard.analysis import measurement


@dataclasses.dataclass(frozen=True, kw_only=True)
class Counts:
    """A ratio metric's interval: bad events among all events."""

    errors: float
    total: float

    def __post_init__(self) -> None:
        if not (0 <= self.errors <= self.total and math.isfinite(self.total)):
            raise ValueError(f"counts must satisfy 0 ≤ errors ≤ total < ∞, not {self.errors}/{self.total}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Histogram:
    """A latency metric's interval: cumulative bucket counts, as Prometheus' `le` buckets are.

    `buckets` is sorted by upper bound, ends with +Inf, and its counts never decrease: the count at bound
    `le` is the number of requests that took at most `le` seconds; the last one is the total.

    `bounds` and `counts` are the same numbers as read-only arrays, made once here: the compare judge
    stacks every interval's histogram at every look, and converting the tuples each time was the largest
    part of its cost. Histograms of one layout share one `bounds` array, so telling that every interval has
    the same layout takes an identity check per interval.
    """

    buckets: tuple[tuple[float, float], ...]
    bounds: npt.NDArray[np.float64] = dataclasses.field(init=False, repr=False, compare=False)
    counts: npt.NDArray[np.float64] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.buckets or self.buckets[-1][0] != math.inf:
            raise ValueError("a histogram needs a +Inf bucket")
        # Checked with map over whole tuples, not a generator per bucket: this runs for every interval
        # Prometheus returns, and converting to arrays below must not make building a histogram dearer.
        bounds, counts = zip(*self.buckets, strict=True)
        if any(map(operator.le, bounds[1:], bounds)):
            raise ValueError("histogram bucket bounds must increase")
        if not all(map(math.isfinite, counts)) or min(counts) < 0:
            raise ValueError("histogram bucket counts must be finite and not negative")
        if any(map(operator.lt, counts[1:], counts)):
            raise ValueError("histogram bucket counts must not decrease (buckets are cumulative)")
        values = np.array(counts, dtype=np.float64)
        values.setflags(write=False)
        # A frozen dataclass sets what it derives from its fields through object.__setattr__.
        object.__setattr__(self, "bounds", _layout(bounds))
        object.__setattr__(self, "counts", values)

    @property
    def total(self) -> float:
        return self.buckets[-1][1]


_LAYOUTS: dict[tuple[float, ...], npt.NDArray[np.float64]] = {}
MAX_LAYOUTS = 256
"""Bucket layouts remembered; a metric has one or two, and past this many, new ones are not shared."""


def _layout(bounds: tuple[float, ...]) -> npt.NDArray[np.float64]:
    """The one read-only array of these bounds."""
    shared = _LAYOUTS.get(bounds)
    if shared is None:
        shared = np.array(bounds, dtype=np.float64)
        shared.setflags(write=False)
        if len(_LAYOUTS) < MAX_LAYOUTS:
            _LAYOUTS[bounds] = shared
    return shared


@dataclasses.dataclass(frozen=True, kw_only=True)
class Value:
    """A gauge's interval, or a latency given as one number: one reading."""

    value: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"a reading must be a finite number, not {self.value}")


Point = Counts | Histogram | Value


@dataclasses.dataclass(frozen=True, kw_only=True)
class Side:
    """One group of pods over the intervals of the analysis, oldest first."""

    points: tuple[Point | None, ...] = ()
    unavailable: measurement.Unavailable | None = None
    """Why there is no series at all (the source failed); a judge then answers Inconclusive."""
    detail: str = ""
    """The provider's words about a failure, or the rendered queries, for the evidence."""

    def upto(self, count: int) -> Side:
        """The first `count` intervals: what the judge saw at that look."""
        return dataclasses.replace(self, points=self.points[:count])


@dataclasses.dataclass(frozen=True, kw_only=True)
class SeriesMeasurement:
    """What the statistical judges read for one metric.

    For compare, `canary` and `baseline` are aligned interval by interval. For anomaly, `baseline` is the
    metric's history before the release (any length) and `seasonal` holds the same stretch of time as
    `canary` one season ago (a day, a week), aligned with it. burnRate reads the canary alone.
    """

    name: str
    interval_seconds: float
    canary: Side
    baseline: Side
    seasonal: tuple[Side, ...] = ()
    quantile: float | None = None
    """For a latency metric over histograms, the quantile the user cares about (the median is judged too)."""


def quantile(histogram: Histogram, q: float) -> float | None:
    """The `q` quantile of a histogram, as PromQL's histogram_quantile computes it.

    Linear interpolation inside the bucket the rank falls in, the first bucket starting at 0 (or at its
    bound, if negative); a rank in the +Inf bucket gives the highest finite bound. None for an empty
    histogram, or one with no finite bound.
    """
    return bucket_quantile(histogram.buckets, q)


def bucket_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """`quantile` of (bound, cumulative count) pairs that already hold a Histogram's invariants, for a
    judge that sums histograms at every look and would otherwise check them again."""
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile is between 0 and 1, not {q}")
    total = buckets[-1][1]
    if total <= 0 or len(buckets) < 2:
        return None
    rank = q * total
    lower_bound, lower_count = min(0.0, buckets[0][0]), 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return buckets[-2][0]
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return buckets[-2][0]


def slower(points: Sequence[Point | None], *, limit: float) -> tuple[float, float] | None:
    """Requests slower than `limit` and all requests, over the histograms among `points` that share the
    first one's layout; None without such histograms. Counted by linear interpolation inside the limit's
    bucket, as histogram_quantile reads quantiles; past the last finite bound nothing is known to be
    slower."""
    histograms = [point for point in points if isinstance(point, Histogram)]
    if not histograms or not math.isfinite(limit):
        return None
    layout = histograms[0].bounds
    same = [histogram.counts for histogram in histograms if histogram.bounds is layout]
    counts = np.sum(same, axis=0)
    bounds, finite = layout[:-1], counts[:-1]
    if not bounds.size or limit > bounds[-1]:
        return 0.0, float(counts[-1])
    if bounds[0] > 0:
        bounds, finite = np.append(0.0, bounds), np.append(0.0, finite)
    at_most = float(np.interp(limit, bounds, finite, left=0.0))
    return float(counts[-1]) - at_most, float(counts[-1])


def value(point: Point, *, q: float) -> float | None:
    """One interval as one number: the error ratio (None without traffic), the histogram's `q` quantile,
    or the reading."""
    match point:
        case Counts(errors=errors, total=total):
            return errors / total if total > 0 else None
        case Histogram():
            return quantile(point, q)
        case Value(value=reading):
            return reading
