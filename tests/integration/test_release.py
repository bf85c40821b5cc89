"""Whole releases on the local cluster: the demo app under load, the operator judging with real Prometheus."""

from __future__ import annotations

import collections.abc
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.integration import conftest

pytestmark = [pytest.mark.usefixtures("operator_process"), pytest.mark.timeout(300)]


@pytest.fixture
def browsing_load(demo_app: str, cluster_env: dict[str, str]) -> collections.abc.Iterator[None]:
    """Traffic that never checks out: a checkout breakage leaves every aggregate metric green."""
    with conftest.steady_load(namespace=demo_app, state_dir=cluster_env["RG_CLUSTER_DIR"], paths="/=100"):
        yield


LATENCY_QUERY = "sum by (le) (increase(http_request_duration_seconds_bucket{{{ selector }}}[{{ window }}]))"


CHECKS = """    syntheticChecks:
      - name: checkout-journey
        http: {path: /api/checkout, method: POST, expect: {status: 200, maxLatency: 1s}}
        minSuccessRatio: 0.99
"""


def release_validation(
    *,
    mode: str = "revert",
    bake: str | None = None,
    checks: bool = True,
    error_judge: str = "{type: threshold, max: 0.02}",
) -> str:
    """The test's ReleaseValidation; without `checks`, only Prometheus metrics judge (to test one of them)."""
    bake_line = f"  bake: {{duration: {bake}}}" if bake else ""
    checks_lines = CHECKS if checks else ""
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
        judge: {error_judge}
      - name: p95-latency
        kind: latency
        quantile: 0.95
        query: {LATENCY_QUERY}
        judge: {{type: compare, maxRelativeIncrease: 1.0, maxAbsolute: 0.2}}
{checks_lines}{bake_line}
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


def start_release(kubectl: conftest.Kubectl, namespace: str, *, image: str, **rv_options: Any) -> None:
    kubectl.apply(release_validation(**rv_options), namespace=namespace)
    wait_for_phase(kubectl, namespace, "Idle", timeout=30)
    kubectl.run("set", "image", "deployment/demo", f"app=releaseguard-demo:{image}", "-n", namespace)


@pytest.mark.usefixtures("load")
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


@pytest.mark.usefixtures("load")
@pytest.mark.parametrize("mode", ["revert", "hold"])
def test_error_rate_regression_is_rolled_back(kubectl: conftest.Kubectl, namespace: str, mode: str) -> None:
    start_release(kubectl, namespace, image="2.0-errors", mode=mode, checks=False)
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
    assert f"error-rate Fail (canary {error_rate['canary']:.4g}, baseline " in decision["message"]
    assert "max 0.02" in decision["message"]
    assert rolled_back["status"]["lastDecision"]["message"] == decision["message"]


@pytest.mark.usefixtures("load")
@pytest.mark.parametrize(
    ("judge", "reason"),
    [
        ("{type: compare}", "SignificantRegression"),
        ("{type: burnRate, objective: 0.999}", "BurnRateExceeded"),
    ],
)
def test_the_statistical_judges_roll_back_an_error_rate_regression(
    kubectl: conftest.Kubectl, namespace: str, judge: str, reason: str
) -> None:
    start_release(kubectl, namespace, image="2.0-errors", checks=False, error_judge=judge)
    rolled_back = wait_for_phase(kubectl, namespace, "RolledBack")

    error_rate = failing_results(rolled_back)["error-rate"]
    assert error_rate["reason"] == reason
    assert error_rate["canary"] > 0.05  # 10% of the canary's requests fail (a burn rate of 100 for burnRate)
    assert image_of(kubectl, namespace) == "releaseguard-demo:1.0"


@pytest.mark.usefixtures("load")
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


def failing_results(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in found["status"]["lastAnalysis"]["results"] if r["verdict"] == "Fail"}


