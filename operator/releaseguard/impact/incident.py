"""The incident record of a failed release: severity, one-line summary, impact, suspected cause, timeline.

A person paged at night reads the first line and decides whether to get up; the rest tells them where to
look. So the summary leads with the severity and the numbers (what failed, how many requests were hurt,
what the operator is doing about it), and the suspected cause lists facts, not guesses: what the new
revision changed, then which segments of the traffic carry the excess. Everything here is assembled from
values computed elsewhere (`assessment`, `severity`, `segments`, the revision diff), so it stays a pure
function that tests can feed literal numbers.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from releaseguard.impact import assessment, segments, severity
from releaseguard.models import v1alpha1

MAX_SEGMENTS = 10
SEGMENTS_PER_BREAKDOWN = 3
MAX_CAUSES = 20
MAX_TEXT = 512
MOVED = 0.1
"""A passing metric that moved at least this much (relative to the baseline) is worth naming."""
MAX_MOVED = 3


def open_incident(
    *,
    release: str,
    stage: v1alpha1.Stage,
    revision: str,
    action: str,
    impact: assessment.Impact,
    assessed: severity.Assessed,
    failing: Sequence[v1alpha1.Result],
    breakdowns: Sequence[tuple[str, segments.Breakdown]],
    changes: Sequence[str],
    pods: Sequence[str] = (),
    timeline: Sequence[v1alpha1.TimelineEntry],
    now: datetime.datetime,
) -> v1alpha1.Incident:
    """The incident of `release` (namespace/name), failing with `failing` results; `action` is what the
    operator does about it, e.g. "rolling back", `breakdowns` pairs each split metric with its split, and
    `pods` states what went wrong with the new revision's pods (restarts, failed probes)."""
    contributions = [
        (metric, breakdown.label, contribution)
        for metric, breakdown in breakdowns
        for contribution in breakdown.segments[:SEGMENTS_PER_BREAKDOWN]
        if contribution.excess > 0
    ]
    contributions.sort(key=lambda item: -item[2].share)
    causes = [
        *changes,
        *pods,
        *(_segment_cause(metric, label, item) for metric, label, item in contributions),
        *(_business_cause(metric) for metric in impact.business if (metric.change or 0) > 0),
        *(_moved_cause(metric) for metric in moved(impact.metrics)),
    ]
    return v1alpha1.Incident(
        severity=assessed.severity,
        severity_reason=_cut(assessed.because),
        summary=_cut(
            summary(
                release=release, severity=assessed.severity, failing=failing, impact=impact, action=action
            )
        ),
        revision=revision,
        stage=stage,
        opened_at=now,
        impact=v1alpha1.IncidentImpact(
            traffic_share=impact.traffic_share,
            affected_share=impact.affected_share,
            affected_requests=impact.affected_requests,
            business_drop=impact.business_drop,
        ),
        suspected_cause=tuple(_cut(cause) for cause in causes[:MAX_CAUSES]),
        segments=tuple(
            v1alpha1.SegmentContribution(
                label=label,
                value=_cut(item.segment, 256),
                metric=metric,
                excess=item.excess,
                share=item.share,
                canary_ratio=item.canary_ratio,
                baseline_ratio=item.baseline_ratio,
            )
            for metric, label, item in contributions[:MAX_SEGMENTS]
        ),
        timeline=tuple(timeline)[-20:],
    )


def summary(
    *,
    release: str,
    severity: v1alpha1.Severity,
    failing: Sequence[v1alpha1.Result],
    impact: assessment.Impact,
    action: str,
) -> str:
    """One line, e.g. "SEV2 shop/checkout: error-rate 0.402 vs baseline 0.0101; 1.3% of requests hurt
    (412 so far); rolling back"."""
    if failing:
        first = failing[0]
        what = f"{first.name} {_number(first.canary)}"
        if first.baseline is not None:
            what += f" vs baseline {_number(first.baseline)}"
        if len(failing) > 1:
            what += f" (+{len(failing) - 1} more failing)"
    else:
        what = "analysis failed to conclude"
    hurt = f"{_percent(impact.affected_share)} of requests hurt ({impact.affected_requests:.0f} so far)"
    return f"{severity.value} {release}: {what}; {hurt}; {action}"


def moved(metrics: Sequence[assessment.MetricImpact]) -> list[assessment.MetricImpact]:
    """The metrics that did not fail but moved by at least MOVED on the canary, the largest move first:
    the release's other effects, which a failing metric's cause often shows in."""
    changed = [metric for metric in metrics if not metric.failed and abs(metric.change or 0.0) >= MOVED]
    return sorted(changed, key=lambda metric: -abs(metric.change or 0.0))[:MAX_MOVED]


def _moved_cause(metric: assessment.MetricImpact) -> str:
    change = metric.change or 0.0
    word = "worse" if change > 0 else "better"
    return (
        f"{metric.name} {_percent(abs(change))} {word} on the canary ({_number(metric.canary)} vs "
        f"{_number(metric.baseline)}) without failing"
    )


def _segment_cause(metric: str, label: str, contribution: segments.Contribution) -> str:
    return (
        f"{label}={contribution.segment} carries {_percent(contribution.share)} of {metric}'s excess: "
        f"{contribution.canary_events:.0f} bad of {contribution.canary_total:.0f} on the canary where "
        f"{contribution.expected:.1f} were expected"
    )


def _business_cause(metric: assessment.MetricImpact) -> str:
    lost = "" if metric.affected_requests is None else f", {metric.affected_requests:.0f} events lost"
    return f"business metric {metric.name} {_percent(metric.change or 0.0)} worse than on the baseline{lost}"


def _number(value: float | None) -> str:
    return "no value" if value is None else f"{value:.3g}"


def _percent(share: float) -> str:
    return f"{share * 100:.2g}%" if share < 0.1 else f"{share * 100:.0f}%"


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
