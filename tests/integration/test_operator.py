"""The running operator gives every ReleaseValidation a status, adopts its target and lets go of it."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.integration import conftest

DEMO_APP = conftest.DEMO_APP


def release_validation(*, target: str) -> str:
    return f"""
apiVersion: releaseguard.io/v1alpha1
kind: ReleaseValidation
metadata: {{name: guard}}
spec:
  targetRef: {{kind: Deployment, name: {target}}}
  service: demo
  steps: [{{weight: 20, duration: 30s}}, {{weight: 50, duration: 30s}}]
  analysis:
    interval: 10s
    prometheus: {{url: http://127.0.0.1:9090}}
    metrics:
      - name: error-rate
        kind: ratio
        errors: sum(rate(http_requests_total{{code=~"5..",{{{{ selector }}}}}}[{{{{ window }}}}]))
        total: sum(rate(http_requests_total{{{{{{ selector }}}}}}[{{{{ window }}}}]))
        judge: {{type: threshold, max: 0.01}}
"""


def ready_condition(kubectl: conftest.Kubectl, namespace: str) -> dict[str, Any] | None:
    rv = kubectl.get("rv", "guard", namespace=namespace)
    conditions = ((rv or {}).get("status") or {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "Ready"), None)


def wait_for_ready(kubectl: conftest.Kubectl, namespace: str, *, reason: str | None = None) -> dict[str, Any]:
    """The Ready condition once it exists (and has `reason`, when given)."""

    def probe() -> dict[str, Any] | None:
        condition = ready_condition(kubectl, namespace)
        if condition is None or (reason is not None and condition["reason"] != reason):
            return None
        return condition

    found: dict[str, Any] = conftest.eventually(probe, timeout=30, what=f"Ready condition {reason or ''}")
    return found


@pytest.mark.usefixtures("operator_process")
def test_valid_release_validation_gets_a_status(kubectl: conftest.Kubectl, namespace: str) -> None:
    kubectl.apply(DEMO_APP.read_text(), namespace=namespace)
    kubectl.apply(release_validation(target="demo"), namespace=namespace)

    ready = wait_for_ready(kubectl, namespace, reason="TargetAdopted")
    rv = kubectl.get("rv", "guard", namespace=namespace)
    assert rv is not None
    assert rv["status"]["phase"] == "Idle"
    assert rv["status"]["observedGeneration"] == rv["metadata"]["generation"]
    assert ready["status"] == "True"
    assert ready["observedGeneration"] == rv["metadata"]["generation"]
    assert ready["lastTransitionTime"]


@pytest.mark.usefixtures("operator_process")
def test_missing_target_is_reported_in_a_condition(kubectl: conftest.Kubectl, namespace: str) -> None:
    kubectl.apply(release_validation(target="no-such-deployment"), namespace=namespace)

    ready = wait_for_ready(kubectl, namespace)
    assert ready["status"] == "False"
    assert ready["reason"] == "TargetNotFound"
    assert f"Deployment {namespace}/no-such-deployment not found" in ready["message"]
    columns = kubectl.run("get", "rv", "guard", "-n", namespace, "--no-headers").stdout.split()
    assert columns[:3] == ["guard", "no-such-deployment", "Degraded"]


@pytest.mark.usefixtures("operator_process")
def test_status_follows_the_target_appearing(kubectl: conftest.Kubectl, namespace: str) -> None:
    kubectl.apply(release_validation(target="demo"), namespace=namespace)
    wait_for_ready(kubectl, namespace, reason="TargetNotFound")
    kubectl.apply(DEMO_APP.read_text(), namespace=namespace)
    wait_for_ready(kubectl, namespace, reason="TargetAdopted")


def test_kubectl_plugin_lists_release_validations(
    operator_process: conftest.Operator, kubectl: conftest.Kubectl, namespace: str
) -> None:
    kubectl.apply(release_validation(target="absent"), namespace=namespace)
    wait_for_ready(kubectl, namespace)
    plugin = conftest.REPO / ".venv" / "bin" / "kubectl-releaseguard"
    output = subprocess.run(
        [str(plugin), "get", "-n", namespace], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    header, row = output.splitlines()
    assert header.split()[:4] == ["NAMESPACE", "NAME", "TARGET", "PHASE"]
    assert row.split()[:4] == [namespace, "guard", "absent", "Degraded"]
    assert "not found" in row


def deployment(kubectl: conftest.Kubectl, namespace: str) -> dict[str, Any]:
    found = kubectl.get("deployment", "demo", namespace=namespace)
    assert found is not None
    return found


def replica_sets(kubectl: conftest.Kubectl, namespace: str) -> list[str]:
    return kubectl.run("get", "replicasets", "-n", namespace, "-o", "name").stdout.split()


@pytest.mark.usefixtures("operator_process", "demo_app")
def test_adoption_pauses_the_target_and_records_the_stable_revision(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    kubectl.apply(release_validation(target="demo"), namespace=namespace)
    wait_for_ready(kubectl, namespace, reason="TargetAdopted")

    target = deployment(kubectl, namespace)
    assert target["spec"]["paused"] is True
    assert target["metadata"]["annotations"]["releaseguard.io/guarded-by"] == "guard"
    [stable_rs] = replica_sets(kubectl, namespace)
    rv = kubectl.get("rv", "guard", namespace=namespace)
    assert rv is not None
    stable = rv["status"]["stableRevision"]
    assert f"replicaset.apps/{stable['replicaSet']}" == stable_rs
    assert stable["images"] == {"app": "releaseguard-demo:1.0"}

    # While guarded, a new template makes no ReplicaSet of the target's: the canary carries the new revision.
    kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)
    conftest.eventually(
        lambda: kubectl.get("deployment", "demo-canary", namespace=namespace), timeout=30, what="the canary"
    )
    target = deployment(kubectl, namespace)
    assert target["status"]["observedGeneration"] == target["metadata"]["generation"]
    assert [rs for rs in replica_sets(kubectl, namespace) if "-canary-" not in rs] == [stable_rs]


@pytest.mark.usefixtures("operator_process", "demo_app")
def test_deleting_the_release_validation_hands_the_target_back(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    kubectl.apply(release_validation(target="demo"), namespace=namespace)
    wait_for_ready(kubectl, namespace, reason="TargetAdopted")

    kubectl.run("delete", "rv", "guard", "-n", namespace, "--timeout=30s")
    target = deployment(kubectl, namespace)
    assert target["spec"].get("paused") is not True
    assert "releaseguard.io/guarded-by" not in (target["metadata"].get("annotations") or {})
