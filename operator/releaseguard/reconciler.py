"""One reconciliation of a ReleaseValidation: observe, measure if due, decide, act.

Free of kopf so it can be driven by the handlers and by tests alike; the handler only stores what the
returned plan says (status, events, consumed requests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import logging
import pathlib
import time
from collections.abc import Awaitable, Mapping
from typing import Any

import pydantic

from releaseguard import delivery, incidents, logs, reports, telemetry
from releaseguard.analysis import measurement, series
from releaseguard.kube import client, execute, observe
from releaseguard.models import crd, v1alpha1
from releaseguard.models import patch as models_patch
from releaseguard.providers import base, http_check, registry, selector
from releaseguard.rollout import decide, observation, plan

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReleaseValidation:
    """The parts of the object a reconciliation reads."""

    name: str
    namespace: str
    uid: str
    generation: int
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """How this operator reaches what it measures."""

    pod_address_map: pathlib.Path | None = None
    """A JSON object mapping pod IPs to the host:port to dial instead, for clusters whose pod IPs this
    process cannot route to (pods emulated locally, or reached through port-forwards)."""
    default_notifications: str | None = None
    """NAMESPACE/NAME of a ConfigMap listing the notification routes of releases that name none."""
    keep_reports: int = reports.KEEP
    """Validation reports kept per ReleaseValidation, the newest."""


async def reconcile(
    kube: client.Kube, rv: ReleaseValidation, *, settings: Settings, now: datetime.datetime
) -> tuple[v1alpha1.ReleaseValidationStatus, plan.Plan]:
    """The stored status and the plan to store, whose actions have been carried out and whose Events
    have been posted."""
    spec = parse_spec(rv.spec)
    status = v1alpha1.ReleaseValidationStatus.model_validate(rv.status)
    observed = await _observe(
        kube, rv, target_name=None if isinstance(spec, decide.InvalidSpec) else spec.target_ref.name
    )
    request = decide.analysis_request(spec=spec, status=status, observed=observed, now=now)
    provider = (
        None if isinstance(spec, decide.InvalidSpec) else await metric_provider(kube, rv.namespace, spec)
    )
    if request is not None and not isinstance(spec, decide.InvalidSpec):
        started = time.monotonic()
        measured = await asyncio.gather(
            measure_metrics(spec, provider, request, now=now),
            measure_checks(kube, spec, request, settings=settings),
        )
        telemetry.observe_analysis(
            seconds=time.monotonic() - started, lag=analysis_lag(spec, status, now=now)
        )
        observed = dataclasses.replace(observed, measurements=measured[0] + measured[1])
    decision = decide.decide(spec=spec, status=status, observed=observed, now=now)
    if decision.store_first and not isinstance(spec, decide.InvalidSpec):
        decision = await delivery.queue(
            kube,
            spec=spec,
            before=status,
            decision=decision,
            now=now,
            defaults=settings.default_notifications,
        )
        decision = await store(kube, rv, before=status, decision=decision, now=now)
    await execute.execute(kube, decide.outstanding(decision.actions, observed=observed))
    if not isinstance(spec, decide.InvalidSpec):
        # After the actions: a rollback waits for no diagnosis.
        decision = await incidents.record(
            spec=spec,
            before=status,
            decision=decision,
            observed=observed,
            request=request,
            provider=provider,
            kube=kube,
            now=now,
        )
        decision = await reports.record(
            kube,
            spec=spec,
            before=status,
            decision=decision,
            observed=observed,
            provider=provider,
            now=now,
            keep=settings.keep_reports,
        )
        decision = await delivery.deliver(
            kube,
            spec=spec,
            before=status,
            decision=decision,
            observed=observed,
            now=now,
            defaults=settings.default_notifications,
        )
    record_telemetry(rv, before=status, after=decision.status)
    return status, await announce(kube, rv, decision, now=now)


async def store(
    kube: client.Kube,
    rv: ReleaseValidation,
    *,
    before: v1alpha1.ReleaseValidationStatus,
    decision: plan.Plan,
    now: datetime.datetime,
) -> plan.Plan:
    """Store the decision as the handler does after the actions: its Events posted, its status written,
    the requests it consumed dropped; `decision` without the Events, which are not to be posted twice."""
    decision = await announce(kube, rv, decision, now=now)
    changes = models_patch.model_patch(old=before, new=decision.status)
    if changes:
        await kube.patch_release_validation_status(namespace=rv.namespace, name=rv.name, status=changes)
    if decision.consumed:
        await kube.annotate_release_validation(
            namespace=rv.namespace,
            name=rv.name,
            annotations={request.annotation: None for request in decision.consumed},
        )
    return decision


async def announce(
    kube: client.Kube, rv: ReleaseValidation, decision: plan.Plan, *, now: datetime.datetime
) -> plan.Plan:
    """Post and log the decision's Events; `decision` without them.

    Posted before the status that records the decision is written, and awaited: an operator killed in
    between decides again after its restart and posts them again, where Events posted after the status
    (or queued, as kopf does) would be lost for good. An Event that cannot be posted is logged and
    dropped: the status holds the decision.
    """
    involved = {
        "apiVersion": crd.API_VERSION,
        "kind": crd.KIND,
        "namespace": rv.namespace,
        "name": rv.name,
        "uid": rv.uid,
    }
    for event in decision.events:
        logs.event(_log, type_=event.type, reason=event.reason, message=event.message)
        try:
            await kube.post_event(
                involved=involved, type_=event.type, reason=event.reason, message=event.message, now=now
            )
        except client.KubeError as error:
            _log.warning("%s Event not posted: %s", event.reason, error)
    return dataclasses.replace(decision, events=())


def record_telemetry(
    rv: ReleaseValidation,
    *,
    before: v1alpha1.ReleaseValidationStatus,
    after: v1alpha1.ReleaseValidationStatus,
) -> None:
    """What a reconciliation changed in the stored status, in the operator's metrics: the phase, and the
    verdicts of an analysis if one ran (its time differs from the stored one's)."""
    names = {"uid": rv.uid, "namespace": rv.namespace, "name": rv.name}
    telemetry.observe_phase(**names, before=before.phase, after=after.phase)
    analysis = after.last_analysis
    if analysis is not None and (before.last_analysis is None or before.last_analysis.time != analysis.time):
        verdicts = [(result.name, result.verdict.value) for result in analysis.results]
        telemetry.count_verdicts(**names, verdicts=verdicts)


def analysis_lag(
    spec: v1alpha1.ReleaseValidationSpec, status: v1alpha1.ReleaseValidationStatus, *, now: datetime.datetime
) -> float:
    """Seconds since the analysis running now was due: the step's previous analysis plus the interval.

    The first analysis of a step (or of the bake) waits for the canary's pods, not for the operator, so it
    counts as on time.
    """
    last, started = status.last_analysis, status.step_started_at
    if last is None or started is None or last.time < started:
        return 0.0
    return max(0.0, (now - last.time - spec.analysis.interval.value).total_seconds())


async def release(kube: client.Kube, rv: ReleaseValidation) -> None:
    """Hand the target back to Kubernetes; even a spec the models refuse names its target."""
    target_name = (rv.spec.get("targetRef") or {}).get("name")
    if not isinstance(target_name, str):
        return
    observed = await _observe(kube, rv, target_name=target_name)
    await execute.execute(kube, decide.release(observed=observed))


async def _observe(
    kube: client.Kube, rv: ReleaseValidation, *, target_name: str | None
) -> observation.Observed:
    return await observe.observe(
        kube,
        name=rv.name,
        uid=rv.uid,
        namespace=rv.namespace,
        generation=rv.generation,
        annotations=rv.annotations,
        target_name=target_name,
    )


MAX_INTERVALS = 2000
"""The most intervals a series reaches back; at 30 s that is over 16 hours of analysis."""


async def metric_provider(
    kube: client.Kube, namespace: str, spec: v1alpha1.ReleaseValidationSpec
) -> base.MetricProvider | None:
    """The provider of the spec's metrics, with the credentials its Secret holds, if it names one."""
    prometheus = spec.analysis.prometheus
    if prometheus is None:
        return None
    if prometheus.authorization is None:
        return registry.metric_provider(prometheus)
    credentials = await _credentials(kube, namespace, prometheus.authorization.secret_ref)
    return registry.metric_provider(prometheus, credentials)


async def _credentials(
    kube: client.Kube, namespace: str, reference: v1alpha1.CredentialsRef
) -> registry.Credentials:
    """The Secret key's value, or why it cannot be had (naming the Secret, never its value)."""
    secret = f"Secret {namespace}/{reference.name}"
    try:
        data = await kube.read_secret(namespace=namespace, name=reference.name)
    except client.KubeError as error:
        return registry.Credentials(error=str(error))
    if data is None:
        return registry.Credentials(error=f"{secret} named in analysis.prometheus.authorization not found")
    value = data.get(reference.key, b"").decode(errors="replace").strip()
    if not value:
        return registry.Credentials(error=f"{secret} has no value under key {reference.key}")
    if not (value.isascii() and value.isprintable()):
        # An HTTP client refusing such a header would quote the value in its error.
        return registry.Credentials(
            error=f"{secret} key {reference.key} holds characters a header cannot carry"
        )
    return registry.Credentials(value=value)


async def measure_metrics(
    spec: v1alpha1.ReleaseValidationSpec,
    provider: base.MetricProvider | None,
    request: decide.AnalysisRequest,
    *,
    now: datetime.datetime,
) -> tuple[measurement.Measurement | series.SeriesMeasurement, ...]:
    """Each metric as its judge reads it: a threshold one value, the statistical judges a series."""
    if provider is None or not spec.analysis.metrics:
        return ()
    pending: list[Awaitable[measurement.Measurement | series.SeriesMeasurement]] = [
        provider.measure(
            metric,
            canary=selector.pods(request.canary),
            baseline=selector.pods(request.baseline),
            window=request.window,
            baseline_at=request.baseline.at,
        )
        if isinstance(metric.judge, v1alpha1.ThresholdJudge)
        else measure_series(provider, metric, request, now=now)
        for metric in spec.analysis.metrics
    ]
    measured = await asyncio.gather(*pending)
    return tuple(measured)


async def measure_series(
    provider: base.MetricProvider,
    metric: v1alpha1.Metric,
    request: decide.AnalysisRequest,
    *,
    now: datetime.datetime,
) -> series.SeriesMeasurement:
    """The intervals since the analysis began, and what the metric's judge compares them with.

    compare: the baseline over as many intervals, ending when its group is measured (now, or at the
    promotion during the bake). anomaly: the history before the release, and the same intervals one
    season ago. burnRate reads the canary alone.
    """
    step = request.window
    count = _intervals(now - request.since, step=step)
    judge = metric.judge

    def fetch(pods: decide.PodGroup, *, end: datetime.datetime, intervals: int) -> Awaitable[series.Side]:
        return provider.measure_series(metric, pods=selector.pods(pods), end=end, step=step, count=intervals)

    async def nothing() -> series.Side:
        return series.Side()

    baseline: Awaitable[series.Side] | None = None
    seasonal: list[Awaitable[series.Side]] = []
    if isinstance(judge, v1alpha1.CompareJudge):
        baseline = fetch(request.baseline, end=request.baseline.at or now, intervals=count)
    elif isinstance(judge, v1alpha1.AnomalyJudge):
        history_end = request.history.at or request.since
        baseline = fetch(
            request.history, end=history_end, intervals=_intervals(judge.history.value, step=step)
        )
        seasonal = [
            fetch(request.history, end=now - season.value, intervals=count) for season in judge.seasons
        ]
    canary_side, baseline_side, *seasonal_sides = await asyncio.gather(
        fetch(request.canary, end=now, intervals=count), baseline or nothing(), *seasonal
    )
    return series.SeriesMeasurement(
        name=metric.name,
        interval_seconds=step.total_seconds(),
        canary=canary_side,
        baseline=baseline_side,
        seasonal=tuple(seasonal_sides),
        quantile=metric.quantile if isinstance(metric, v1alpha1.LatencyMetric) else None,
    )


def _intervals(span: datetime.timedelta, *, step: datetime.timedelta) -> int:
    """Whole intervals in `span`, at least one and at most MAX_INTERVALS."""
    return max(1, min(MAX_INTERVALS, int(span / step)))


async def measure_checks(
    kube: client.Kube,
    spec: v1alpha1.ReleaseValidationSpec,
    request: decide.AnalysisRequest,
    *,
    settings: Settings,
) -> tuple[measurement.Measurement, ...]:
    """Run the synthetic checks against the canary's and the baseline's Ready pods, as of now.

    A baseline evaluated as of the past (during the bake) has no pods to call: it is left empty, and the
    check judges the new revision alone.
    """
    checks = spec.analysis.synthetic_checks
    if not checks:
        return ()
    namespace = request.canary.namespace
    canary_pods, baseline_pods, service = await asyncio.gather(
        observe.ready_pods(kube, namespace=namespace, labels=request.canary.labels),
        observe.ready_pods(kube, namespace=namespace, labels=request.baseline.labels)
        if request.baseline.at is None
        else _no_pods(),
        observe.service(kube, namespace=namespace, name=spec.service),
    )
    overrides = load_address_map(settings.pod_address_map)
    port = service.target_port if service is not None else None
    # Without the Service (and without a map giving each pod's address) a check naming no port has none to
    # call: guessing one would fail healthy pods and roll a release back for a typo.
    no_port = (
        f"Service {namespace}/{spec.service} not found: no port to call the pods on; set the check's port"
        if service is None and overrides is None
        else None
    )
    measured = await asyncio.gather(
        *(
            _not_measured(check.name, no_port)
            if no_port is not None and check.http.port is None
            else http_check.measure_check(
                check,
                canary=pod_addresses(canary_pods, check=check, service_port=port, overrides=overrides),
                baseline=pod_addresses(baseline_pods, check=check, service_port=port, overrides=overrides),
            )
            for check in checks
        )
    )
    return tuple(measured)


async def _not_measured(name: str, why: str) -> measurement.Measurement:
    side = base.side_from_error(base.ProviderUnavailable(why), queries="")
    return measurement.Measurement(name=name, canary=side, baseline=side)


async def _no_pods() -> list[observe.PodEndpoint]:
    return []


def pod_addresses(
    pods: list[observe.PodEndpoint],
    *,
    check: v1alpha1.SyntheticCheck,
    service_port: int | str | None,
    overrides: Mapping[str, str] | None,
) -> list[str]:
    """Where to call each pod. With an address map (pod uid to host:port), a pod it does not list is not
    called at all: the map exists because pod IPs are not routable from here. It names pods by uid because
    a new pod may take the IP of one whose process is still stopping: called through a map by IP, a Ready
    pod of the new revision would be charged with the old process' refusals."""
    addresses = []
    for pod in pods:
        if overrides is not None:
            if pod.uid in overrides:
                addresses.append(overrides[pod.uid])
            continue
        port = check.http.port or (service_port if isinstance(service_port, int) else None)
        if port is None and isinstance(service_port, str):
            port = pod.ports.get(service_port)
        addresses.append(f"{pod.ip}:{port or 80}")
    return addresses


def load_address_map(path: pathlib.Path | None) -> dict[str, str] | None:
    """The address map, None when none is configured; an unreadable map maps nothing."""
    if path is None:
        return None
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(ip): str(address) for ip, address in loaded.items()} if isinstance(loaded, dict) else {}


def parse_spec(spec: Mapping[str, Any]) -> v1alpha1.ReleaseValidationSpec | decide.InvalidSpec:
    try:
        return v1alpha1.ReleaseValidationSpec.model_validate(dict(spec))
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"spec.{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        return decide.InvalidSpec(message=problems)
