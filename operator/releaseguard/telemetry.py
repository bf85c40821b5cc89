"""The operator's own metrics, served on `/metrics` for Prometheus to scrape.

Every family is defined here, on a registry of our own, behind a few functions that the I/O layers call
(reconciler, Prometheus provider, delivery, handlers): the pure packages stay free of it, and no metric
object is shared around. Per-release series are labelled by namespace and name and go when the
ReleaseValidation does, so a cluster that churns through releases does not pile up dead series.

What is counted follows the stored status, compared before and after each reconciliation: a restart
re-reads a status that already holds a decision and counts nothing again. This module sits beside the
models, not above them, so it takes phases and verdicts as their names.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import threading
from collections.abc import Iterable, Iterator

import prometheus_client
import prometheus_client.registry
from prometheus_client import metrics_core

PHASES = (
    "Idle",
    "Progressing",
    "Paused",
    "Promoting",
    "Baking",
    "Succeeded",
    "RollingBack",
    "RolledBack",
    "Degraded",
)
"""Every phase of v1alpha1.Phase (a unit test keeps the two alike): each has a sample, 0 when unused."""
OUTCOMES = {"Promoting": "promote", "RollingBack": "rollback", "Paused": "pause"}
"""The phases a decision moves a release into, and the outcome each counts as."""
VERDICTS = {"Pass": "pass", "Fail": "fail", "Inconclusive": "inconclusive"}
QUERY_ERRORS = ("NoDataError", "ProviderUnavailable", "QueryError")
"""The provider's errors (providers.base), each a series from the start."""
ROUTE_TYPES = ("alertmanager", "log", "slack", "webhook")
"""The notification route types (v1alpha1.Notification), each a series from the start."""
_RELEASE_LABELS = ("namespace", "releasevalidation")
_FORGOTTEN_KEPT = 4096
"""Deleted releases remembered, so that a reconciliation still under way when its release is deleted
cannot bring it back into the counts."""

# The timer ticks every 2 s while a release is in flight, so an analysis runs up to a tick late.
_LAG_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
# Synthetic checks and Prometheus queries run side by side, each with a 10 s limit.
_ANALYSIS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0, 60.0)


