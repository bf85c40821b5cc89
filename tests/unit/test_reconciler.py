"""What the reconciler asks its providers for: where synthetic checks call pods (never an address the
operator was told it cannot route to) and which intervals each statistical judge reads; and how it stores
a decision ahead of its actions."""

from __future__ import annotations

import asyncio
import collections.abc
import dataclasses
import datetime
import http.server
import json
import pathlib
import threading

import pytest

from releaseguard import reconciler
from releaseguard.analysis import measurement, series
from releaseguard.kube import client, observe
from releaseguard.models import v1alpha1
from releaseguard.providers import prometheus, selector
from releaseguard.rollout import decide, observation, plan

CHECK = v1alpha1.SyntheticCheck.model_validate({"name": "journey", "http": {"path": "/api/checkout"}})
PODS = [
    observe.PodEndpoint(uid="uid-1", ip="10.0.0.1", ports={"http": 8080}),
    observe.PodEndpoint(uid="uid-2", ip="10.0.0.2", ports={"http": 8081}),
]


@pytest.mark.parametrize(
    ("service_port", "check_port", "expected"),
    [
        (80, None, ["10.0.0.1:80", "10.0.0.2:80"]),
        ("http", None, ["10.0.0.1:8080", "10.0.0.2:8081"]),
        ("missing", None, ["10.0.0.1:80", "10.0.0.2:80"]),
        (80, 9000, ["10.0.0.1:9000", "10.0.0.2:9000"]),
    ],
)
def test_pod_ports_follow_the_check_then_the_service(service_port, check_port, expected) -> None:
    check = CHECK.model_copy(update={"http": CHECK.http.model_copy(update={"port": check_port})})
    assert reconciler.pod_addresses(PODS, check=check, service_port=service_port, overrides=None) == expected


def test_with_an_address_map_only_pods_it_names_by_uid_are_called(tmp_path: pathlib.Path) -> None:
    # An entry by IP may be a stopped pod's, whose IP a new pod took: it is not a way to call the new one.
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"uid-2": "127.0.0.1:41000", "10.0.0.1": "127.0.0.1:41001"}))
    overrides = reconciler.load_address_map(path)
    assert reconciler.pod_addresses(PODS, check=CHECK, service_port=80, overrides=overrides) == [
        "127.0.0.1:41000"
    ]


def test_a_configured_but_missing_map_calls_nobody(tmp_path: pathlib.Path) -> None:
    overrides = reconciler.load_address_map(tmp_path / "absent.json")
    assert overrides == {}
    assert reconciler.pod_addresses(PODS, check=CHECK, service_port=80, overrides=overrides) == []


@dataclasses.dataclass
class PodsKube:
    """One Ready pod on 127.0.0.1 in each group, and the Service if there is one."""

    service: dict[str, object] | None = None

    async def list_pods(self, *, namespace: str, label_selector: str) -> list[dict[str, object]]:
        ready = {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}
        return [{"metadata": {"name": "p"}, "spec": {}, "status": ready}]

    async def read_service(self, *, namespace: str, name: str) -> dict[str, object] | None:
        return self.service


def checks_spec(*checks: dict[str, object]) -> v1alpha1.ReleaseValidationSpec:
    return v1alpha1.ReleaseValidationSpec.model_validate(
        {
            "targetRef": {"name": "checkout"},
            "service": "checkout",
            "steps": [{"weight": 20, "duration": "1m"}],
            "analysis": {"syntheticChecks": list(checks)},
        }
    )


@pytest.fixture
def pod_port() -> collections.abc.Iterator[int]:
    """A pod's HTTP port on 127.0.0.1 that answers every GET with 200."""

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_without_its_service_a_check_naming_no_port_is_inconclusive_not_failed(pod_port: int) -> None:
    spec = checks_spec(
        {"name": "guessing", "http": {"path": "/"}},
        {"name": "ported", "http": {"path": "/", "port": pod_port}},
    )
    settings = reconciler.Settings()
    guessing, ported = asyncio.run(
        reconciler.measure_checks(PodsKube(service=None), spec, request(), settings=settings)  # type: ignore[arg-type]
    )

    for side in (guessing.canary, guessing.baseline):
        assert side.unavailable == measurement.Unavailable.PROVIDER_UNAVAILABLE
        assert "Service shop/checkout not found" in side.detail
    assert (ported.canary.value, ported.baseline.value) == (1.0, 1.0)

    service = {"spec": {"ports": [{"port": 80, "targetPort": pod_port}]}}
    guessing, _ = asyncio.run(
        reconciler.measure_checks(PodsKube(service=service), spec, request(), settings=settings)  # type: ignore[arg-type]
    )
    assert (guessing.canary.value, guessing.baseline.value) == (1.0, 1.0)


# --- series for the statistical judges ------------------------------------------------------------------

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


