"""The operator's metrics: what each call moves, read back from a fresh registry per test."""

from __future__ import annotations

import asyncio
import collections.abc
import datetime
import itertools
import re
import threading
import typing

import prometheus_client
import pytest

from releaseguard import reconciler, telemetry
from releaseguard.models import v1alpha1
from releaseguard.notify import outbox
from releaseguard.providers import base, prometheus
from tests.unit import test_delivery, test_prometheus_provider

Phase = v1alpha1.Phase
Registry = prometheus_client.CollectorRegistry
NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
RV = reconciler.ReleaseValidation(
    name="checkout", namespace="shop", uid="uid-1", generation=1, annotations={}, spec={}, status={}
)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    fresh = Registry()
    monkeypatch.setattr(telemetry, "DEFAULT", telemetry.Telemetry(fresh))
    return fresh


def phase_count(registry: Registry, phase: str) -> float | None:
    return registry.get_sample_value("releaseguard_releases", {"phase": phase})


def decisions(registry: Registry, outcome: str, *, name: str = "checkout") -> float | None:
    labels = {"namespace": "shop", "releasevalidation": name, "outcome": outcome}
    return registry.get_sample_value("releaseguard_decisions_total", labels)


def verdicts(registry: Registry, metric: str, verdict: str) -> float | None:
    labels = {"namespace": "shop", "releasevalidation": "checkout", "metric": metric, "verdict": verdict}
    return registry.get_sample_value("releaseguard_analysis_verdicts_total", labels)


def move(uid: str, before: str | None, after: str | None, *, name: str = "checkout") -> None:
    telemetry.observe_phase(uid=uid, namespace="shop", name=name, before=before, after=after)


def test_every_phase_has_a_sample_from_the_start(registry: Registry) -> None:
    assert {phase: phase_count(registry, phase) for phase in telemetry.PHASES} == dict.fromkeys(
        telemetry.PHASES, 0.0
    )


def test_the_phases_follow_updates_and_deletes(registry: Registry) -> None:
    move("a", None, Phase.IDLE, name="a")
    move("b", None, Phase.IDLE, name="b")
    move("c", Phase.IDLE, Phase.PROGRESSING, name="c")
    assert (phase_count(registry, "Idle"), phase_count(registry, "Progressing")) == (2, 1)

    move("a", Phase.IDLE, Phase.PROGRESSING, name="a")
    assert (phase_count(registry, "Idle"), phase_count(registry, "Progressing")) == (1, 2)

    telemetry.forget_release("c")
    assert phase_count(registry, "Progressing") == 1
    # A reconciliation that was under way when the release was deleted does not bring it back.
    move("c", Phase.PROGRESSING, Phase.PROMOTING, name="c")
    assert phase_count(registry, "Progressing") == 1
    assert phase_count(registry, "Promoting") == 0


def test_a_release_not_adopted_yet_counts_in_no_phase(registry: Registry) -> None:
    move("a", None, None)
    assert sum(phase_count(registry, phase) or 0 for phase in telemetry.PHASES) == 0


@pytest.mark.parametrize(
    ("before", "after", "outcome"),
    [
        (Phase.PROGRESSING, Phase.PROMOTING, "promote"),
        (Phase.PAUSED, Phase.PROMOTING, "promote"),
        (Phase.PROGRESSING, Phase.ROLLING_BACK, "rollback"),
        (Phase.BAKING, Phase.ROLLING_BACK, "rollback"),
        (Phase.PROGRESSING, Phase.PAUSED, "pause"),
    ],
)
def test_a_move_into_a_decision_is_counted_once(
    registry: Registry, before: str, after: str, outcome: str
) -> None:
    move("a", before, after)
    move("a", after, after)  # the next reconciliations find it already there
    move("a", after, after)
    assert decisions(registry, outcome) == 1
    assert {
        other: decisions(registry, other) for other in ("promote", "rollback", "pause") if other != outcome
    } == {other: 0.0 for other in ("promote", "rollback", "pause") if other != outcome}


