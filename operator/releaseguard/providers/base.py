"""What every metric source offers, and the few ways a measurement can fail.

The Protocol is three methods wide (one value, a series, a split by segment) so that a test double is a few
lines and a new source is one module. Failures a source expects (no data, an unreachable server, a refused
query) are raised inside it as the errors below and leave it as values: `side_from_error` is the one place
that turns them into `measurement.Unavailable`, which judges read as Inconclusive, never as Pass. Anything
else is a bug and is allowed to raise.
"""

from __future__ import annotations

import datetime
from typing import ClassVar, Protocol

from releaseguard.analysis import measurement, series
from releaseguard.impact import segments
from releaseguard.models import v1alpha1
from releaseguard.providers import selector


class MetricProvider(Protocol):
    async def measure(
        self,
        metric: v1alpha1.Metric,
        *,
        canary: selector.Selector,
        baseline: selector.Selector,
        window: datetime.timedelta,
        baseline_at: datetime.datetime | None = None,
    ) -> measurement.Measurement:
        """The metric for the canary and the baseline pods over the `window` that ends now.

        With `baseline_at`, the baseline's window ends then instead: after promotion the stable pods are gone,
        so the new revision is compared with what they measured before it.
        """
        ...

    async def measure_series(
        self,
        metric: v1alpha1.Metric,
        *,
        pods: selector.Selector,
        end: datetime.datetime,
        step: datetime.timedelta,
        count: int,
    ) -> series.Side:
        """The metric for `pods` over `count` intervals of `step`, the last one ending at `end`.

        A query is evaluated once per interval with `{{ window }}` set to the interval, so each point is
        what happened in that interval: counts for a ratio, buckets for a latency quantile, else a reading.
        """
        ...

    async def measure_segments(
        self,
        metric: v1alpha1.RatioMetric,
        *,
        label: str,
        canary: selector.Selector,
        baseline: selector.Selector,
        window: datetime.timedelta,
        baseline_at: datetime.datetime | None = None,
    ) -> tuple[segments.SegmentCounts, ...] | ProviderError:
        """The ratio metric's events and totals over `window` per value of `label`, for both groups.

        The metric's queries split by `label` through `{{ segment }}`; with `baseline_at`, as in `measure`.
        """
        ...


class ProviderError(Exception):
    """A failure a metric source expects; only its subclasses are raised."""

    reason: ClassVar[measurement.Unavailable]


class NoDataError(ProviderError):
    """The query ran and found nothing to measure: no series, no traffic in the window, NaN."""

    reason = measurement.Unavailable.NO_DATA


class ProviderUnavailable(ProviderError):
    """The source could not be reached, timed out, or answered with a server error."""

    reason = measurement.Unavailable.PROVIDER_UNAVAILABLE


class QueryError(ProviderError):
    """The source refused the query, or its result has a shape the metric cannot use."""

    reason = measurement.Unavailable.QUERY_ERROR


def side_from_error(error: ProviderError, *, queries: str) -> measurement.Side:
    """The side a failure leaves: its reason, and the source's words followed by the queries it concerns."""
    return measurement.Side(unavailable=error.reason, detail=f"{error}\n{queries}" if queries else str(error))


def series_side_from_error(error: ProviderError, *, queries: str) -> series.Side:
    """`side_from_error` for a series."""
    return series.Side(unavailable=error.reason, detail=f"{error}\n{queries}" if queries else str(error))