@dataclasses.dataclass
class RecordingProvider:
    """Answers every series with no points and remembers what was asked: pod regex, end, count."""

    asked: list[tuple[str, datetime.datetime, int]] = dataclasses.field(default_factory=list)

    async def measure(self, *args: object, **kwargs: object) -> measurement.Measurement:
        raise AssertionError("a statistical judge reads series, not one value")

    async def measure_series(
        self,
        metric: v1alpha1.Metric,
        *,
        pods: selector.Selector,
        end: datetime.datetime,
        step: datetime.timedelta,
        count: int,
    ) -> series.Side:
        assert step == datetime.timedelta(seconds=30)
        self.asked.append((pods[1].value, end, count))
        return series.Side()


def group(regex: str, at: datetime.datetime | None = None) -> decide.PodGroup:
    return decide.PodGroup(namespace="shop", pod_regex=regex, at=at)


def request(*, baseline_at: datetime.datetime | None = None) -> decide.AnalysisRequest:
    return decide.AnalysisRequest(
        canary=group("canary"),
        baseline=group("stable", baseline_at),
        window=datetime.timedelta(seconds=30),
        since=NOW - 10 * MINUTE,
        history=group("all", baseline_at or NOW - 10 * MINUTE),
    )


def metric(judge: dict[str, object]) -> v1alpha1.Metric:
    return v1alpha1.Analysis.model_validate(
        {
            "prometheus": {"url": "http://p:9090"},
            "metrics": [
                {
                    "name": "errors",
                    "kind": "ratio",
                    "errors": "e{{selector}}",
                    "total": "t{{selector}}",
                    "judge": judge,
                }
            ],
        }
    ).metrics[0]


def asked_for(
    judge: dict[str, object], *, baseline_at: datetime.datetime | None = None
) -> list[tuple[str, datetime.datetime, int]]:
    provider = RecordingProvider()
    measured = asyncio.run(
        reconciler.measure_series(provider, metric(judge), request(baseline_at=baseline_at), now=NOW)
    )
    assert measured.interval_seconds == 30
    return provider.asked


def test_compare_reads_both_groups_over_every_interval_since_the_analysis_began() -> None:
    assert asked_for({"type": "compare"}) == [("canary", NOW, 20), ("stable", NOW, 20)]
    promoted = NOW - 15 * MINUTE
    # During the bake the stable pods are gone: their last intervals before the promotion stand in.
    assert asked_for({"type": "compare"}, baseline_at=promoted) == [
        ("canary", NOW, 20),
        ("stable", promoted, 20),
    ]


def test_anomaly_reads_the_history_before_the_release_and_the_same_time_a_season_ago() -> None:
    judge = {"type": "anomaly", "history": "2h", "seasons": ["24h", "168h"]}
    assert asked_for(judge) == [
        ("canary", NOW, 20),
        ("all", NOW - 10 * MINUTE, 240),
        ("all", NOW - datetime.timedelta(hours=24), 20),
        ("all", NOW - datetime.timedelta(hours=168), 20),
    ]


def test_burn_rate_reads_the_canary_alone() -> None:
    assert asked_for({"type": "burnRate", "objective": 0.999}) == [("canary", NOW, 20)]


# --- a decision stored before its actions ---------------------------------------------------------------


@dataclasses.dataclass
class RecordingKube:
    """Records the writes `store` makes, in order; refuses Events when told to."""

    calls: list[tuple[str, object]] = dataclasses.field(default_factory=list)
    refuse_events: bool = False

    async def patch_release_validation_status(self, *, namespace: str, name: str, status: object) -> None:
        self.calls.append(("status", status))

    async def annotate_release_validation(self, *, namespace: str, name: str, annotations: object) -> None:
        self.calls.append(("annotations", annotations))

    async def post_event(
        self, *, involved: object, type_: str, reason: str, message: str, now: object
    ) -> None:
        if self.refuse_events:
            raise client.KubeError("posting an Event: 403 Forbidden")
        self.calls.append(("event", (involved, type_, reason, message)))


RV = reconciler.ReleaseValidation(
    name="checkout", namespace="shop", uid="u-1", generation=3, annotations={}, spec={}, status={}
)


def test_store_posts_the_events_then_writes_the_status_then_drops_the_requests() -> None:
    before = v1alpha1.ReleaseValidationStatus(phase=v1alpha1.Phase.PROGRESSING)
    decision = plan.Plan(
        status=before.model_copy(update={"phase": v1alpha1.Phase.ROLLING_BACK}),
        events=(plan.Event(type=plan.EventType.WARNING, reason="Aborted", message="aborted by a human"),),
        consumed=frozenset({observation.Request.ABORT}),
        store_first=True,
    )
    kube = RecordingKube()
    stored = asyncio.run(reconciler.store(kube, RV, before=before, decision=decision, now=NOW))  # type: ignore[arg-type]
    assert kube.calls == [
        (
            "event",
            (
                {
                    "apiVersion": "releaseguard.io/v1alpha1",
                    "kind": "ReleaseValidation",
                    "namespace": "shop",
                    "name": "checkout",
                    "uid": "u-1",
                },
                "Warning",
                "Aborted",
                "aborted by a human",
            ),
        ),
        ("status", {"phase": "RollingBack"}),
        ("annotations", {observation.Request.ABORT.annotation: None}),
    ]
    assert stored.events == ()
    assert stored.status == decision.status


