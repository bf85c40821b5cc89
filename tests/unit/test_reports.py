"""The validation report written when a release ends: what it reads, where it goes, what is pruned."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from typing import Any

from releaseguard import reports
from releaseguard.analysis import series
from releaseguard.kube import client
from releaseguard.models import v1alpha1
from releaseguard.providers import selector
from releaseguard.rollout import plan
from tests.unit import test_incidents

NOW = test_incidents.NOW
Phase = v1alpha1.Phase
TARGET = dataclasses.replace(
    test_incidents.OBSERVED.target,  # type: ignore[arg-type]
    selector={"matchLabels": {"app": "checkout"}},
)
OBSERVED = dataclasses.replace(test_incidents.OBSERVED, uid="uid-1", target=TARGET)


@dataclasses.dataclass
class Kube:
    config_maps: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    fail: bool = False

    async def list_events(self, *, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        return [
            {
                "reason": "CanaryStarted",
                "message": "canary h1 at 10%",
                "lastTimestamp": "2026-11-27T10:00:00Z",
            },
            {"reason": "Succeeded", "message": "h1 is stable", "lastTimestamp": "2026-11-27T10:05:00Z"},
            {
                "reason": "CanaryStarted",
                "message": "canary h2 at 10%",
                "lastTimestamp": "2026-11-27T11:58:00Z",
            },
            {
                "reason": "FailureLimitReached",
                "message": "error-rate failed",
                "lastTimestamp": "2026-11-27T11:59:50Z",
            },
            {"reason": "NoTime", "message": "dropped"},
        ]

    async def apply_config_map(self, *, namespace: str, body: dict[str, Any]) -> None:
        if self.fail:
            raise client.KubeError("creating ConfigMap: 403 Forbidden")
        # As the apiserver does: the new object is the newest.
        body["metadata"].setdefault("creationTimestamp", "2026-11-27T12:00:00Z")
        self.config_maps[body["metadata"]["name"]] = body

    async def list_config_maps(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return list(self.config_maps.values())

    async def delete_config_map(self, *, namespace: str, name: str) -> None:
        del self.config_maps[name]


@dataclasses.dataclass
class Provider:
    asked: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)

    async def measure_series(
        self,
        metric: v1alpha1.Metric,
        *,
        pods: selector.Selector,
        end: datetime.datetime,
        step: datetime.timedelta,
        count: int,
    ) -> series.Side:
        self.asked.append((metric.name, pods[1].value, count))
        canary = "canary" in pods[1].value
        return series.Side(points=(series.Counts(errors=20 if canary else 1, total=100), None) * (count // 2))


def record_keeping(keep: int, kube: Kube) -> plan.Plan:
    return asyncio.run(
        reports.record(
            kube,  # type: ignore[arg-type]
            spec=test_incidents.SPEC,
            before=test_incidents.ROLLING_BACK,
            decision=plan.Plan(status=ROLLED_BACK_STATUS),
            observed=OBSERVED,
            provider=Provider(),  # type: ignore[arg-type]
            now=NOW,
            keep=keep,
        )
    )


def record(
    before: v1alpha1.ReleaseValidationStatus,
    after: v1alpha1.ReleaseValidationStatus,
    kube: Kube,
    provider: Provider | None = None,
) -> plan.Plan:
    return asyncio.run(
        reports.record(
            kube,  # type: ignore[arg-type]
            spec=test_incidents.SPEC,
            before=before,
            decision=plan.Plan(status=after),
            observed=OBSERVED,
            provider=provider or Provider(),  # type: ignore[arg-type]
            now=NOW,
        )
    )


ROLLED_BACK = test_incidents.ROLLING_BACK.model_copy(update={"phase": Phase.ROLLED_BACK})
ROLLED_BACK_STATUS = ROLLED_BACK


def test_a_rolled_back_release_gets_its_report() -> None:
    kube, provider = Kube(), Provider()
    decided = record(test_incidents.ROLLING_BACK, ROLLED_BACK, kube, provider)
    assert decided.status.report == "checkout-report-h2"
    (event,) = decided.events
    assert (event.reason, event.message) == (
        "ReportWritten",
        "validation report in ConfigMap checkout-report-h2: kubectl releaseguard report checkout",
    )
    body = kube.config_maps["checkout-report-h2"]
    assert body["metadata"]["labels"] == {reports.REPORT_LABEL: "checkout"}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    markdown, page = body["data"]["report.md"], body["data"]["report.html"]
    assert markdown.startswith("# shop/checkout: revision h2 RolledBack")
    assert "**FailureLimitReached** error-rate failed" in markdown
    assert "h1 is stable" not in markdown  # the timeline is this release's
    assert "container app image: demo:1.0 → demo:2.0-checkout-broken" in markdown
    assert '<figure class="chart" data-metric="error-rate">' in page
    # Two minutes of 30 s intervals since the analysis began and four before, for the canary's pods and the
    # stable ones.
    assert provider.asked == [
        ("error-rate", r"checkout\-canary-[a-z0-9]+-[a-z0-9]+", 8),
        ("error-rate", r"checkout\-1-[a-z0-9]+", 8),
    ]


def test_only_the_end_of_a_release_writes_one() -> None:
    kube = Kube()
    assert record(test_incidents.ROLLING_BACK, test_incidents.ROLLING_BACK, kube).events == ()
    assert record(ROLLED_BACK, ROLLED_BACK, kube).events == ()
    assert kube.config_maps == {}


def test_older_reports_are_pruned() -> None:
    kube = Kube(
        {
            f"old-{n}": {"metadata": {"name": f"old-{n}", "creationTimestamp": f"2026-11-2{n}T00:00:00Z"}}
            for n in range(reports.KEEP + 2)
        }
    )
    record(test_incidents.ROLLING_BACK, ROLLED_BACK, kube)
    assert len(kube.config_maps) == reports.KEEP
    assert "old-0" not in kube.config_maps
    assert "checkout-report-h2" in kube.config_maps


def test_a_failure_to_write_costs_the_report_not_the_release() -> None:
    decided = record(test_incidents.ROLLING_BACK, ROLLED_BACK, Kube(fail=True))
    assert decided.status.report is None
    (event,) = decided.events
    assert (event.type, event.reason) == (plan.EventType.WARNING, "ReportFailed")
    assert "403 Forbidden" in event.message


def test_the_charts_context_before_the_analysis_is_the_baselines_alone() -> None:
    report = asyncio.run(
        reports.build(
            spec=test_incidents.SPEC,
            before=test_incidents.ROLLING_BACK,
            status=ROLLED_BACK,
            observed=OBSERVED,
            revision="h2",
            timeline=[],
            provider=Provider(),  # type: ignore[arg-type]
            now=NOW,
        )
    )
    (chart,) = report.charts
    assert chart.times[0] == NOW - 7 * datetime.timedelta(seconds=30)
    assert chart.canary[:4] == (None,) * 4  # up to the analysis' start, two minutes ago
    assert chart.canary[4] == 0.2
    assert chart.baseline[0] == 0.01


def test_how_many_reports_are_kept_is_the_operators_choice() -> None:
    kube = Kube(
        {
            f"old-{n}": {"metadata": {"name": f"old-{n}", "creationTimestamp": f"2026-11-2{n}T00:00:00Z"}}
            for n in range(4)
        }
    )
    record_keeping(2, kube)
    assert sorted(kube.config_maps) == ["checkout-report-h2", "old-3"]