@pytest.mark.usefixtures("load")
def test_latency_regression_is_rolled_back(kubectl: conftest.Kubectl, namespace: str) -> None:
    start_release(kubectl, namespace, image="2.0-slow", checks=False)
    rolled_back = wait_for_phase(kubectl, namespace, "RolledBack")

    failed = failing_results(rolled_back)
    assert "p95-latency" in failed
    assert failed["p95-latency"]["canary"] > 0.2
    assert failed["p95-latency"]["baseline"] < 0.2
    assert "maxAbsolute 0.2" in failed["p95-latency"]["message"]
    [decision] = [e for e in events(kubectl, namespace) if e["reason"] == "FailureLimitReached"]
    latency = failed["p95-latency"]
    assert (
        f"p95-latency Fail (canary {latency['canary']:.4g}, baseline {latency['baseline']:.4g})"
        in (decision["message"])
    )
    assert image_of(kubectl, namespace) == "releaseguard-demo:1.0"


def user_errors(namespace: str) -> float:
    query = f'sum(http_requests_total{{namespace="{namespace}",code=~"5.."}})'
    url = f"{os.environ['RG_PROMETHEUS_URL']}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        result = json.load(response)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


@pytest.mark.usefixtures("browsing_load")
def test_checkout_breakage_is_caught_by_the_synthetic_check_alone(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    start_release(kubectl, namespace, image="2.0-checkout-broken")
    rolled_back = wait_for_phase(kubectl, namespace, "RolledBack")

    results = {r["name"]: r for r in rolled_back["status"]["lastAnalysis"]["results"]}
    assert results["checkout-journey"]["verdict"] == "Fail"
    assert results["checkout-journey"]["canary"] == 0
    assert results["checkout-journey"]["baseline"] == 1  # the stable pods check out fine
    # Users saw no error at all, so no metric could have flagged it.
    assert results["error-rate"]["verdict"] != "Fail"
    assert results["p95-latency"]["verdict"] != "Fail"
    assert user_errors(namespace) == 0
    [decision] = [e for e in events(kubectl, namespace) if e["reason"] == "FailureLimitReached"]
    assert "checkout-journey Fail (canary 0, baseline 1)" in decision["message"]
    assert "min 0.99" in decision["message"]


@pytest.mark.usefixtures("load")
def test_abort_during_a_step_rolls_back(kubectl: conftest.Kubectl, namespace: str) -> None:
    start_release(kubectl, namespace, image="1.1")
    wait_for_phase(kubectl, namespace, "Progressing", timeout=30)
    plugin = conftest.REPO / ".venv" / "bin" / "kubectl-releaseguard"
    subprocess.run([str(plugin), "abort", "guard", "-n", namespace], check=True, timeout=30)
    wait_for_phase(kubectl, namespace, "RolledBack", timeout=60)
    assert image_of(kubectl, namespace) == "releaseguard-demo:1.0"
    assert "Aborted" in [event["reason"] for event in events(kubectl, namespace)]


@pytest.mark.usefixtures("load")
def test_promote_skips_the_remaining_steps(kubectl: conftest.Kubectl, namespace: str) -> None:
    kubectl.apply(release_validation().replace("duration: 10s}]", "duration: 10m}]"), namespace=namespace)
    wait_for_phase(kubectl, namespace, "Idle", timeout=30)
    kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)
    wait_for_phase(kubectl, namespace, "Progressing", timeout=30)
    kubectl.run("annotate", "rv", "guard", "releaseguard.io/promote=true", "-n", namespace)
    wait_for_phase(kubectl, namespace, "Succeeded", timeout=90)
    assert image_of(kubectl, namespace) == "releaseguard-demo:1.1"