def test_an_event_that_cannot_be_posted_does_not_stop_the_decision(caplog: pytest.LogCaptureFixture) -> None:
    before = v1alpha1.ReleaseValidationStatus(phase=v1alpha1.Phase.PROGRESSING)
    decision = plan.Plan(
        status=before.model_copy(update={"phase": v1alpha1.Phase.PROMOTING}),
        events=(plan.Event(type=plan.EventType.NORMAL, reason="Promoting", message="promoting h2"),),
        store_first=True,
    )
    kube = RecordingKube(refuse_events=True)
    stored = asyncio.run(reconciler.store(kube, RV, before=before, decision=decision, now=NOW))  # type: ignore[arg-type]
    assert kube.calls == [("status", {"phase": "Promoting"})]
    assert stored.events == ()
    assert "Promoting Event not posted: posting an Event: 403 Forbidden" in caplog.text


# --- credentials of the metric source -------------------------------------------------------------------


@dataclasses.dataclass
class SecretsKube:
    """Serves Secrets from a dict; a None entry is one the apiserver refuses to show."""

    secrets: dict[str, dict[str, bytes] | None]

    async def read_secret(self, *, namespace: str, name: str) -> dict[str, bytes] | None:
        if name in self.secrets and self.secrets[name] is None:
            raise client.KubeError(f"reading Secret {namespace}/{name}: 403 Forbidden")
        return self.secrets.get(name)


def spec_with_prometheus(**prometheus: object) -> v1alpha1.ReleaseValidationSpec:
    return v1alpha1.ReleaseValidationSpec.model_validate(
        {
            "targetRef": {"name": "checkout"},
            "service": "checkout",
            "steps": [{"weight": 20, "duration": "1m"}],
            "analysis": {
                "prometheus": {"url": "https://prometheus.example.com", **prometheus},
                "metrics": [
                    {
                        "name": "up",
                        "kind": "gauge",
                        "query": "up{{{ selector }}}",
                        "judge": {"type": "threshold", "min": 1},
                    }
                ],
            },
        }
    )


def provider_for(spec: v1alpha1.ReleaseValidationSpec, kube: SecretsKube) -> prometheus.PrometheusProvider:
    provider = asyncio.run(reconciler.metric_provider(kube, "shop", spec))  # type: ignore[arg-type]
    assert isinstance(provider, prometheus.PrometheusProvider)
    return provider


def test_the_metric_source_is_asked_with_the_credentials_its_secret_holds() -> None:
    spec = spec_with_prometheus(authorization={"secretRef": {"name": "prometheus-reader"}})
    provider = provider_for(spec, SecretsKube({"prometheus-reader": {"token": b"t0ken\n"}}))
    assert (provider.authorization, provider.credentials_error) == ("Bearer t0ken", None)
    assert "t0ken" not in repr(provider)

    basic = spec_with_prometheus(
        authorization={"type": "Basic", "secretRef": {"name": "auth", "key": "basic"}}
    )
    provider = provider_for(basic, SecretsKube({"auth": {"basic": b"dXNlcjpwYXNz"}}))
    assert provider.authorization == "Basic dXNlcjpwYXNz"


def test_a_source_without_authorization_reads_no_secret() -> None:
    provider = provider_for(spec_with_prometheus(), SecretsKube({}))
    assert (provider.authorization, provider.credentials_error) == (None, None)


@pytest.mark.parametrize(
    ("secrets", "error"),
    [
        ({}, "Secret shop/prometheus-reader named in analysis.prometheus.authorization not found"),
        (
            {"prometheus-reader": {"other": b"x"}},
            "Secret shop/prometheus-reader has no value under key token",
        ),
        (
            {"prometheus-reader": {"token": b"  \n"}},
            "Secret shop/prometheus-reader has no value under key token",
        ),
        ({"prometheus-reader": None}, "reading Secret shop/prometheus-reader: 403 Forbidden"),
        (
            {"prometheus-reader": {"token": b"t0k\r\nX-Injected: 1"}},
            "Secret shop/prometheus-reader key token holds characters a header cannot carry",
        ),
        (
            {"prometheus-reader": {"token": "t0kén✓".encode()}},
            "Secret shop/prometheus-reader key token holds characters a header cannot carry",
        ),
    ],
)
def test_credentials_that_cannot_be_had_are_the_reason_every_query_is_unavailable(
    secrets: dict[str, dict[str, bytes] | None], error: str
) -> None:
    spec = spec_with_prometheus(authorization={"secretRef": {"name": "prometheus-reader"}})
    provider = provider_for(spec, SecretsKube(secrets))
    assert (provider.authorization, provider.credentials_error) == (None, error)