class Delivery(enum.StrEnum):
    """How one attempt to deliver a notification ended."""

    DELIVERED = "delivered"
    FAILED = "failed"
    """Failed; tried again later."""
    GIVEN_UP = "given_up"
    """Failed for the last time."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Release:
    namespace: str
    name: str
    phase: str | None


class Telemetry:
    """The families on one registry, and what they need to remember: each release's phase."""

    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        self._lock = threading.Lock()
        self._releases: dict[str, _Release] = {}
        self._forgotten: collections.OrderedDict[str, None] = collections.OrderedDict()
        registry.register(_PhaseCollector(self))
        self.decisions = prometheus_client.Counter(
            "releaseguard_decisions",
            "Decisions taken: a release moved into Promoting (promote), RollingBack (rollback) or Paused "
            "(pause).",
            [*_RELEASE_LABELS, "outcome"],
            registry=registry,
        )
        self.verdicts = prometheus_client.Counter(
            "releaseguard_analysis_verdicts",
            "Verdicts of each metric and synthetic check, one per analysis.",
            [*_RELEASE_LABELS, "metric", "verdict"],
            registry=registry,
        )
        self.analysis_lag = prometheus_client.Histogram(
            "releaseguard_analysis_lag_seconds",
            "How long after it was due (the previous analysis plus the interval) an analysis ran.",
            buckets=_LAG_BUCKETS,
            registry=registry,
        )
        self.analysis_duration = prometheus_client.Histogram(
            "releaseguard_analysis_duration_seconds",
            "Wall time of one analysis: every metric and synthetic check of one release.",
            buckets=_ANALYSIS_BUCKETS,
            registry=registry,
        )
        self.query_duration = prometheus_client.Histogram(
            "releaseguard_prometheus_query_duration_seconds",
            "Wall time of one query to the Prometheus HTTP API, failed ones included.",
            registry=registry,
        )
        self.query_errors = prometheus_client.Counter(
            "releaseguard_prometheus_query_errors",
            "Queries to Prometheus that failed, or whose answer could not be used, by the provider error.",
            ["reason"],
            registry=registry,
        )
        for reason in QUERY_ERRORS:
            self.query_errors.labels(reason)
        self.deliveries = prometheus_client.Counter(
            "releaseguard_notification_deliveries",
            "Attempts to deliver a notification, by route type and how they ended.",
            ["type", "result"],
            registry=registry,
        )
        for route_type in ROUTE_TYPES:
            for result in Delivery:
                self.deliveries.labels(route_type, result.value)

    def observe_phase(
        self, *, uid: str, namespace: str, name: str, before: str | None, after: str | None
    ) -> None:
        with self._lock:
            if uid in self._forgotten:
                return
            known = self._releases.get(uid)
            self._releases[uid] = _Release(namespace=namespace, name=name, phase=after)
        if known is None:  # every outcome is a series from the start, so that the first one is a rise
            for outcome in OUTCOMES.values():
                self.decisions.labels(namespace, name, outcome)
        if after != before and after in OUTCOMES:
            self.decisions.labels(namespace, name, OUTCOMES[after]).inc()

    def count_verdicts(
        self, *, uid: str, namespace: str, name: str, verdicts: Iterable[tuple[str, str]]
    ) -> None:
        with self._lock:
            if uid in self._forgotten:
                return
        for metric, verdict in verdicts:
            for each in VERDICTS.values():
                self.verdicts.labels(namespace, name, metric, each)
            self.verdicts.labels(namespace, name, metric, VERDICTS[verdict]).inc()

    def forget_release(self, uid: str) -> None:
        with self._lock:
            self._forgotten[uid] = None
            if len(self._forgotten) > _FORGOTTEN_KEPT:
                self._forgotten.popitem(last=False)
            known = self._releases.pop(uid, None)
        if known is not None:
            labels = {"namespace": known.namespace, "releasevalidation": known.name}
            self.decisions.remove_by_labels(labels)
            self.verdicts.remove_by_labels(labels)

    def phases(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(r.phase for r in self._releases.values() if r.phase is not None)


class _PhaseCollector(prometheus_client.registry.Collector):
    """`releaseguard_releases`, counted from the phases remembered when it is scraped."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def collect(self) -> Iterator[metrics_core.Metric]:
        counts = self._telemetry.phases()
        family = metrics_core.GaugeMetricFamily(
            "releaseguard_releases", "ReleaseValidations in each phase.", labels=["phase"]
        )
        for phase in PHASES:
            family.add_metric([phase], counts[phase])
        yield family


REGISTRY = prometheus_client.CollectorRegistry()
"""What `/metrics` serves: our families, and the process' own (CPU, memory, file descriptors, GC)."""
prometheus_client.ProcessCollector(registry=REGISTRY)
prometheus_client.PlatformCollector(registry=REGISTRY)
prometheus_client.GCCollector(registry=REGISTRY)
DEFAULT = Telemetry(REGISTRY)
"""The families the functions below move; tests put one on a fresh registry in its place."""


def serve(address: str) -> None:
    """Serve `/metrics` on HOST:PORT from a background thread."""
    host, _, port = address.rpartition(":")
    prometheus_client.start_http_server(int(port), addr=host or "0.0.0.0", registry=REGISTRY)


def observe_phase(*, uid: str, namespace: str, name: str, before: str | None, after: str | None) -> None:
    """A reconciliation moved the stored phase from `before` to `after` (maybe the same): the release
    counts in its new phase, and a move into Promoting, RollingBack or Paused counts as a decision."""
    DEFAULT.observe_phase(uid=uid, namespace=namespace, name=name, before=before, after=after)


def count_verdicts(*, uid: str, namespace: str, name: str, verdicts: Iterable[tuple[str, str]]) -> None:
    """One analysis judged each metric or synthetic check: (its name, Pass, Fail or Inconclusive)."""
    DEFAULT.count_verdicts(uid=uid, namespace=namespace, name=name, verdicts=verdicts)


def forget_release(uid: str) -> None:
    """The ReleaseValidation is gone: it leaves the phase counts, and its series go."""
    DEFAULT.forget_release(uid)


def observe_analysis(*, seconds: float, lag: float) -> None:
    """An analysis took `seconds` and ran `lag` seconds after it was due."""
    DEFAULT.analysis_duration.observe(seconds)
    DEFAULT.analysis_lag.observe(max(0.0, lag))


def observe_query(seconds: float, *, error: BaseException | None = None) -> None:
    """A query to Prometheus took `seconds`, and failed with `error` if one is given."""
    DEFAULT.query_duration.observe(seconds)
    if error is not None:
        count_query_error(error)


def count_query_error(error: BaseException) -> None:
    """A query's answer could not be used (no data, a shape the metric cannot read)."""
    DEFAULT.query_errors.labels(type(error).__name__).inc()


def count_delivery(route_type: str, result: Delivery) -> None:
    """An attempt to deliver a notification to a route of `route_type` ended with `result`."""
    DEFAULT.deliveries.labels(route_type, result.value).inc()