def promotion_under_way(kubectl: conftest.Kubectl, namespace: str) -> None:
    """A release of 1.1 promoted by request, its native rollout slowed so a test can act during it."""
    kubectl.apply(release_validation().replace("duration: 10s}]", "duration: 10m}]"), namespace=namespace)
    conftest.eventually(
        lambda: (rv(kubectl, namespace).get("status") or {}).get("stableRevision"),
        timeout=60,
        what="adoption",
    )
    # New pods count as available only after 20 s, so the rollout keeps old pods for a minute.
    kubectl.run("patch", "deployment", "demo", "-n", namespace, "-p", '{"spec": {"minReadySeconds": 20}}')
    kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)
    wait_for_phase(kubectl, namespace, "Progressing", timeout=30)
    kubectl.run("annotate", "rv", "guard", "releaseguard.io/promote=true", "-n", namespace)
    wait_for_phase(kubectl, namespace, "Promoting", timeout=30)


def target_pod_images(kubectl: conftest.Kubectl, namespace: str) -> list[str]:
    listing = kubectl.run("get", "pods", "-n", namespace, "-l", "app=demo", "-o", "json").stdout
    return sorted(
        pod["spec"]["containers"][0]["image"]
        for pod in json.loads(listing)["items"]
        if not pod["metadata"]["name"].startswith("demo-canary-")
        and not pod["metadata"].get("deletionTimestamp")
    )