def test_a_restart_does_not_count_a_stored_decision_again(registry: Registry) -> None:
    # A fresh process reads the stored status: before and after are both the phase already decided.
    move("a", Phase.ROLLING_BACK, Phase.ROLLING_BACK)
    move("a", Phase.ROLLING_BACK, Phase.ROLLED_BACK)
    assert decisions(registry, "rollback") == 0
    assert phase_count(registry, "RolledBack") == 1


def test_each_pause_is_a_decision_and_no_other_move_is(registry: Registry) -> None:
    path = [None, Phase.IDLE, Phase.PROGRESSING, Phase.PAUSED, Phase.PROGRESSING, Phase.PAUSED]
    path += [Phase.PROMOTING, Phase.BAKING, Phase.SUCCEEDED, Phase.IDLE, Phase.DEGRADED]
    for before, after in itertools.pairwise(path):
        move("a", before, after)
    assert (
        decisions(registry, "pause"),
        decisions(registry, "promote"),
        decisions(registry, "rollback"),
    ) == (
        2,
        1,
        0,
    )


def test_a_deleted_release_takes_its_series_along(registry: Registry) -> None:
    move("a", Phase.PROGRESSING, Phase.PROMOTING)
    telemetry.count_verdicts(uid="a", namespace="shop", name="checkout", verdicts=[("error-rate", "Pass")])
    move("b", Phase.PROGRESSING, Phase.PROMOTING, name="other")

    telemetry.forget_release("a")
    telemetry.count_verdicts(uid="a", namespace="shop", name="checkout", verdicts=[("error-rate", "Pass")])

    assert decisions(registry, "promote") is None
    assert verdicts(registry, "error-rate", "pass") is None
    assert decisions(registry, "promote", name="other") == 1


def test_verdicts_count_one_per_metric_and_every_verdict_has_a_series(registry: Registry) -> None:
    telemetry.count_verdicts(
        uid="a",
        namespace="shop",
        name="checkout",
        verdicts=[("error-rate", "Fail"), ("checkout-journey", "Pass")],
    )
    telemetry.count_verdicts(uid="a", namespace="shop", name="checkout", verdicts=[("error-rate", "Fail")])
    assert [verdicts(registry, "error-rate", v) for v in ("pass", "fail", "inconclusive")] == [0, 2, 0]
    assert [verdicts(registry, "checkout-journey", v) for v in ("pass", "fail", "inconclusive")] == [1, 0, 0]


def summary(at: datetime.datetime, **results: v1alpha1.Verdict) -> v1alpha1.AnalysisSummary:
    verdict = v1alpha1.Verdict.FAIL if v1alpha1.Verdict.FAIL in results.values() else v1alpha1.Verdict.PASS
    return v1alpha1.AnalysisSummary(
        time=at,
        verdict=verdict,
        results=tuple(v1alpha1.Result(name=name, verdict=value) for name, value in results.items()),
    )


def status(phase: Phase, last: v1alpha1.AnalysisSummary | None = None) -> v1alpha1.ReleaseValidationStatus:
    return v1alpha1.ReleaseValidationStatus(phase=phase, step_started_at=NOW, last_analysis=last)


def test_the_reconciler_counts_an_analysis_that_ran_and_not_the_one_stored(registry: Registry) -> None:
    earlier = summary(NOW, error=v1alpha1.Verdict.PASS)
    fresh = summary(NOW + datetime.timedelta(seconds=5), error=v1alpha1.Verdict.FAIL)

    reconciler.record_telemetry(
        RV, before=status(Phase.PROGRESSING), after=status(Phase.PROGRESSING, earlier)
    )
    reconciler.record_telemetry(
        RV, before=status(Phase.PROGRESSING, earlier), after=status(Phase.PROGRESSING, earlier)
    )
    reconciler.record_telemetry(
        RV, before=status(Phase.PROGRESSING, earlier), after=status(Phase.ROLLING_BACK, fresh)
    )

    assert (verdicts(registry, "error", "pass"), verdicts(registry, "error", "fail")) == (1, 1)
    assert decisions(registry, "rollback") == 1
    assert phase_count(registry, "RollingBack") == 1


