"""Open the incident of a failed release, with its impact and a first diagnosis; resolve it when it ends.

A decision to roll back or to pause is taken on the judges' verdicts alone, and carried out first: nothing
here delays a rollback. Then, in the same reconciliation, this module measures what only an incident needs
(the failing ratio metrics split by the spec's segments, the business metrics over the whole analysis),
reads what the new revision's pods went through (restarts, waiting states, Warning Events), diffs the
revision against the stable one, assesses impact and severity, and returns the plan with
`status.incident` and a Warning Event carrying the summary. The incident is stored with the status
write of the decision; if the operator dies before that write, the next reconciliation takes the same
decision again and opens the incident then, so none is lost.

A human's abort or pause is not a failure and opens none. An incident is resolved once the release stops
hurting customers: the first reconciliation that leaves RollingBack or Paused stamps `resolvedAt`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence

from releaseguard.analysis import burn_rate, compare, measurement, series
from releaseguard.impact import assessment, incident, segments, severity
from releaseguard.kube import client, observe
from releaseguard.models import conditions, v1alpha1
from releaseguard.providers import base
from releaseguard.providers import selector as label_selector
from releaseguard.report import diff, pods
from releaseguard.rollout import decide, observation, plan

INCIDENT_EVENT = "Incident"
RESOLVED_EVENT = "IncidentResolved"
_OPEN_PHASES = (v1alpha1.Phase.ROLLING_BACK, v1alpha1.Phase.PAUSED)
_FAILURE_REASONS = (
    conditions.Reason.CRITICAL_METRIC_FAILED,
    conditions.Reason.FAILURE_LIMIT_REACHED,
    conditions.Reason.INCONCLUSIVE_LIMIT_REACHED,
)
_SEGMENT = re.compile(r"\{\{\s*segment\s*\}\}")
_ACTIONS = {
    v1alpha1.Phase.ROLLING_BACK: "rolling back",
    v1alpha1.Phase.PAUSED: "paused for a human to decide",
    v1alpha1.Phase.ROLLED_BACK: "rolled back",
}
Measured = measurement.Measurement | series.SeriesMeasurement


async def record(
    *,
    spec: v1alpha1.ReleaseValidationSpec,
    before: v1alpha1.ReleaseValidationStatus,
    decision: plan.Plan,
    observed: observation.Observed,
    request: decide.AnalysisRequest | None,
    provider: base.MetricProvider | None,
    kube: client.Kube | None,
    now: datetime.datetime,
) -> plan.Plan:
    """`decision` with the incident opened or resolved, when this reconciliation does either; `provider`
    measures what the incident needs beyond the decision (segments, business metrics), and `kube` reads
    the new revision's pods and their Warning Events, when given."""
    status = decision.status
    if _opens(status):
        opened = await open_incident(
            spec=spec,
            status=status,
            observed=observed,
            request=request,
            provider=provider,
            kube=kube,
            now=now,
        )
        event = plan.Event(type=plan.EventType.WARNING, reason=INCIDENT_EVENT, message=opened.summary)
        return dataclasses.replace(
            decision,
            status=status.model_copy(update={"incident": opened}),
            events=(*decision.events, event),
        )
    current = status.incident
    if current is not None and current.resolved_at is None and status.phase not in _OPEN_PHASES:
        resolved = current.model_copy(update={"resolved_at": now})
        message = f"{current.severity.value} {observed.name}: resolved, {status.phase or 'no phase'}"
        event = plan.Event(type=plan.EventType.NORMAL, reason=RESOLVED_EVENT, message=message)
        return dataclasses.replace(
            decision,
            status=status.model_copy(update={"incident": resolved}),
            events=(*decision.events, event),
        )
    return decision


def _opens(after: v1alpha1.ReleaseValidationStatus) -> bool:
    """The last decision is a failure (a rollback or a pause on the verdicts) without its incident.

    Read from the decision, not from a change of phase: a decision stored before its actions
    (`plan.Plan.store_first`) by an operator killed right after gets its incident from the next one.
    """
    decided, current = after.last_decision, after.incident
    return (
        decided is not None
        and decided.reason in _FAILURE_REASONS
        and (current is None or current.opened_at < decided.time)
    )


