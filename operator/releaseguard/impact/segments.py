"""Which segments of the traffic (routes, regions, customer tiers) explain a canary's excess of bad events.

A canary that fails more than the baseline does so somewhere: one route, one region. Finding where by hand
means splitting every dashboard by every label. With the ratio metric's counts split by a label (PromQL
`sum by (route)`) on both sides, the canary's excess over what the baseline's ratio predicts divides
exactly between the segments, so each segment's part is a number, not a guess.

The canary served n_c requests with e_c bad ones; at the baseline's overall ratio r_b it would have had
n_c·r_b. Split by segment s, with the baseline's own ratio r_b(s) in each:

    e_c - n_c·r_b  =  Σ_s (e_c(s) - n_c(s)·r_b(s))  +  (Σ_s n_c(s)·r_b(s) - n_c·r_b)
                      ─────────── rate ───────────     ───────────── mix ─────────────

The rate term is the release's doing: in segment s the canary fails more than the baseline does on the same
kind of traffic. The mix term is the traffic's: the canary happened to serve more of the segments that fail
anyway (a canary pod in a region with a flaky dependency), which no rollback fixes. Each segment's
contribution is its rate term; segments are ranked by it, and its share is its part of the segments'
positive excess. A segment the baseline did not serve has no ratio of its own; it is held to the baseline's
overall ratio, which keeps the identity exact and says so (`baseline_served` False).

For a metric where lower is worse (a success ratio) the bad direction turns: excess counts good events
missing, n_c(s)·r_b(s) - e_c(s), and the same identity holds with the signs flipped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True, kw_only=True)
class SegmentCounts:
    """One segment's events on each side over the same stretch of time."""

    segment: str
    """The label's value; empty for series without the label."""
    canary_events: float
    canary_total: float
    baseline_events: float
    baseline_total: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class Contribution:
    segment: str
    canary_total: float
    """The canary's requests in this segment."""
    canary_events: float
    expected: float
    """The events the canary would have had here at the baseline's ratio for this segment."""
    excess: float
    """canary_events - expected in the bad direction: the release's part in this segment."""
    share: float
    """This segment's part of the positive excess of all segments, 0 to 1; 0 when it has none."""
    canary_ratio: float | None
    baseline_ratio: float | None
    """The baseline's ratio in this segment, None when the baseline did not serve it."""
    baseline_served: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class Breakdown:
    """A ratio metric's canary excess split by the values of one label."""

    label: str
    excess: float
    """The canary's events beyond its traffic at the baseline's overall ratio, in the bad direction."""
    rate: float
    """The part of `excess` from the canary doing worse than the baseline within segments."""
    mix: float
    """The part of `excess` from the canary serving a different mix of segments than the baseline."""
    segments: tuple[Contribution, ...]
    """Largest contribution first."""

    @property
    def main(self) -> Contribution | None:
        """The segment that explains most of the excess, if any segment has an excess."""
        return self.segments[0] if self.segments and self.segments[0].excess > 0 else None


def breakdown(*, label: str, counts: Iterable[SegmentCounts], higher_is_worse: bool = True) -> Breakdown:
    """Split the canary's excess of bad events (good ones missing, when lower is worse) between segments.

    Segments with counts that are not finite, negative, or more events than requests are left out: a
    broken series should not take the blame. Without usable baseline traffic the excess is 0: there is no
    ratio to hold the canary to.
    """
    usable = [segment for segment in counts if _consistent(segment)]
    canary_total = sum(segment.canary_total for segment in usable)
    canary_events = sum(segment.canary_events for segment in usable)
    baseline_total = sum(segment.baseline_total for segment in usable)
    if baseline_total <= 0:
        return Breakdown(label=label, excess=0.0, rate=0.0, mix=0.0, segments=())
    overall = sum(segment.baseline_events for segment in usable) / baseline_total
    sign = 1.0 if higher_is_worse else -1.0
    rows = []
    for segment in usable:
        served = segment.baseline_total > 0
        ratio = segment.baseline_events / segment.baseline_total if served else overall
        expected = segment.canary_total * ratio
        rows.append(
            (
                segment,
                served,
                ratio,
                expected,
                sign * (segment.canary_events - expected),
            )
        )
    positive = sum(max(excess, 0.0) for *_, excess in rows)
    contributions = tuple(
        sorted(
            (
                Contribution(
                    segment=segment.segment,
                    canary_total=segment.canary_total,
                    canary_events=segment.canary_events,
                    expected=expected,
                    excess=excess,
                    share=max(excess, 0.0) / positive if positive > 0 else 0.0,
                    canary_ratio=segment.canary_events / segment.canary_total
                    if segment.canary_total > 0
                    else None,
                    baseline_ratio=ratio if served else None,
                    baseline_served=served,
                )
                for segment, served, ratio, expected, excess in rows
            ),
            key=lambda contribution: (-contribution.excess, contribution.segment),
        )
    )
    rate = sum(contribution.excess for contribution in contributions)
    excess = sign * (canary_events - canary_total * overall)
    return Breakdown(label=label, excess=excess, rate=rate, mix=excess - rate, segments=contributions)


def _consistent(segment: SegmentCounts) -> bool:
    values = (segment.canary_events, segment.canary_total, segment.baseline_events, segment.baseline_total)
    return (
        all(math.isfinite(value) and value >= 0 for value in values)
        and segment.canary_events <= segment.canary_total
        and segment.baseline_events <= segment.baseline_total
    )
