"""How many customers a bad release hurt, and how badly: the numbers every decision carries.

"The canary's error ratio is 3.1% against 0.4%" says what is wrong; it does not say whether to wake anyone.
That depends on how much traffic the canary serves and for how long. Every metric with counts is read the
same way: of the canary's `total` requests, `bad` ones were bad (errors; for a latency, requests slower than
the baseline's quantile), where the baseline's behaviour predicts a share `expected_share` of them (its
error ratio; 1 - q for its q-quantile). The excess, bad - expected_share·total, is the number of requests
the release hurt so far; over `total` it is the share of the canary's requests hurt, and times the
canary's share of the service's traffic, the share of all customers' requests hurt right now.

Several metrics usually fail together on the same requests (errors are also fast, or slow), so the
release's impact is the largest of its metrics', not their sum. Gauges have no requests to count: they get
their relative change and no share.

Business metrics (orders, checkout success) are read the same way and reported apart: their drop, relative
to the baseline, and the events lost (orders not placed), which is what a business owner asks first.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True, kw_only=True)
class Evidence:
    """One metric's canary and baseline over the analysis, in numbers an impact can be computed from."""

    name: str
    failed: bool
    """Whether the metric's judge failed the canary: only failing metrics make up the release's impact."""
    higher_is_worse: bool = True
    canary: float | None = None
    """The metric's value on the canary, as the judge read it."""
    baseline: float | None = None
    bad: float | None = None
    """The canary's bad events (errors; requests slower than the baseline's quantile); None for a gauge."""
    total: float | None = None
    """The canary's requests over the analysis."""
    expected_share: float | None = None
    """The share of `total` the baseline's behaviour predicts to be bad."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class MetricImpact:
    name: str
    failed: bool
    canary: float | None
    baseline: float | None
    change: float | None
    """(canary - baseline) / |baseline| in the bad direction: 0.5 is 50% worse; None without a baseline."""
    affected_requests: float | None
    """Canary requests hurt beyond what the baseline predicts; for a business metric, the events lost."""
    affected_share: float | None
    """affected_requests over the canary's requests."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Impact:
    traffic_share: float
    """The canary's share of the service's traffic (1 once promoted)."""
    affected_share: float
    """The share of all the service's requests the release hurts: the worst failing metric's share of the
    canary's requests, times traffic_share."""
    affected_requests: float
    """Requests hurt so far: the worst failing metric's count."""
    business_drop: float | None
    """The largest relative drop of a business metric, 0.1 for 10% worse; None without business metrics
    or when none could be compared."""
    metrics: tuple[MetricImpact, ...]
    business: tuple[MetricImpact, ...]


def assess(*, evidence: Sequence[Evidence], business: Sequence[Evidence], traffic_share: float) -> Impact:
    """The release's impact from its metrics' evidence; `traffic_share` is clipped to [0, 1]."""
    share = min(max(traffic_share, 0.0), 1.0) if math.isfinite(traffic_share) else 0.0
    metrics = tuple(metric_impact(item) for item in evidence)
    failing = [metric for metric in metrics if metric.failed]
    business_metrics = tuple(metric_impact(item) for item in business)
    drops = [max(metric.change, 0.0) for metric in business_metrics if metric.change is not None]
    return Impact(
        traffic_share=share,
        affected_share=share * max((metric.affected_share or 0.0 for metric in failing), default=0.0),
        affected_requests=max((metric.affected_requests or 0.0 for metric in failing), default=0.0),
        business_drop=max(drops, default=None),
        metrics=metrics,
        business=business_metrics,
    )


def metric_impact(evidence: Evidence) -> MetricImpact:
    affected = _affected(evidence)
    total = evidence.total
    return MetricImpact(
        name=evidence.name,
        failed=evidence.failed,
        canary=evidence.canary,
        baseline=evidence.baseline,
        change=_change(evidence),
        affected_requests=affected,
        affected_share=affected / total if affected is not None and total else None,
    )


def _affected(evidence: Evidence) -> float | None:
    bad, total, expected_share = evidence.bad, evidence.total, evidence.expected_share
    if bad is None or total is None or expected_share is None:
        return None
    if not all(math.isfinite(value) for value in (bad, total, expected_share)) or total <= 0:
        return None
    excess = bad - expected_share * total
    return max(excess if evidence.higher_is_worse else -excess, 0.0)


def _change(evidence: Evidence) -> float | None:
    canary, baseline = evidence.canary, evidence.baseline
    if canary is None or baseline is None or baseline == 0:
        return None
    if not (math.isfinite(canary) and math.isfinite(baseline)):
        return None
    change = (canary - baseline) / abs(baseline)
    return change if evidence.higher_is_worse else -change
