"""Faulty Prometheus servers on the local cluster: each release it serves pauses, the others go on.

Three servers on 127.0.0.1 pose as Prometheus (the operator runs on this machine, so it reaches them):
one never answers, one answers 500, one streams a vector without end. Each is the Prometheus of one
release, which must stop at Paused with an Inconclusive result naming the fault; meanwhile a healthy
release in another namespace, judged with the real Prometheus, must go through to Succeeded. The fakes
are the ones the unit tests provoke the same faults with.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import threading
from typing import Any

import pytest

from tests.integration import conftest
from tests.integration.test_release import rv, start_release, wait_for_phase
from tests.unit import test_provider_faults as fakes

pytestmark = [pytest.mark.usefixtures("operator_process"), pytest.mark.timeout(300)]


@dataclasses.dataclass(frozen=True)
class Fault:
    behaviour: fakes.Behaviour
    reason: str
    words: str


FAULTS = {
    "hanging": Fault(fakes.hang, "ProviderUnavailable", "did not answer within 2s"),
    "failing": Fault(
        fakes.reply(500, b'{"status":"error","errorType":"internal","error":"out of memory"}'),
        "ProviderUnavailable",
        "Prometheus answered HTTP 500: internal: out of memory",
    ),
    "flooding": Fault(fakes.endless_series, "QueryError", "Prometheus answered more than 16 MiB"),
}


def faulty_release_validation(prometheus_url: str) -> str:
    """A release judged by one gauge whose Prometheus is `prometheus_url`; its step outlasts the test, so
    only a pause ends it."""
    return f"""
apiVersion: releaseguard.io/v1alpha1
kind: ReleaseValidation
metadata: {{name: guard}}
spec:
  targetRef: {{kind: Deployment, name: demo}}
  service: demo
  steps: [{{weight: 50, duration: 1h}}]
  analysis:
    interval: 5s
    inconclusiveLimit: 2
    prometheus: {{url: "{prometheus_url}", timeout: 2s}}
    metrics:
      - name: up
        kind: gauge
        query: min(up{{{{{{ selector }}}}}})
        judge: {{type: threshold, min: 1}}
"""


@pytest.fixture
def faulty_namespaces(kubectl: conftest.Kubectl) -> collections.abc.Iterator[dict[str, str]]:
    """A namespace per fault with a one-replica demo Deployment, rolled out."""
    namespaces = {fault: conftest.new_namespace_name() for fault in FAULTS}
    manifest = conftest.DEMO_APP.read_text().replace("replicas: 3", "replicas: 1")
    try:
        for namespace in namespaces.values():
            kubectl.run("create", "namespace", namespace)
            kubectl.apply(manifest, namespace=namespace)
        for namespace in namespaces.values():
            kubectl.run("rollout", "status", "deployment/demo", "-n", namespace, "--timeout=90s")
        yield namespaces
    finally:
        for namespace in namespaces.values():
            kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)


def inconclusive_result(found: dict[str, Any]) -> dict[str, Any]:
    status = found["status"]
    assert status["verdict"] == "Inconclusive", status
    [result] = status["lastAnalysis"]["results"]
    return dict(result)


@pytest.mark.usefixtures("load")
def test_a_faulty_prometheus_pauses_its_release_and_holds_up_no_other(
    kubectl: conftest.Kubectl, namespace: str, faulty_namespaces: dict[str, str]
) -> None:
    with contextlib.ExitStack() as servers:
        urls = {
            fault: servers.enter_context(fakes.faulty_prometheus(FAULTS[fault].behaviour)) for fault in FAULTS
        }
        for fault, faulty in faulty_namespaces.items():
            kubectl.apply(faulty_release_validation(urls[fault]), namespace=faulty)
            wait_for_phase(kubectl, faulty, "Idle", timeout=30)
            kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", faulty)
        start_release(kubectl, namespace, image="1.1", checks=False)

        for fault, faulty in faulty_namespaces.items():
            paused = wait_for_phase(kubectl, faulty, "Paused", timeout=90)
            result = inconclusive_result(paused)
            assert (result["verdict"], result["reason"]) == ("Inconclusive", FAULTS[fault].reason), result
            assert FAULTS[fault].words in result["message"], result
            progressing = next(c for c in paused["status"]["conditions"] if c["type"] == "Progressing")
            assert progressing["reason"] == "InconclusiveLimitReached", progressing

        wait_for_phase(kubectl, namespace, "Succeeded", timeout=150)

    for faulty in faulty_namespaces.values():
        assert rv(kubectl, faulty)["status"]["phase"] == "Paused"


def token_guarded(token: str) -> fakes.Behaviour:
    """A Prometheus behind a gateway: `up` is 1 for requests with the bearer token, 401 for the others."""
    one = b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[0,"1"]}]}}'
    refused = b'{"status":"error","errorType":"unauthorized","error":"no valid token"}'

    def answer(handler: fakes.Handler, stopping: threading.Event) -> None:
        allowed = handler.headers.get("Authorization") == f"Bearer {token}"
        (fakes.reply(200, one) if allowed else fakes.reply(401, refused))(handler, stopping)

    return answer


def test_prometheus_credentials_come_from_a_secret_and_their_absence_pauses_naming_it(
    kubectl: conftest.Kubectl, demo_app: str
) -> None:
    namespace = demo_app
    with fakes.faulty_prometheus(token_guarded("t0ken")) as url:
        manifest = (
            faulty_release_validation(url)
            .replace("duration: 1h", "duration: 10s")
            .replace(
                ", timeout: 2s}", ", timeout: 2s, authorization: {secretRef: {name: prometheus-reader}}}"
            )
        )
        kubectl.apply(manifest, namespace=namespace)
        wait_for_phase(kubectl, namespace, "Idle", timeout=30)
        kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)

        result = inconclusive_result(wait_for_phase(kubectl, namespace, "Paused", timeout=90))
        assert result["reason"] == "ProviderUnavailable", result
        expected = (
            f"Secret {namespace}/prometheus-reader named in analysis.prometheus.authorization not found"
        )
        assert expected in result["message"], result

        kubectl.run(
            "create", "secret", "generic", "prometheus-reader", "--from-literal=token=t0ken", "-n", namespace
        )
        wait_for_phase(kubectl, namespace, "Succeeded", timeout=90)
    status = rv(kubectl, namespace)["status"]
    assert "t0ken" not in str(status)
