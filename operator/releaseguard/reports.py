"""Write a release's validation report when it ends, into a ConfigMap next to the ReleaseValidation.

When a release succeeds or is rolled back, the report gathers what happened: the Events of the release
(its timeline), the last evaluation, the incident, the revision's changes, and every metric's canary and
baseline over the last analysis, read again from Prometheus as one series per group. It is stored as
`<rv>-report-<revision>` (Markdown and HTML, owned by the ReleaseValidation, so deleting it deletes them),
and only the newest few reports of a release are kept (`KEEP`, or the operator's --keep-reports).
`kubectl releaseguard report NAME` prints it.

Writing the report comes after the decision's actions: a Prometheus or
apiserver failure here costs the report (a Warning Event says so), never the release.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Sequence
from typing import Any

from releaseguard.analysis import series
from releaseguard.kube import client
from releaseguard.models import crd, v1alpha1
from releaseguard.providers import base
from releaseguard.providers import selector as label_selector
from releaseguard.report import diff, document
from releaseguard.rollout import decide, observation, plan

REPORT_LABEL = "releaseguard.io/report-of"
"""On a report's ConfigMap: the ReleaseValidation it reports on."""
KEEP = 5
"""Reports kept per ReleaseValidation, the newest, unless the operator is told otherwise (--keep-reports)."""
MAX_INTERVALS = 720
"""The most intervals charted: the last analysis' latest ones."""
CONTEXT_INTERVALS = 4
"""Intervals charted before the analysis began, so its first ones are seen against what came before."""
MAX_TEXT = 900_000
"""A ConfigMap holds at most 1 MiB; a report is cut to stay well inside it."""
WRITTEN_EVENT, FAILED_EVENT = "ReportWritten", "ReportFailed"
_ENDS = (v1alpha1.Phase.SUCCEEDED, v1alpha1.Phase.ROLLED_BACK)
_log = logging.getLogger(__name__)


async def record(
    kube: client.Kube,
    *,
    spec: v1alpha1.ReleaseValidationSpec,
    before: v1alpha1.ReleaseValidationStatus,
    decision: plan.Plan,
    observed: observation.Observed,
    provider: base.MetricProvider | None,
    now: datetime.datetime,
    keep: int = KEEP,
) -> plan.Plan:
    """`decision` with the report written when the release has just ended, and an Event saying where; the
    `keep` newest reports of the release are kept."""
    status, target = decision.status, observed.target
    revision = before.canary_revision or status.canary_revision
    if status.phase not in _ENDS or before.phase == status.phase or target is None or revision is None:
        return decision
    name = config_map_name(observed.name, revision.template_hash)
    try:
        timeline = await kube.list_events(namespace=target.namespace, kind=crd.KIND, name=observed.name)
        report = await build(
            spec=spec,
            before=before,
            status=status,
            observed=observed,
            revision=revision.template_hash,
            timeline=timeline,
            provider=provider,
            now=now,
        )
        await kube.apply_config_map(
            namespace=target.namespace, body=config_map(report, name=name, observed=observed)
        )
        await prune(kube, namespace=target.namespace, release=observed.name, keep=keep)
    except client.KubeError as error:
        _log.warning("report %s not written: %s", name, error)
        event = plan.Event(
            type=plan.EventType.WARNING, reason=FAILED_EVENT, message=f"report not written: {error}"
        )
        return dataclasses.replace(decision, events=(*decision.events, event))
    event = plan.Event(
        type=plan.EventType.NORMAL,
        reason=WRITTEN_EVENT,
        message=f"validation report in ConfigMap {name}: kubectl releaseguard report {observed.name}",
    )
    return dataclasses.replace(
        decision, status=status.model_copy(update={"report": name}), events=(*decision.events, event)
    )


def config_map_name(release: str, revision: str) -> str:
    return f"{release}-report-{revision}"[:253]


async def build(
    *,
    spec: v1alpha1.ReleaseValidationSpec,
    before: v1alpha1.ReleaseValidationStatus,
    status: v1alpha1.ReleaseValidationStatus,
    observed: observation.Observed,
    revision: str,
    timeline: Sequence[dict[str, Any]],
    provider: base.MetricProvider | None,
    now: datetime.datetime,
) -> document.Report:
    target = observed.target
    assert target is not None  # record() reports only on releases with a target
    stable = before.stable_revision
    stable_set = target.replica_set(stable.replica_set) if stable is not None else None
    last = status.last_analysis or before.last_analysis
    return document.Report(
        namespace=target.namespace,
        name=observed.name,
        target=target.name,
        revision=revision,
        stable_revision=stable.template_hash if stable is not None else "none",
        outcome=status.phase.value if status.phase else "unknown",
        generated_at=now,
        timeline=tuple(
            entry for event in _this_release(timeline, revision) if (entry := _entry(event)) is not None
        ),
        results=last.results if last is not None else (),
        incident=status.incident if status.incident and status.incident.revision == revision else None,
        changes=tuple(change.render() for change in diff.diff(stable_set.template, target.template))
        if stable_set is not None
        else (),
        charts=await _charts(spec, before=before, target=target, provider=provider, now=now),
    )