@pytest.mark.usefixtures("load")
def test_a_newer_template_during_a_promotion_is_paused_and_validated_as_a_canary(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    promotion_under_way(kubectl, namespace)
    kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.2", "-n", namespace)

    def restarted() -> dict[str, Any] | None:
        status = rv(kubectl, namespace).get("status") or {}
        canary = (status.get("canaryRevision") or {}).get("images")
        return status if canary == {"app": "releaseguard-demo:1.2"} else None

    status = conftest.eventually(restarted, timeout=30, interval=1, what="a canary of 1.2")
    assert status["phase"] == "Progressing"
    assert status["stableRevision"]["images"] == {"app": "releaseguard-demo:1.0"}
    target = kubectl.get("deployment", "demo", namespace=namespace)
    assert target is not None
    assert target["spec"]["paused"] is True
    canary = conftest.eventually(
        lambda: kubectl.get("deployment", "demo-canary", namespace=namespace), timeout=30, what="the canary"
    )
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "releaseguard-demo:1.2"
    # The Deployment controller may add its surge pod of 1.2 before the pause lands; the rollout stops there.
    time.sleep(10)
    assert target_pod_images(kubectl, namespace).count("releaseguard-demo:1.2") <= 1


@pytest.mark.usefixtures("load")
def test_a_template_set_back_during_a_promotion_is_rolled_out_before_the_target_rests(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    promotion_under_way(kubectl, namespace)
    kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.0", "-n", namespace)

    def at_rest() -> dict[str, Any] | None:
        target = kubectl.get("deployment", "demo", namespace=namespace)
        paused = target is not None and target["spec"].get("paused") is True
        on_stable = set(target_pod_images(kubectl, namespace)) == {"releaseguard-demo:1.0"}
        return target if paused and on_stable else None

    target = conftest.eventually(at_rest, timeout=150, interval=1, what="the target paused on 1.0 alone")
    assert target["status"]["replicas"] == 3
    status = rv(kubectl, namespace)["status"]
    assert status["phase"] == "Idle"
    assert status["lastDecision"]["reason"] == "UpToDate"
    assert kubectl.get("deployment", "demo-canary", namespace=namespace) is None


@pytest.mark.usefixtures("load")
def test_deleting_the_release_validation_mid_release_removes_the_canary_and_unpauses(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    start_release(kubectl, namespace, image="1.1")
    wait_for_phase(kubectl, namespace, "Progressing", timeout=30)
    conftest.eventually(
        lambda: kubectl.get("deployment", "demo-canary", namespace=namespace), timeout=30, what="the canary"
    )
    kubectl.run("delete", "rv", "guard", "-n", namespace, "--timeout=60s")
    conftest.eventually(
        lambda: kubectl.get("deployment", "demo-canary", namespace=namespace) is None,
        timeout=30,
        what="no canary",
    )
    target = kubectl.get("deployment", "demo", namespace=namespace)
    assert target is not None
    assert target["spec"].get("paused") is not True


def cluster(*args: str) -> None:
    subprocess.run(
        [str(conftest.REPO / "hack" / "cluster"), *args], check=True, timeout=120, capture_output=True
    )


@pytest.mark.exclusive  # stops the Prometheus every test reads
@pytest.mark.usefixtures("load")
def test_prometheus_outage_pauses_without_deciding_and_the_release_resumes_when_it_is_back(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    manifest = release_validation().replace("inconclusiveLimit: 12", "inconclusiveLimit: 2")
    kubectl.apply(manifest, namespace=namespace)
    wait_for_phase(kubectl, namespace, "Idle", timeout=30)
    kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)
    conftest.eventually(
        lambda: (rv(kubectl, namespace).get("status") or {}).get("verdict") == "Pass",
        timeout=90,
        what="a Pass",
    )
    try:
        cluster("stop", "prometheus")
        paused = wait_for_phase(kubectl, namespace, "Paused", timeout=60)
        assert paused["status"]["verdict"] == "Inconclusive"
        reasons = {
            r["reason"]
            for r in paused["status"]["lastAnalysis"]["results"]
            if r["name"] != "checkout-journey"
        }
        assert reasons == {"ProviderUnavailable"}
        assert kubectl.get("deployment", "demo-canary", namespace=namespace) is not None
        assert image_of(kubectl, namespace) == "releaseguard-demo:1.1"  # the spec; the target stays paused
        target = kubectl.get("deployment", "demo", namespace=namespace)
        assert target is not None
        assert target["spec"]["paused"] is True
    finally:
        cluster("up")
    wait_for_phase(kubectl, namespace, "Progressing", timeout=60)
    wait_for_phase(kubectl, namespace, "Succeeded", timeout=120)
    assert "Resumed" in [event["reason"] for event in events(kubectl, namespace)]


@pytest.mark.usefixtures("load")
def test_operator_killed_mid_canary_resumes_at_the_same_step_with_the_same_canary(
    operator_process: conftest.Operator, kubectl: conftest.Kubectl, namespace: str
) -> None:
    kubectl.apply(release_validation().replace("duration: 10s}]", "duration: 30s}]"), namespace=namespace)
    wait_for_phase(kubectl, namespace, "Idle", timeout=30)
    kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)

    def at_second_step() -> dict[str, Any] | None:
        status = rv(kubectl, namespace).get("status") or {}
        return status if status.get("currentStepIndex") == 1 and status.get("stepStartedAt") else None

    before = conftest.eventually(at_second_step, timeout=90, what="the second step under way")
    canary = kubectl.get("deployment", "demo-canary", namespace=namespace)
    assert canary is not None
    operator_process.kill()
    try:
        after_kill = rv(kubectl, namespace)["status"]
        assert after_kill["currentStepIndex"] == 1
    finally:
        operator_process.start()

    # Until promotion deletes it, the canary is the very object that existed before the kill.
    canary_uids = set()

    def promoted() -> bool:
        current = kubectl.get("deployment", "demo-canary", namespace=namespace)
        if current is not None:
            canary_uids.add(current["metadata"]["uid"])
        return (rv(kubectl, namespace).get("status") or {}).get("phase") in {
            "Promoting",
            "Baking",
            "Succeeded",
        }

    conftest.eventually(promoted, timeout=120, what="promotion after the restart")
    assert canary_uids <= {canary["metadata"]["uid"]}
    wait_for_phase(kubectl, namespace, "Succeeded", timeout=120)
    status = rv(kubectl, namespace)["status"]
    assert status["stableRevision"]["templateHash"] == before["canaryRevision"]["templateHash"]
    for reason in ("CanaryStarted", "Promoting", "Succeeded"):
        matching = [e for e in events(kubectl, namespace) if e["reason"] == reason]
        assert sum(event.get("count", 1) for event in matching) == 1, reason
