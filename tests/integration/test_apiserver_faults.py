"""The apiserver misbehaving under a release: restarted mid-release (every watch stream dropped, every call
refused for a while), and a concurrent writer changing the target's replicas, as an HPA or a GitOps tool
does, through updates that conflict with the operator's own writes. The operator converges without
fighting: the release ends as it would have, and the writer's replicas stand."""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from typing import Any

import kubernetes
import pytest

from tests.integration import conftest
from tests.integration.test_release import cluster, events, rv, start_release, wait_for_phase

pytestmark = [pytest.mark.usefixtures("operator_process"), pytest.mark.timeout(300)]

APISERVER_DOWN_SECONDS = 15
THINKING_SECONDS = 0.5


def canary_uid(kubectl: conftest.Kubectl, namespace: str) -> str | None:
    canary = kubectl.get("deployment", "demo-canary", namespace=namespace)
    return None if canary is None else str(canary["metadata"]["uid"])


def counts(kubectl: conftest.Kubectl, namespace: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for event in events(kubectl, namespace):
        found[event["reason"]] = found.get(event["reason"], 0) + int(event.get("count") or 1)
    return found


@pytest.mark.exclusive  # stops the apiserver every test and operator talks to
@pytest.mark.usefixtures("load")
def test_a_release_goes_through_an_apiserver_restart(
    kubectl: conftest.Kubectl, namespace: str, operator_process: conftest.Operator
) -> None:
    start_release(kubectl, namespace, image="1.1")
    conftest.eventually(
        lambda: (rv(kubectl, namespace).get("status") or {}).get("verdict") == "Pass",
        timeout=90,
        what="a first Pass",
    )
    canary = canary_uid(kubectl, namespace)
    assert canary is not None
    try:
        cluster("stop", "kube-apiserver")
        # Long enough for the operator's watches to break and several of its reconciliations to fail.
        time.sleep(APISERVER_DOWN_SECONDS)
    finally:
        cluster("up")
    back = datetime.datetime.now(datetime.UTC)
    assert operator_process.process is not None
    assert operator_process.process.poll() is None

    def analysed_since_the_restart() -> bool:
        last = (rv(kubectl, namespace).get("status") or {}).get("lastAnalysis") or {}
        return bool(last) and datetime.datetime.fromisoformat(last["time"]) > back

    # Soon, not after a retry backoff of a minute.
    conftest.eventually(analysed_since_the_restart, timeout=20, interval=1, what="an analysis after it")

    seen = {canary}

    def promoted() -> bool:
        uid = canary_uid(kubectl, namespace)
        if uid is not None:
            seen.add(uid)
        return (rv(kubectl, namespace).get("status") or {}).get("phase") in {"Promoting", "Succeeded"}

    conftest.eventually(promoted, timeout=120, interval=1, what="promotion after the restart")
    assert seen == {canary}, "the canary was created again"
    done = wait_for_phase(kubectl, namespace, "Succeeded", timeout=120)
    assert done["status"]["stableRevision"]["images"] == {"app": "releaseguard-demo:1.1"}
    happened = counts(kubectl, namespace)
    assert happened.get("CanaryStarted") == 1
    assert happened.get("Succeeded") == 1
    target = kubectl.get("deployment", "demo", namespace=namespace)
    assert target is not None
    assert target["spec"]["paused"] is True
    assert target["status"].get("updatedReplicas") == target["spec"]["replicas"]


@dataclasses.dataclass
class Scaler:
    """Sets the target's replicas back and forth with read-modify-write updates, as an HPA does through the
    scale subresource: each update carries the resourceVersion it read, so it conflicts (409) whenever
    the operator wrote in between, and is then read and tried again."""

    namespace: str
    sizes: tuple[int, ...] = (3, 4)
    writes: int = 0
    conflicts: int = 0
    last: int = 0
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def run(self) -> None:
        kubernetes.config.load_kube_config()
        apps = kubernetes.client.AppsV1Api()
        while not self.stop.is_set():
            size = self.sizes[self.writes % len(self.sizes)]
            scale = apps.read_namespaced_deployment_scale("demo", self.namespace)
            scale.spec.replicas = size
            # A while between reading and writing, as a controller computing its answer takes: writes
            # by others meanwhile (the operator's, the Deployment controller's status) make this one 409.
            self.stop.wait(THINKING_SECONDS)
            try:
                apps.replace_namespaced_deployment_scale(
                    "demo", self.namespace, scale, field_manager="concurrent-scaler"
                )
            except kubernetes.client.ApiException as error:
                if error.status != 409:
                    raise
                self.conflicts += 1
                continue
            self.writes += 1
            self.last = size
            self.stop.wait(0.5)


def replicas_managers(deployment: dict[str, Any]) -> set[str]:
    """The field managers owning the target's spec.replicas."""
    return {
        entry["manager"]
        for entry in deployment["metadata"].get("managedFields") or []
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
    }


@pytest.mark.usefixtures("load")
def test_a_concurrent_writer_scaling_the_target_is_not_fought(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    start_release(kubectl, namespace, image="1.1")
    wait_for_phase(kubectl, namespace, "Progressing", timeout=30)
    scaler = Scaler(namespace=namespace)
    writer = threading.Thread(target=scaler.run, daemon=True)
    writer.start()
    try:
        done = wait_for_phase(kubectl, namespace, "Succeeded", timeout=200)
    finally:
        scaler.stop.set()
        writer.join(timeout=30)
    assert scaler.writes > 20
    assert scaler.conflicts > 0, "no update conflicted: the test did not provoke what it is about"
    assert done["status"]["stableRevision"]["images"] == {"app": "releaseguard-demo:1.1"}
    target = kubectl.get("deployment", "demo", namespace=namespace)
    assert target is not None
    # The writer's last word stands: the operator never set the replicas back.
    assert target["spec"]["replicas"] == scaler.last
    assert replicas_managers(target) <= {"concurrent-scaler", "kubectl-client-side-apply"}
    conftest.eventually(
        lambda: (
            (kubectl.get("deployment", "demo", namespace=namespace) or {})
            .get("status", {})
            .get("readyReplicas")
            == scaler.last
        ),
        timeout=60,
        what="the writer's replicas Ready",
    )
    print(f"scaler: {scaler.writes} writes, {scaler.conflicts} conflicts")