SPEC = v1alpha1.ReleaseValidationSpec.model_validate(
    {
        "targetRef": {"name": "web"},
        "service": "web",
        "steps": [{"weight": 10, "duration": "1m"}],
        "analysis": {"interval": "10s", "syntheticChecks": [{"name": "home", "http": {"path": "/"}}]},
    }
)


@pytest.mark.parametrize(
    ("last", "step_started", "lag"),
    [
        (None, 0, 0.0),  # the first analysis
        (-15, -60, 5.0),  # due 5 s ago
        (-10, -60, 0.0),  # due now
        (-4, -60, 0.0),  # a resumed release's early one
        (-30, -20, 0.0),  # the first of a new step: it waited for the canary, not for the operator
    ],
)
def test_the_lag_counts_from_the_previous_analysis_plus_the_interval(
    last: int | None, step_started: int, lag: float
) -> None:
    previous = None if last is None else summary(NOW + datetime.timedelta(seconds=last))
    stored = v1alpha1.ReleaseValidationStatus(
        phase=Phase.PROGRESSING,
        step_started_at=NOW + datetime.timedelta(seconds=step_started),
        last_analysis=previous,
    )
    assert reconciler.analysis_lag(SPEC, stored, now=NOW) == lag


def test_an_analysis_moves_both_histograms(registry: Registry) -> None:
    telemetry.observe_analysis(seconds=0.3, lag=1.5)
    telemetry.observe_analysis(seconds=2.5, lag=-1)  # early: no lag
    duration, lag = "releaseguard_analysis_duration_seconds", "releaseguard_analysis_lag_seconds"
    assert registry.get_sample_value(f"{duration}_count") == 2
    assert registry.get_sample_value(f"{duration}_sum") == pytest.approx(2.8)
    assert registry.get_sample_value(f"{duration}_bucket", {"le": "0.5"}) == 1
    assert registry.get_sample_value(f"{lag}_sum") == pytest.approx(1.5)
    assert registry.get_sample_value(f"{lag}_bucket", {"le": "0.5"}) == 1


def query_errors(registry: Registry) -> dict[str, float | None]:
    return {
        reason: registry.get_sample_value("releaseguard_prometheus_query_errors_total", {"reason": reason})
        for reason in telemetry.QUERY_ERRORS
    }


def test_a_query_moves_the_duration_and_a_failed_one_its_reason(registry: Registry) -> None:
    telemetry.observe_query(0.02)
    telemetry.observe_query(10.0, error=base.ProviderUnavailable("timed out"))
    assert registry.get_sample_value("releaseguard_prometheus_query_duration_seconds_count") == 2
    assert query_errors(registry) == {"NoDataError": 0, "ProviderUnavailable": 1, "QueryError": 0}


