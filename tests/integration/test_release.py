"""Whole releases on the local cluster: the demo app under load, the operator judging with real Prometheus."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.integration import conftest

pytestmark = [pytest.mark.usefixtures("operator_process", "load"), pytest.mark.timeout(300)]


def release_validation(*, mode: str = "revert", bake: str | None = None) -> str:
    bake_line = f"  bake: {{duration: {bake}}}" if bake else ""
    return f"""
apiVersion: releaseguard.io/v1alpha1
kind: ReleaseValidation
metadata: {{name: guard}}
spec:
  targetRef: {{kind: Deployment, name: demo}}
  service: demo
  steps: [{{weight: 25, duration: 10s}}, {{weight: 50, duration: 10s}}]
  rollback: {{mode: {mode}}}
  analysis:
    interval: 5s
    failureLimit: 2
    inconclusiveLimit: 12
    prometheus: {{url: "{os.environ["RG_PROMETHEUS_URL"]}"}}
    metrics:
      - name: error-rate
        kind: ratio
        errors: sum(increase(http_requests_total{{code=~"5..",{{{{ selector }}}}}}[{{{{ window }}}}]))
        total: sum(increase(http_requests_total{{{{{{ selector }}}}}}[{{{{ window }}}}]))
        judge: {{type: threshold, max: 0.02}}
{bake_line}
"""


def rv(kubectl: conftest.Kubectl, namespace: str) -> dict[str, Any]:
    found = kubectl.get("rv", "guard", namespace=namespace)
    assert found is not None
    return found


def wait_for_phase(
    kubectl: conftest.Kubectl, namespace: str, phase: str, *, timeout: float = 150
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        current = rv(kubectl, namespace)
        return current if (current.get("status") or {}).get("phase") == phase else None

    found: dict[str, Any] = conftest.eventually(probe, timeout=timeout, interval=1, what=f"phase {phase}")
    return found


def image_of(kubectl: conftest.Kubectl, namespace: str) -> str:
    deployment = kubectl.get("deployment", "demo", namespace=namespace)
    assert deployment is not None
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def events(kubectl: conftest.Kubectl, namespace: str) -> list[dict[str, Any]]:
    listing = kubectl.run(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.kind=ReleaseValidation",
        "-o",
        "json",
    ).stdout
    items: list[dict[str, Any]] = json.loads(listing)["items"]
    return items


def start_release(kubectl: conftest.Kubectl, namespace: str, *, image: str, **rv_options: str) -> None:
    kubectl.apply(release_validation(**rv_options), namespace=namespace)
    wait_for_phase(kubectl, namespace, "Idle", timeout=30)
    kubectl.run("set", "image", "deployment/demo", f"app=releaseguard-demo:{image}", "-n", namespace)


def test_healthy_release_is_promoted(kubectl: conftest.Kubectl, namespace: str) -> None:
    start_release(kubectl, namespace, image="1.1", bake="10s")
    wait_for_phase(kubectl, namespace, "Progressing", timeout=30)
    wait_for_phase(kubectl, namespace, "Baking")
    succeeded = wait_for_phase(kubectl, namespace, "Succeeded", timeout=60)

    assert image_of(kubectl, namespace) == "releaseguard-demo:1.1"
    assert kubectl.get("deployment", "demo-canary", namespace=namespace) is None
    stable = succeeded["status"]["stableRevision"]
    assert stable["images"] == {"app": "releaseguard-demo:1.1"}
    target = kubectl.get("deployment", "demo", namespace=namespace)
    assert target is not None
    assert target["spec"]["paused"] is True
    reasons = [event["reason"] for event in events(kubectl, namespace)]
    for reason in ("CanaryStarted", "StepAdvanced", "Promoting", "Baking", "Succeeded"):
        assert reason in reasons


@pytest.mark.parametrize("mode", ["revert", "hold"])
def test_error_rate_regression_is_rolled_back(kubectl: conftest.Kubectl, namespace: str, mode: str) -> None:
    start_release(kubectl, namespace, image="2.0-errors", mode=mode)
    rolled_back = wait_for_phase(kubectl, namespace, "RolledBack")

    assert kubectl.get("deployment", "demo-canary", namespace=namespace) is None
    expected_image = "releaseguard-demo:1.0" if mode == "revert" else "releaseguard-demo:2.0-errors"
    assert image_of(kubectl, namespace) == expected_image
    pods = json.loads(kubectl.run("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    assert {pod["spec"]["containers"][0]["image"] for pod in pods} == {"releaseguard-demo:1.0"}

    [error_rate] = [r for r in rolled_back["status"]["lastAnalysis"]["results"] if r["name"] == "error-rate"]
    assert error_rate["verdict"] == "Fail"
    assert error_rate["canary"] > 0.02
    assert "max 0.02" in error_rate["message"]
    [decision] = [event for event in events(kubectl, namespace) if event["reason"] == "FailureLimitReached"]
    assert "error-rate Fail" in decision["message"]
    assert "max 0.02" in decision["message"]


def test_rejected_template_is_held_when_reapplied_and_retried_on_request(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    start_release(kubectl, namespace, image="2.0-errors")
    wait_for_phase(kubectl, namespace, "RolledBack")
    assert image_of(kubectl, namespace) == "releaseguard-demo:1.0"

    kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:2.0-errors", "-n", namespace)

    def held() -> dict[str, Any] | None:
        conditions = (rv(kubectl, namespace).get("status") or {}).get("conditions", [])
        return next(
            (c for c in conditions if c["type"] == "RevisionRejected" and c["status"] == "True"), None
        )

    condition = conftest.eventually(held, timeout=30, what="RevisionRejected")
    assert "releaseguard.io/retry" in condition["message"]
    assert kubectl.get("deployment", "demo-canary", namespace=namespace) is None

    kubectl.run("annotate", "rv", "guard", "releaseguard.io/retry=true", "-n", namespace)
    wait_for_phase(kubectl, namespace, "Progressing", timeout=30)
    assert "releaseguard.io/retry" not in (rv(kubectl, namespace)["metadata"].get("annotations") or {})
