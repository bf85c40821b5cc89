"""Reading Deployments, ReplicaSets and pods into the plain observations the decision uses."""

from __future__ import annotations

from typing import Any

import pytest

from releaseguard.kube import observe
from releaseguard.rollout import observation


def deployment(**status: int) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "shop",
            "name": "checkout",
            "uid": "d-1",
            "generation": 4,
            "annotations": {observation.GUARDED_BY_ANNOTATION: "guard"},
        },
        "spec": {
            "replicas": 3,
            "paused": True,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {"spec": {"containers": [{"name": "app", "image": "shop/checkout:1.1"}]}},
        },
        "status": {"observedGeneration": 4, **status},
    }


def replica_set(name: str, *, revision: str, owner: str = "d-1", ready: int = 0) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"app": "checkout", "pod-template-hash": name.rsplit("-", 1)[1]},
            "annotations": {observe.REVISION_ANNOTATION: revision},
            "ownerReferences": [{"uid": owner}],
        },
        "spec": {
            "template": {"spec": {"containers": [{"name": "app", "image": f"shop/checkout:{revision}"}]}}
        },
        "status": {"readyReplicas": ready},
    }


def test_target_observation_keeps_own_replica_sets_newest_first() -> None:
    replica_sets = [
        replica_set("checkout-old", revision="9"),
        replica_set("checkout-new", revision="10", ready=3),
        replica_set("checkout-foreign", revision="11", owner="someone-else"),
    ]
    target = observe.target_from_deployment(
        deployment(replicas=3, updatedReplicas=3, availableReplicas=3, readyReplicas=3),
        replica_sets=replica_sets,
    )
    assert [rs.name for rs in target.replica_sets] == ["checkout-new", "checkout-old"]
    assert target.current_replica_set is not None
    assert (target.current_replica_set.pod_template_hash, target.current_replica_set.ready_replicas) == (
        "new",
        3,
    )
    assert target.replica_set("checkout-old") is not None
    assert target.replica_set("checkout-missing") is None
    assert (target.paused, target.guarded_by, target.rollout_complete) == (True, "guard", True)
    assert target.selector == {"matchLabels": {"app": "checkout"}}
    assert target.template["spec"]["containers"][0]["image"] == "shop/checkout:1.1"


@pytest.mark.parametrize(
    "status",
    [
        {"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3},
        {"replicas": 3, "updatedReplicas": 2, "availableReplicas": 3},
        {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2},
        {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3, "observedGeneration": 3},
    ],
)
def test_rollout_is_complete_only_when_every_replica_is_updated_and_available(status) -> None:
    assert not observe.target_from_deployment(deployment(**status), replica_sets=[]).rollout_complete


def test_requests_come_from_annotations_under_our_group() -> None:
    annotations = {
        "releaseguard.io/promote": "2026-01-01T00:00:00+00:00",
        "example.com/abort": "x",
        "other": "y",
    }
    assert observe.requests_from(annotations) == frozenset({observation.Request.PROMOTE})


def pod(*, ready: str = "True", ip: str | None = "10.0.0.5", deleting: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "uid": "uid-p"}
        | ({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {}),
        "spec": {
            "containers": [
                {"name": "app", "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 9}]}
            ]
        },
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]},
    }


def test_only_ready_pods_with_an_ip_are_endpoints() -> None:
    endpoint = observe.ready_endpoint(pod())
    assert endpoint == observe.PodEndpoint(uid="uid-p", ip="10.0.0.5", ports={"http": 8080})
    assert observe.ready_endpoint(pod(ready="False")) is None
    assert observe.ready_endpoint(pod(ip=None)) is None
    assert observe.ready_endpoint(pod(deleting=True)) is None
