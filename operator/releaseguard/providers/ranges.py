"""Range-query results (Prometheus matrices) turned into the interval series the statistical judges read.

Pure functions over the decoded JSON, so every odd shape Prometheus can return is pinned by a unit test
with canned data. A query renders `{{ window }}` as one interval and is evaluated at the end of every
interval, so each sample is what happened in its interval alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from releaseguard.analysis import series
from releaseguard.providers import base


def stamps(*, end: float, step: float, count: int) -> tuple[float, ...]:
    """The end of each interval, oldest first; the last is `end`."""
    return tuple(end - step * (count - 1 - index) for index in range(count))


def counts(*, errors: list[Any], total: list[Any], at: Sequence[float]) -> tuple[series.Counts | None, ...]:
    """errors/total per interval. No total is a missing interval; no errors with a total is none failed.

    `increase()` extrapolates, so errors can come out a hair above total: they are capped at total.
    """
    totals = _one_series(total, at=at, what="the total query")
    failures = _one_series(errors, at=at, what="the errors query")
    points: list[series.Counts | None] = []
    for all_events, bad in zip(totals, failures, strict=True):
        if all_events is None or all_events < 0:
            points.append(None)
            continue
        points.append(series.Counts(errors=min(max(bad or 0.0, 0.0), all_events), total=all_events))
    return tuple(points)


def values(result: list[Any], *, at: Sequence[float]) -> tuple[series.Value | None, ...]:
    """One reading per interval."""
    return tuple(
        None if value is None else series.Value(value=value)
        for value in _one_series(result, at=at, what="the query")
    )


def histograms(result: list[Any], *, at: Sequence[float]) -> tuple[series.Histogram | None, ...]:
    """Bucket counts per interval from a query summed `by (le)`; an interval without +Inf is missing.

    Extrapolation can leave a bucket a hair below the one before it; counts are made cumulative again
    with a running maximum rather than refused.
    """
    by_bound: dict[float, list[float | None]] = {}
    for item in _matrix(result, what="the latency query"):
        le = item.get("metric", {}).get("le")
        if le is None:
            raise base.QueryError(
                "the latency query must return histogram buckets with their le label, e.g. "
                "sum by (le) (increase(http_request_duration_seconds_bucket{...}[{{ window }}]))"
            )
        try:
            bound = float(le)
        except ValueError:
            raise base.QueryError(f"the latency query returned a bucket with le={le!r}") from None
        by_bound[bound] = _samples(item, at=at, what="the latency query")
    bounds = sorted(by_bound)
    points: list[series.Histogram | None] = []
    for index in range(len(at)):
        column = [(bound, by_bound[bound][index]) for bound in bounds]
        if not column or column[-1][0] != math.inf or column[-1][1] is None:
            points.append(None)
            continue
        cumulative, highest = [], 0.0
        for bound, count in column:
            highest = max(highest, count or 0.0)
            cumulative.append((bound, highest))
        points.append(series.Histogram(buckets=tuple(cumulative)))
    return tuple(points)


def _one_series(result: list[Any], *, at: Sequence[float], what: str) -> list[float | None]:
    matrix = _matrix(result, what=what)
    if not matrix:
        return [None] * len(at)
    if len(matrix) > 1:
        raise base.QueryError(
            f"{what} must return one series, got {len(matrix)}; aggregate with sum(...), max(...) or similar"
        )
    return _samples(matrix[0], at=at, what=what)


def _matrix(result: list[Any], *, what: str) -> list[dict[str, Any]]:
    if not all(isinstance(item, dict) and isinstance(item.get("values"), list) for item in result):
        raise base.QueryError(f"{what} returned a result of unknown shape for a range query")
    return result


def _samples(item: dict[str, Any], *, at: Sequence[float], what: str) -> list[float | None]:
    """The series' value at each stamp; a missing or NaN sample is None."""
    index_of = {round(stamp): index for index, stamp in enumerate(at)}
    samples: list[float | None] = [None] * len(at)
    for pair in item["values"]:
        try:
            stamp, text = pair
            value = float(text)
            index = index_of.get(round(float(stamp)))
        except (TypeError, ValueError):
            raise base.QueryError(f"{what} returned a sample {pair!r} that is not [time, number]") from None
        if index is not None and not math.isnan(value):
            samples[index] = value if math.isfinite(value) else None
    return samples
