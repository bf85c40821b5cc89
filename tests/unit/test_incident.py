"""The incident record: one line to decide on, facts to look at, bounded for status."""

from __future__ import annotations

import datetime
from typing import Any

import pydantic
import pytest

from releaseguard.impact import assessment, incident, segments, severity
from releaseguard.models import v1alpha1

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
FAIL = v1alpha1.Verdict.FAIL
CANARY = v1alpha1.Stage.CANARY
ERRORS = v1alpha1.Result(name="error-rate", verdict=FAIL, canary=0.102, baseline=0.0101)
LATENCY = v1alpha1.Result(name="latency", verdict=FAIL, canary=0.9, baseline=0.2)


def evidence(name: str, **values: Any) -> assessment.Evidence:
    return assessment.Evidence(name=name, **values)


FAILING_ERRORS = evidence(
    "error-rate", failed=True, canary=0.102, baseline=0.0101, bad=102, total=1000, expected_share=0.0101
)
IMPACT = assessment.assess(
    evidence=[FAILING_ERRORS],
    business=[
        evidence(
            "orders",
            failed=False,
            higher_is_worse=False,
            canary=0.05,
            baseline=0.1,
            bad=50,
            total=1000,
            expected_share=0.1,
        )
    ],
    traffic_share=0.1,
)


def route(name: str, canary: tuple[float, float], baseline: tuple[float, float]) -> segments.SegmentCounts:
    return segments.SegmentCounts(
        segment=name,
        canary_events=canary[0],
        canary_total=canary[1],
        baseline_events=baseline[0],
        baseline_total=baseline[1],
    )


ROUTES = segments.breakdown(
    label="route",
    counts=[route("/", (10, 900), (90, 9000)), route("/api/checkout", (92, 100), (9, 900))],
)


def opened(**changes: Any) -> v1alpha1.Incident:
    facts = severity.Facts(
        affected_share=IMPACT.affected_share, burn_rate=None, business_drop=None, stage=CANARY
    )
    arguments: dict[str, Any] = {
        "release": "shop/checkout",
        "stage": CANARY,
        "revision": "abc123",
        "action": "rolling back",
        "impact": IMPACT,
        "assessed": severity.assess(facts),
        "failing": [ERRORS],
        "breakdowns": [("error-rate", ROUTES)],
        "changes": ["container app image: demo:1.0 → demo:2.0-checkout-broken"],
        "timeline": [v1alpha1.TimelineEntry(time=NOW, what="rollback started: FailureLimitReached")],
        "now": NOW,
    }
    return incident.open_incident(**(arguments | changes))


def test_the_summary_leads_with_severity_numbers_and_action() -> None:
    record = opened()
    assert record.severity == v1alpha1.Severity.SEV3
    assert record.summary == (
        "SEV3 shop/checkout: error-rate 0.102 vs baseline 0.0101; 0.92% of requests hurt (92 so far);"
        " rolling back"
    )
    assert record.severity_reason == "0.919% of requests hurt ≥ 0.1%"
    assert record.impact.affected_requests == pytest.approx(91.9)
    assert record.impact.business_drop == pytest.approx(0.5)


def test_the_suspected_cause_lists_the_change_then_the_segments_then_business() -> None:
    causes = opened().suspected_cause
    assert causes[0] == "container app image: demo:1.0 → demo:2.0-checkout-broken"
    assert causes[1].startswith("route=/api/checkout carries ")
    assert "of error-rate's excess: 92 bad of 100 on the canary where 1.0 were expected" in causes[1]
    assert causes[-1] == "business metric orders 50% worse than on the baseline, 50 events lost"


def test_segments_are_the_main_contributors_first() -> None:
    (main, *rest) = opened().segments
    assert (main.label, main.value, main.metric) == ("route", "/api/checkout", "error-rate")
    assert main.share > 0.9
    assert all(item.share <= main.share for item in rest)


def test_several_failing_metrics_are_counted_in_the_summary() -> None:
    assert (
        "error-rate 0.102 vs baseline 0.0101 (+1 more failing)" in opened(failing=[ERRORS, LATENCY]).summary
    )


def test_an_inconclusive_pause_has_no_failing_metric() -> None:
    record = opened(failing=[], action="paused for a human to decide")
    assert "analysis failed to conclude" in record.summary
    assert record.summary.endswith("paused for a human to decide")


def test_long_texts_are_cut_to_what_status_holds() -> None:
    record = opened(changes=["x" * 2000] * 50, release="r" * 600)
    assert len(record.summary) <= incident.MAX_TEXT
    assert len(record.suspected_cause) == incident.MAX_CAUSES
    assert all(len(cause) <= incident.MAX_TEXT for cause in record.suspected_cause)
    # What the status stores parses back: the bounds are the model's.
    v1alpha1.Incident.model_validate(record.to_json())


def test_the_record_round_trips_through_status() -> None:
    status = v1alpha1.ReleaseValidationStatus(incident=opened())
    parsed = v1alpha1.ReleaseValidationStatus.model_validate(status.to_json())
    assert parsed.incident == status.incident
    with pytest.raises(pydantic.ValidationError):
        v1alpha1.Incident.model_validate(status.to_json()["incident"] | {"severity": "SEV5"})


def test_passing_metrics_that_moved_are_named_largest_first() -> None:
    metrics = [
        FAILING_ERRORS,
        evidence("p95-latency", failed=False, canary=0.27, baseline=0.2),
        evidence("cpu", failed=False, canary=0.5, baseline=1.0),
        evidence("memory", failed=False, canary=103.0, baseline=100.0),
    ]
    impact = assessment.assess(evidence=metrics, business=[], traffic_share=0.1)
    causes = opened(impact=impact, changes=[], breakdowns=[]).suspected_cause
    assert causes == (
        "cpu 50% better on the canary (0.5 vs 1) without failing",
        "p95-latency 35% worse on the canary (0.27 vs 0.2) without failing",
    )