@pytest.fixture
def stub() -> collections.abc.Iterator[test_prometheus_provider.StubPrometheus]:
    server = test_prometheus_provider.StubPrometheus()
    thread = threading.Thread(target=server.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join(timeout=5)


def test_the_provider_counts_each_query_and_each_error_once(
    registry: Registry, stub: test_prometheus_provider.StubPrometheus
) -> None:
    vector, error = test_prometheus_provider.vector, test_prometheus_provider.error
    stub.answer('errors{track="canary"}[2m]', vector("1"))
    stub.answer('total{track="canary"}', vector())  # no traffic: the answer cannot be used
    stub.answer('errors{track="stable"}[2m]', error(400, "bad_data", "parse error"))
    stub.answer('total{track="stable"}', error(503, "unavailable", "down"))

    result = test_prometheus_provider.measure(stub.url, test_prometheus_provider.RATIO)

    assert result.canary.unavailable == base.NoDataError.reason
    assert registry.get_sample_value("releaseguard_prometheus_query_duration_seconds_count") == 4
    assert query_errors(registry) == {"NoDataError": 1, "ProviderUnavailable": 1, "QueryError": 1}


def test_a_refused_series_query_is_counted_once(
    registry: Registry, stub: test_prometheus_provider.StubPrometheus
) -> None:
    provider = prometheus.PrometheusProvider(stub.url)
    asyncio.run(
        provider.measure_series(
            test_prometheus_provider.GAUGE,
            pods=test_prometheus_provider.CANARY,
            end=NOW,
            step=datetime.timedelta(seconds=30),
            count=4,
        )
    )
    assert query_errors(registry) == {"NoDataError": 0, "ProviderUnavailable": 0, "QueryError": 1}


def deliveries(registry: Registry, route_type: str) -> dict[str, float | None]:
    return {
        result.value: registry.get_sample_value(
            "releaseguard_notification_deliveries_total", {"type": route_type, "result": result.value}
        )
        for result in telemetry.Delivery
    }


def test_deliveries_are_counted_by_route_type_when_settled(registry: Registry) -> None:
    routes = [
        {"name": "log", "type": "log"},
        {"name": "hook", "type": "webhook", "secretRef": {"name": "missing"}},
    ]
    first, _ = asyncio.run(test_delivery.two_reconciliations(test_delivery.Kube({}), routes))
    assert len(first.status.outbox) == 2
    assert deliveries(registry, "log") == {"delivered": 1, "failed": 0, "given_up": 0}
    assert deliveries(registry, "webhook") == {"delivered": 0, "failed": 1, "given_up": 0}


def test_the_last_failed_attempt_counts_as_given_up_not_failed(registry: Registry) -> None:
    routes = [{"name": "hook", "type": "webhook", "secretRef": {"name": "missing"}}]
    last_try = test_delivery.ROLLING_BACK.model_copy(
        update={
            "outbox": tuple(
                entry.model_copy(update={"attempts": outbox.MAX_ATTEMPTS - 1})
                for entry in outbox.enqueue(
                    routes=test_delivery.spec(routes).notifications,
                    before=test_delivery.PROGRESSING,
                    after=test_delivery.ROLLING_BACK,
                    now=NOW,
                ).outbox
            )
        }
    )
    _, settled = asyncio.run(
        test_delivery.two_reconciliations(test_delivery.Kube({}), routes, before=last_try, after=last_try)
    )
    assert settled.status.outbox == ()
    assert deliveries(registry, "webhook") == {"delivered": 0, "failed": 0, "given_up": 1}


def test_the_served_text_holds_every_family(registry: Registry) -> None:
    move("a", Phase.PROGRESSING, Phase.PROMOTING)
    telemetry.count_verdicts(uid="a", namespace="shop", name="checkout", verdicts=[("error-rate", "Pass")])
    telemetry.observe_analysis(seconds=1, lag=0)
    telemetry.observe_query(0.1)
    text = prometheus_client.generate_latest(registry).decode()
    for family in (
        "releaseguard_releases",
        "releaseguard_decisions_total",
        "releaseguard_analysis_verdicts_total",
        "releaseguard_analysis_lag_seconds",
        "releaseguard_analysis_duration_seconds",
        "releaseguard_prometheus_query_duration_seconds",
        "releaseguard_prometheus_query_errors_total",
        "releaseguard_notification_deliveries_total",
    ):
        assert re.search(rf"^{family}(_count)?[{{ ]", text, re.MULTILINE), family


def test_the_served_registry_has_the_process_metrics_too() -> None:
    text = prometheus_client.generate_latest(telemetry.REGISTRY).decode()
    assert "python_info" in text
    assert "releaseguard_releases" in text


def test_the_names_kept_here_match_the_models_and_the_provider() -> None:
    assert tuple(phase.value for phase in Phase) == telemetry.PHASES
    assert set(telemetry.VERDICTS) == {verdict.value for verdict in v1alpha1.Verdict}
    assert set(telemetry.QUERY_ERRORS) == {error.__name__ for error in base.ProviderError.__subclasses__()}
    routes = typing.get_args(typing.get_args(v1alpha1.Notification)[0])
    assert set(telemetry.ROUTE_TYPES) == {
        typing.get_args(route.model_fields["type"].annotation)[0] for route in routes
    }