async def open_incident(
    *,
    spec: v1alpha1.ReleaseValidationSpec,
    status: v1alpha1.ReleaseValidationStatus,
    observed: observation.Observed,
    request: decide.AnalysisRequest | None,
    provider: base.MetricProvider | None,
    kube: client.Kube | None,
    now: datetime.datetime,
) -> v1alpha1.Incident:
    stage = v1alpha1.Stage.BAKE if status.promotion_started_at is not None else v1alpha1.Stage.CANARY
    results = status.last_analysis.results if status.last_analysis is not None else ()
    failing = [result for result in results if result.verdict == v1alpha1.Verdict.FAIL]
    measured = {item.name: item for item in observed.measurements or ()}
    (breakdowns, business), pod_facts = await asyncio.gather(
        _measure(spec, provider, failing=failing, request=request, now=now), _pod_facts(kube, request)
    )
    traffic = 1.0 if stage == v1alpha1.Stage.BAKE else (status.canary_weight or 0) / 100
    impact = assessment.assess(
        evidence=[
            item
            for item in (_evidence(metric, results, measured) for metric in spec.analysis.metrics)
            if item
        ],
        business=business,
        traffic_share=traffic,
    )
    facts = severity.Facts(
        affected_share=impact.affected_share,
        burn_rate=_burn_rate(spec, failing=failing, measured=measured),
        business_drop=impact.business_drop,
        stage=stage,
    )
    rules = spec.impact.severity_rules if spec.impact is not None else ()
    target = observed.target
    namespace = target.namespace if target is not None else ""
    return incident.open_incident(
        release=f"{namespace}/{observed.name}",
        stage=stage,
        revision=status.canary_revision.template_hash if status.canary_revision else "",
        action=_ACTIONS.get(status.phase or v1alpha1.Phase.ROLLING_BACK, "rolling back"),
        impact=impact,
        assessed=severity.assess(facts, rules),
        failing=failing,
        breakdowns=breakdowns,
        changes=[change.render() for change in _changes(status, observed)],
        pods=pod_facts,
        timeline=_timeline(spec, status, now=now),
        now=now,
    )


async def _measure(
    spec: v1alpha1.ReleaseValidationSpec,
    provider: base.MetricProvider | None,
    *,
    failing: Sequence[v1alpha1.Result],
    request: decide.AnalysisRequest | None,
    now: datetime.datetime,
) -> tuple[list[tuple[str, segments.Breakdown]], list[assessment.Evidence]]:
    """The failing ratio metrics split by every segment label, and the business metrics' evidence."""
    if provider is None or request is None or spec.impact is None:
        return [], []
    window = max(now - request.since, request.window)
    canary, baseline = label_selector.pods(request.canary), label_selector.pods(request.baseline)
    failed = {result.name for result in failing}
    splits = [
        (metric, label)
        for metric in spec.analysis.metrics
        if isinstance(metric, v1alpha1.RatioMetric) and metric.name in failed and _splits(metric)
        for label in spec.impact.segments
    ]
    split_results, business_results = await asyncio.gather(
        asyncio.gather(
            *(
                provider.measure_segments(
                    metric,
                    label=label,
                    canary=canary,
                    baseline=baseline,
                    window=window,
                    baseline_at=request.baseline.at,
                )
                for metric, label in splits
            )
        ),
        asyncio.gather(
            *(
                provider.measure(
                    metric, canary=canary, baseline=baseline, window=window, baseline_at=request.baseline.at
                )
                for metric in spec.impact.business_metrics
            )
        ),
    )
    breakdowns = [
        (
            metric.name,
            segments.breakdown(label=label, counts=counts, higher_is_worse=_higher_is_worse(metric.judge)),
        )
        for (metric, label), counts in zip(splits, split_results, strict=True)
        if not isinstance(counts, base.ProviderError)
    ]
    business = [
        _business_evidence(metric, measured)
        for metric, measured in zip(spec.impact.business_metrics, business_results, strict=True)
    ]
    return breakdowns, business


async def _pod_facts(kube: client.Kube | None, request: decide.AnalysisRequest | None) -> list[str]:
    """What the new revision's pods went through: restarts, waiting states, Warning Events."""
    if kube is None or request is None:
        return []
    canary = request.canary
    try:
        found, warnings = await asyncio.gather(
            kube.list_pods(namespace=canary.namespace, label_selector=observe.label_selector(canary.labels)),
            kube.list_warning_events(namespace=canary.namespace, kind="Pod"),
        )
    except client.KubeError:
        return []
    return pods.facts(pods=found, events=warnings, pod_regex=canary.pod_regex)


def _splits(metric: v1alpha1.RatioMetric) -> bool:
    return bool(_SEGMENT.search(metric.errors) and _SEGMENT.search(metric.total))


def _evidence(
    metric: v1alpha1.Metric, results: Sequence[v1alpha1.Result], measured: Mapping[str, Measured]
) -> assessment.Evidence | None:
    result = next((result for result in results if result.name == metric.name), None)
    if result is None:
        return None
    item = measured.get(metric.name)
    baseline = result.baseline
    if baseline is None and isinstance(item, measurement.Measurement):
        baseline = item.baseline.value
    bad = total = expected = None
    if isinstance(metric, v1alpha1.RatioMetric):
        bad, total = _canary_counts(item)
        expected = baseline if bad is not None else None
    elif isinstance(metric, v1alpha1.LatencyMetric) and isinstance(item, series.SeriesMeasurement):
        # Requests slower than the baseline's quantile, where the baseline has 1 - q of its own.
        quantile = metric.quantile if metric.quantile is not None else compare.DEFAULT_QUANTILE
        counted = series.slower(item.canary.points, limit=baseline) if baseline is not None else None
        if counted is not None:
            (bad, total), expected = counted, 1 - quantile
    return assessment.Evidence(
        name=metric.name,
        failed=result.verdict == v1alpha1.Verdict.FAIL,
        higher_is_worse=_higher_is_worse(metric.judge),
        canary=result.canary,
        baseline=baseline,
        bad=bad,
        total=total,
        expected_share=expected,
    )