def config_map(report: document.Report, *, name: str, observed: observation.Observed) -> dict[str, Any]:
    markdown, page = document.markdown(report), document.html_page(report)
    if len(markdown) + len(page) > MAX_TEXT:
        page = document.html_page(dataclasses.replace(report, charts=()))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "labels": {REPORT_LABEL: observed.name},
            "annotations": {"releaseguard.io/generated-at": report.generated_at.isoformat()},
            "ownerReferences": [
                {
                    "apiVersion": crd.API_VERSION,
                    "kind": crd.KIND,
                    "name": observed.name,
                    "uid": observed.uid,
                }
            ]
            if observed.uid
            else [],
        },
        "data": {"report.md": markdown[:MAX_TEXT], "report.html": page[:MAX_TEXT]},
    }


async def prune(kube: client.Kube, *, namespace: str, release: str, keep: int) -> None:
    """Delete all but the `keep` newest reports of `release`."""
    reports = await kube.list_config_maps(namespace=namespace, label_selector=f"{REPORT_LABEL}={release}")
    reports.sort(key=lambda item: item["metadata"].get("creationTimestamp") or "", reverse=True)
    for old in reports[keep:]:
        await kube.delete_config_map(namespace=namespace, name=old["metadata"]["name"])


async def _charts(
    spec: v1alpha1.ReleaseValidationSpec,
    *,
    before: v1alpha1.ReleaseValidationStatus,
    target: observation.TargetObservation,
    provider: base.MetricProvider | None,
    now: datetime.datetime,
) -> tuple[document.Chart, ...]:
    """Each metric's canary and baseline over the last analysis and a few intervals before, one value per
    interval (the canary has none before it ran)."""
    since = before.analysis_started_at or before.step_started_at
    groups = _groups(before, target)
    if provider is None or since is None or groups is None or not spec.analysis.metrics:
        return ()
    canary, baseline = groups
    step = max(spec.analysis.interval.value, decide.MIN_WINDOW)
    count = min(MAX_INTERVALS, max(1, int((now - since) / step)) + CONTEXT_INTERVALS)
    baseline_end = baseline.at or now
    sides = await asyncio.gather(
        *(
            provider.measure_series(metric, pods=label_selector.pods(group), end=end, step=step, count=count)
            for metric in spec.analysis.metrics
            for group, end in ((canary, now), (baseline, baseline_end))
        )
    )
    times = tuple(now - (count - 1 - position) * step for position in range(count))
    # Before the analysis the canary's pods (the same Deployment, or the same ReplicaSet) served an earlier
    # release or nothing: its context is the baseline's alone.
    earlier = sum(end <= since for end in times)
    charts = []
    for index, metric in enumerate(spec.analysis.metrics):
        canary_side, baseline_side = sides[2 * index], sides[2 * index + 1]
        quantile = metric.quantile if isinstance(metric, v1alpha1.LatencyMetric) and metric.quantile else 0.5
        canary_values = _values(canary_side, count=count, q=quantile)
        charts.append(
            document.Chart(
                metric=metric.name,
                unit=_unit(metric),
                times=times,
                canary=(None,) * earlier + canary_values[earlier:],
                baseline=_values(baseline_side, count=count, q=quantile),
            )
        )
    return tuple(charts)


def _groups(
    before: v1alpha1.ReleaseValidationStatus, target: observation.TargetObservation
) -> tuple[decide.PodGroup, decide.PodGroup] | None:
    """The canary (its Deployment's pods, or once promoted its ReplicaSet's) and the stable pods."""
    stable = before.stable_revision
    stable_set = target.replica_set(stable.replica_set) if stable is not None else None
    if stable_set is None:
        return None
    baseline = decide.replica_set_group(target, stable_set)
    if before.promotion_started_at is None:
        return decide.canary_group(target), baseline
    promoted = before.canary_revision
    promoted_set = target.replica_set(promoted.replica_set) if promoted is not None else None
    if promoted_set is None:
        return None
    return decide.replica_set_group(target, promoted_set), dataclasses.replace(
        baseline, at=before.promotion_started_at
    )


def _values(side: series.Side, *, count: int, q: float) -> tuple[float | None, ...]:
    values = [None if point is None else series.value(point, q=q) for point in side.points[-count:]]
    return tuple([None] * (count - len(values)) + values)


def _unit(metric: v1alpha1.Metric) -> str:
    if isinstance(metric, v1alpha1.RatioMetric):
        return "ratio"
    if isinstance(metric, v1alpha1.LatencyMetric):
        return "seconds"
    return ""


def _this_release(events: Sequence[dict[str, Any]], revision: str) -> Sequence[dict[str, Any]]:
    """The Events from the start of this revision's canary on: a ReleaseValidation's Events tell of every
    release it guarded."""
    starts = [
        index
        for index, event in enumerate(events)
        if event.get("reason") == "CanaryStarted" and revision in str(event.get("message", ""))
    ]
    return events[starts[-1] :] if starts else events


def _entry(event: dict[str, Any]) -> document.Entry | None:
    stamp = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
    )
    if not stamp:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return document.Entry(
        time=moment, what=str(event.get("reason", "")), message=str(event.get("message", ""))
    )
