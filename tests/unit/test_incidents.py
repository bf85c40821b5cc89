"""When an incident opens and resolves, and what it is made of, with a provider double and literal status."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from typing import Any

import pytest

from releaseguard import incidents
from releaseguard.analysis import measurement, series
from releaseguard.impact import segments
from releaseguard.models import v1alpha1
from releaseguard.providers import base, selector
from releaseguard.rollout import decide, observation, plan

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)
Phase, FAIL = v1alpha1.Phase, v1alpha1.Verdict.FAIL
ERRORS = 'sum by ({{ segment }}) (increase(http_requests_total{code=~"5..",{{ selector }}}[{{ window }}]))'
TOTAL = "sum by ({{ segment }}) (increase(http_requests_total{{{ selector }}}[{{ window }}]))"
SPEC = v1alpha1.ReleaseValidationSpec.model_validate(
    {
        "targetRef": {"name": "checkout"},
        "service": "checkout",
        "steps": [{"weight": 10, "duration": "1m"}],
        "analysis": {
            "interval": "30s",
            "prometheus": {"url": "http://prometheus:9090"},
            "metrics": [
                {
                    "name": "error-rate",
                    "kind": "ratio",
                    "errors": ERRORS,
                    "total": TOTAL,
                    "judge": {"type": "compare"},
                }
            ],
        },
        "impact": {
            "segments": ["route"],
            "businessMetrics": [
                {
                    "name": "checkout-success",
                    "kind": "ratio",
                    "errors": "sum(increase(checkouts_total{ok='true',{{ selector }}}[{{ window }}]))",
                    "total": "sum(increase(checkouts_total{{{ selector }}}[{{ window }}]))",
                    "judge": {"type": "compare", "direction": "lowerIsWorse"},
                }
            ],
        },
    }
)
STABLE_TEMPLATE = {"spec": {"containers": [{"name": "app", "image": "demo:1.0"}]}}
NEW_TEMPLATE = {"spec": {"containers": [{"name": "app", "image": "demo:2.0-checkout-broken"}]}}
OBSERVED = observation.Observed(
    name="checkout",
    generation=1,
    target=observation.TargetObservation(
        namespace="shop",
        name="checkout",
        exists=True,
        template=NEW_TEMPLATE,
        replica_sets=(
            observation.ReplicaSetObservation(
                name="checkout-1", pod_template_hash="h1", template=STABLE_TEMPLATE
            ),
        ),
    ),
    measurements=(
        series.SeriesMeasurement(
            name="error-rate",
            interval_seconds=30,
            canary=series.Side(points=(series.Counts(errors=20, total=100),) * 4),
            baseline=series.Side(points=(series.Counts(errors=9, total=900),) * 4),
        ),
    ),
)
REQUEST = decide.AnalysisRequest(
    canary=decide.PodGroup(namespace="shop", pod_regex="checkout-canary-.*"),
    baseline=decide.PodGroup(namespace="shop", pod_regex="checkout-[a-z0-9]+-[a-z0-9]+"),
    window=datetime.timedelta(seconds=30),
    since=NOW - 2 * MINUTE,
    history=decide.PodGroup(namespace="shop", pod_regex="checkout-.*", at=NOW - 2 * MINUTE),
)


@dataclasses.dataclass
class Provider:
    """Splits error-rate by route; answers every business metric with a checkout success ratio."""

    asked: list[tuple[str, str, datetime.timedelta]] = dataclasses.field(default_factory=list)

    async def measure(self, metric: v1alpha1.Metric, **kwargs: Any) -> measurement.Measurement:
        return measurement.Measurement(
            name=metric.name,
            canary=measurement.Side(value=0.45, samples=200),
            baseline=measurement.Side(value=0.9, samples=1800),
        )

    async def measure_series(self, *args: Any, **kwargs: Any) -> series.Side:
        raise AssertionError("an incident reads no series")

    async def measure_segments(
        self,
        metric: v1alpha1.RatioMetric,
        *,
        label: str,
        canary: selector.Selector,
        baseline: selector.Selector,
        window: datetime.timedelta,
        baseline_at: datetime.datetime | None = None,
    ) -> tuple[segments.SegmentCounts, ...] | base.ProviderError:
        self.asked.append((metric.name, label, window))
        return (
            segments.SegmentCounts(
                segment="/", canary_events=1, canary_total=300, baseline_events=27, baseline_total=2700
            ),
            segments.SegmentCounts(
                segment="/api/checkout",
                canary_events=79,
                canary_total=100,
                baseline_events=9,
                baseline_total=900,
            ),
        )


def status(phase: Phase, **fields: Any) -> v1alpha1.ReleaseValidationStatus:
    return v1alpha1.ReleaseValidationStatus(
        phase=phase,
        canary_weight=10,
        stable_revision=v1alpha1.Revision(template_hash="h1", replica_set="checkout-1"),
        canary_revision=v1alpha1.Revision(template_hash="h2"),
        analysis_started_at=NOW - 2 * MINUTE,
        **fields,
    )


ROLLING_BACK = status(
    Phase.ROLLING_BACK,
    last_analysis=v1alpha1.AnalysisSummary(
        time=NOW,
        verdict=FAIL,
        consecutive_failures=2,
        results=(v1alpha1.Result(name="error-rate", verdict=FAIL, canary=0.2, baseline=0.01),),
    ),
    last_decision=v1alpha1.Decision(
        time=NOW, reason="FailureLimitReached", message="error-rate failed twice"
    ),
)


def record(
    before: v1alpha1.ReleaseValidationStatus,
    after: v1alpha1.ReleaseValidationStatus,
    provider: Provider | None = None,
    kube: Any = None,
) -> plan.Plan:
    return asyncio.run(
        incidents.record(
            spec=SPEC,
            before=before,
            decision=plan.Plan(status=after),
            observed=OBSERVED,
            request=REQUEST,
            provider=provider or Provider(),
            kube=kube,
            now=NOW,
        )
    )


def test_a_rollback_opens_an_incident_with_its_event() -> None:
    provider = Provider()
    decided = record(status(Phase.PROGRESSING), ROLLING_BACK, provider)
    opened = decided.status.incident
    assert opened is not None
    assert opened.severity == v1alpha1.Severity.SEV1  # the business metric is 50% worse
    assert opened.stage == v1alpha1.Stage.CANARY
    assert opened.revision == "h2"
    assert opened.impact.traffic_share == 0.1
    # 80 errors of 400 canary requests, where the baseline's 1% predicts 4.
    assert opened.impact.affected_requests == 76
    assert opened.suspected_cause[0] == "container app image: demo:1.0 → demo:2.0-checkout-broken"
    assert opened.segments[0].value == "/api/checkout"
    assert provider.asked == [("error-rate", "route", 2 * MINUTE)]
    assert [entry.what for entry in opened.timeline] == [
        "canary analysis of h2 began",
        "first of 2 failed evaluations in a row",
        "FailureLimitReached: error-rate failed twice",
    ]
    (event,) = decided.events
    assert (event.type, event.reason, event.message) == (plan.EventType.WARNING, "Incident", opened.summary)
    assert opened.summary.startswith("SEV1 shop/checkout: error-rate 0.2 vs baseline 0.01; ")


def test_the_incident_opens_once() -> None:
    opened = record(status(Phase.PROGRESSING), ROLLING_BACK).status
    again = record(opened, opened)
    assert again.status.incident == opened.incident
    assert again.events == ()


def test_a_decision_stored_before_its_incident_gets_it_from_the_next_reconciliation() -> None:
    # The operator stored the rollback ahead of its actions and was killed before the incident was stored;
    # the restarted one finds the rollback already completed.
    rolled_back = ROLLING_BACK.model_copy(update={"phase": Phase.ROLLED_BACK})
    decided = record(rolled_back, rolled_back)
    assert decided.status.incident is not None
    assert decided.status.incident.summary.endswith("rolled back")
    assert [event.reason for event in decided.events] == ["Incident"]


def test_a_newer_failure_opens_a_new_incident() -> None:
    opened = record(status(Phase.PROGRESSING), ROLLING_BACK).status
    assert opened.incident is not None
    later = opened.model_copy(
        update={
            "last_decision": v1alpha1.Decision(
                time=NOW + MINUTE, reason="CriticalMetricFailed", message="error-rate failed"
            )
        }
    )
    reopened = record(opened, later).status.incident
    assert reopened is not None
    assert reopened.timeline[-1].what == "CriticalMetricFailed: error-rate failed"


def test_a_human_abort_opens_none() -> None:
    aborted = ROLLING_BACK.model_copy(
        update={"last_decision": v1alpha1.Decision(time=NOW, reason="Aborted", message="aborted by a human")}
    )
    assert record(status(Phase.PROGRESSING), aborted).status.incident is None


def test_the_incident_resolves_when_the_rollback_completes() -> None:
    opened = record(status(Phase.PROGRESSING), ROLLING_BACK).status
    rolled_back = opened.model_copy(update={"phase": Phase.ROLLED_BACK})
    decided = record(opened, rolled_back)
    assert decided.status.incident is not None
    assert decided.status.incident.resolved_at == NOW
    assert [event.reason for event in decided.events] == ["IncidentResolved"]
    assert record(rolled_back, decided.status).events == ()


def test_without_a_provider_the_incident_still_opens_from_what_the_decision_saw() -> None:
    decided = asyncio.run(
        incidents.record(
            spec=SPEC,
            before=status(Phase.PROGRESSING),
            decision=plan.Plan(status=ROLLING_BACK),
            observed=OBSERVED,
            request=None,
            provider=None,
            kube=None,
            now=NOW,
        )
    )
    assert decided.status.incident is not None
    assert decided.status.incident.segments == ()
    assert decided.status.incident.impact.affected_requests == 76


@dataclasses.dataclass
class Kube:
    """The new revision's pods, one crash-looping after an OOM kill, and a failed probe's Warning Event."""

    asked: list[str] = dataclasses.field(default_factory=list)

    async def list_pods(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self.asked.append(label_selector)
        crashing = {
            "name": "app",
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        }
        return [
            {"metadata": {"name": "checkout-canary-5d9f-abcde"}, "status": {"containerStatuses": [crashing]}},
            {"metadata": {"name": "checkout-1-xyz12"}, "status": {"containerStatuses": [crashing]}},
        ]

    async def list_warning_events(self, *, namespace: str, kind: str) -> list[dict[str, Any]]:
        return [
            {
                "reason": "Unhealthy",
                "count": 7,
                "message": "Readiness probe failed:\n HTTP probe failed with statuscode: 500",
                "involvedObject": {"name": "checkout-canary-5d9f-abcde"},
            },
            {"reason": "Unhealthy", "message": "not ours", "involvedObject": {"name": "checkout-1-xyz12"}},
        ]


def test_the_new_pods_troubles_are_among_the_suspected_causes() -> None:
    kube = Kube()
    causes = record(status(Phase.PROGRESSING), ROLLING_BACK, kube=kube).status.incident.suspected_cause  # type: ignore[union-attr]
    assert causes[1:3] == (
        "1 new pod: container app waiting in CrashLoopBackOff, 4 restarts",
        "1 new pod: container app last terminated OOMKilled (exit 137), 4 restarts",
    )
    probe = "Readiness probe failed: HTTP probe failed with statuscode: 500"
    assert causes[3] == f"Warning Unhealthy 7 times on 1 new pod: {probe}"
    assert kube.asked == [""]


def test_a_failing_latency_hurts_the_requests_slower_than_the_baselines_quantile() -> None:
    latency_spec = SPEC.model_copy(
        update={
            "analysis": v1alpha1.Analysis.model_validate(
                {
                    "interval": "30s",
                    "prometheus": {"url": "http://prometheus:9090"},
                    "metrics": [
                        {
                            "name": "p90",
                            "kind": "latency",
                            "quantile": 0.9,
                            "query": "sum by (le) (increase(x_bucket{{{ selector }}}[{{ window }}]))",
                            "judge": {"type": "compare"},
                        }
                    ],
                }
            )
        }
    )
    # Every interval 100 canary requests, 45 of them slower than the baseline's p90 of 0.3 s (halfway
    # through the 0.1-0.5 s bucket, which holds 70).
    slow = series.Histogram(buckets=((0.1, 20.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)))
    observed = dataclasses.replace(
        OBSERVED,
        measurements=(
            series.SeriesMeasurement(
                name="p90",
                interval_seconds=30,
                canary=series.Side(points=(slow,) * 4),
                baseline=series.Side(),
            ),
        ),
    )
    failing = ROLLING_BACK.model_copy(
        update={
            "last_analysis": v1alpha1.AnalysisSummary(
                time=NOW,
                verdict=FAIL,
                results=(v1alpha1.Result(name="p90", verdict=FAIL, canary=0.5, baseline=0.3),),
            )
        }
    )
    decided = asyncio.run(
        incidents.record(
            spec=latency_spec,
            before=status(Phase.PROGRESSING),
            decision=plan.Plan(status=failing),
            observed=observed,
            request=None,
            provider=None,
            kube=None,
            now=NOW,
        )
    )
    opened = decided.status.incident
    assert opened is not None
    # 400 requests, of which 10% would be slower than the baseline's p90 anyway: 180 - 40 hurt.
    assert opened.impact.affected_requests == pytest.approx(140)
    assert opened.impact.affected_share == pytest.approx(0.1 * 140 / 400)