def _canary_counts(item: Measured | None) -> tuple[float | None, float | None]:
    """The canary's errors and requests over the analysis."""
    if isinstance(item, series.SeriesMeasurement):
        counts = [point for point in item.canary.points if isinstance(point, series.Counts)]
        if counts:
            return sum(point.errors for point in counts), sum(point.total for point in counts)
    elif isinstance(item, measurement.Measurement):
        value, samples = item.canary.value, item.canary.samples
        if value is not None and samples:
            return value * samples, samples
    return None, None


def _business_evidence(metric: v1alpha1.Metric, measured: measurement.Measurement) -> assessment.Evidence:
    canary, baseline = measured.canary, measured.baseline
    counted = canary.value is not None and canary.samples is not None
    return assessment.Evidence(
        name=metric.name,
        failed=False,
        higher_is_worse=_higher_is_worse(metric.judge),
        canary=canary.value,
        baseline=baseline.value,
        bad=canary.value * canary.samples
        if counted and canary.value is not None and canary.samples
        else None,
        total=canary.samples if counted else None,
        expected_share=baseline.value,
    )


def _higher_is_worse(judge: v1alpha1.Judge) -> bool:
    if isinstance(judge, v1alpha1.ThresholdJudge):
        return judge.max is not None or judge.min is None
    if isinstance(judge, v1alpha1.BurnRateJudge):
        return True
    return judge.direction == v1alpha1.Direction.HIGHER_IS_WORSE


def _burn_rate(
    spec: v1alpha1.ReleaseValidationSpec,
    *,
    failing: Sequence[v1alpha1.Result],
    measured: Mapping[str, Measured],
) -> float | None:
    """The fastest burn a burnRate judge's windows sustain; without one, the worst failing ratio over its
    baseline's."""
    burns = []
    for metric in spec.analysis.metrics:
        item = measured.get(metric.name)
        if isinstance(metric.judge, v1alpha1.BurnRateJudge) and isinstance(item, series.SeriesMeasurement):
            try:
                rules = burn_rate.burn_rates(metric.judge, item)
            except ValueError:
                continue
            burns += [
                min(rule.long_burn, rule.short_burn)
                for rule in rules
                if rule.long_burn is not None and rule.short_burn is not None
            ]
    if burns:
        return max(burns)
    ratios = {metric.name for metric in spec.analysis.metrics if isinstance(metric, v1alpha1.RatioMetric)}
    relative = [
        result.canary / result.baseline
        for result in failing
        if result.name in ratios and result.canary is not None and result.baseline
    ]
    return max(relative, default=None)


def _changes(
    status: v1alpha1.ReleaseValidationStatus, observed: observation.Observed
) -> tuple[diff.Change, ...]:
    target, stable = observed.target, status.stable_revision
    if target is None or stable is None:
        return ()
    stable_set = target.replica_set(stable.replica_set)
    if stable_set is None:
        return ()
    return diff.diff(stable_set.template, target.template)


def _timeline(
    spec: v1alpha1.ReleaseValidationSpec, status: v1alpha1.ReleaseValidationStatus, *, now: datetime.datetime
) -> list[v1alpha1.TimelineEntry]:
    entries = []
    revision = status.canary_revision.template_hash if status.canary_revision else "the new revision"
    if status.promotion_started_at is not None:
        entries.append(v1alpha1.TimelineEntry(time=status.promotion_started_at, what=f"{revision} promoted"))
    if status.analysis_started_at is not None:
        stage = "bake" if status.promotion_started_at is not None else "canary analysis"
        entries.append(
            v1alpha1.TimelineEntry(time=status.analysis_started_at, what=f"{stage} of {revision} began")
        )
    last = status.last_analysis
    if last is not None and last.consecutive_failures > 0:
        first = last.time - (last.consecutive_failures - 1) * spec.analysis.interval.value
        entries.append(
            v1alpha1.TimelineEntry(
                time=first, what=f"first of {last.consecutive_failures} failed evaluations in a row"
            )
        )
    if status.last_decision is not None:
        decided = status.last_decision
        entries.append(
            v1alpha1.TimelineEntry(time=decided.time, what=f"{decided.reason}: {decided.message}"[:512])
        )
    entries.sort(key=lambda entry: entry.time)
    return entries
