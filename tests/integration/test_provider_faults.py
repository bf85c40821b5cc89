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
