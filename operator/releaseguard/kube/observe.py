"""Observe the world the decision logic needs: reads only, as few as the decision needs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from releaseguard.kube import client
from releaseguard.rollout import observation

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


async def observe(
    kube: client.Kube,
    *,
    name: str,
    uid: str,
    namespace: str,
    generation: int,
    annotations: Mapping[str, str],
    target_name: str | None,
) -> observation.Observed:
    target = canary = None
    if target_name is not None:
        target = await observe_target(kube, namespace=namespace, name=target_name)
        canary = await observe_canary(kube, namespace=namespace, name=f"{target_name}-canary")
    return observation.Observed(
        name=name,
        uid=uid,
        generation=generation,
        target=target,
        canary=canary,
        requests=requests_from(annotations),
    )


def requests_from(annotations: Mapping[str, str]) -> frozenset[observation.Request]:
    return frozenset(request for request in observation.Request if request.annotation in annotations)


def label_selector(labels: Mapping[str, str]) -> str:
    """Labels as the apiserver's equality-based label selector, e.g. app=web,track=canary."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


async def observe_target(kube: client.Kube, *, namespace: str, name: str) -> observation.TargetObservation:
    deployment = await kube.read_deployment(namespace=namespace, name=name)
    if deployment is None:
        return observation.TargetObservation(namespace=namespace, name=name, exists=False)
    match_labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels", {})
    replica_sets = await kube.list_replica_sets(
        namespace=namespace, label_selector=label_selector(match_labels)
    )
    return target_from_deployment(deployment, replica_sets=replica_sets)


async def observe_canary(kube: client.Kube, *, namespace: str, name: str) -> observation.CanaryObservation:
    deployment = await kube.read_deployment(namespace=namespace, name=name)
    if deployment is None:
        return observation.CanaryObservation(name=name, exists=False)
    return observation.CanaryObservation(
        name=name,
        exists=True,
        template=deployment.get("spec", {}).get("template", {}),
        replicas=deployment.get("spec", {}).get("replicas", 1),
        ready_replicas=deployment.get("status", {}).get("readyReplicas", 0),
    )


def target_from_deployment(
    deployment: dict[str, Any], *, replica_sets: list[dict[str, Any]]
) -> observation.TargetObservation:
    metadata, spec, status = deployment["metadata"], deployment.get("spec", {}), deployment.get("status", {})
    replicas = spec.get("replicas", 1)
    rollout_complete = (
        status.get("observedGeneration", 0) >= metadata.get("generation", 0)
        and status.get("updatedReplicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
    )
    return observation.TargetObservation(
        namespace=metadata["namespace"],
        name=metadata["name"],
        exists=True,
        replicas=replicas,
        ready_replicas=status.get("readyReplicas", 0),
        paused=bool(spec.get("paused", False)),
        selector=spec.get("selector", {}),
        template=spec.get("template", {}),
        rollout_complete=rollout_complete,
        guarded_by=(metadata.get("annotations") or {}).get(observation.GUARDED_BY_ANNOTATION),
        replica_sets=owned_replica_sets(replica_sets, owner_uid=metadata.get("uid", "")),
    )


def owned_replica_sets(
    replica_sets: list[dict[str, Any]], *, owner_uid: str
) -> tuple[observation.ReplicaSetObservation, ...]:
    """The ReplicaSets the Deployment owns, newest (highest revision) first."""
    owned = [
        replica_set
        for replica_set in replica_sets
        if any(
            owner.get("uid") == owner_uid for owner in replica_set["metadata"].get("ownerReferences") or []
        )
    ]
    owned.sort(
        key=lambda rs: int((rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, 0)),
        reverse=True,
    )
    return tuple(
        observation.ReplicaSetObservation(
            name=replica_set["metadata"]["name"],
            pod_template_hash=(replica_set["metadata"].get("labels") or {}).get("pod-template-hash", ""),
            template=replica_set.get("spec", {}).get("template", {}),
            ready_replicas=replica_set.get("status", {}).get("readyReplicas", 0),
        )
        for replica_set in owned
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class PodEndpoint:
    """A Ready pod as a synthetic check reaches it."""

    uid: str
    """The pod object's uid: unlike its IP, never the same for a pod that replaced it."""
    ip: str
    ports: dict[str, int]
    """Container port name to number, for resolving a Service's named targetPort."""


async def ready_pods(kube: client.Kube, *, namespace: str, labels: Mapping[str, str]) -> list[PodEndpoint]:
    return [
        endpoint
        for pod in await kube.list_pods(namespace=namespace, label_selector=label_selector(labels))
        if (endpoint := ready_endpoint(pod)) is not None
    ]


def ready_endpoint(pod: dict[str, Any]) -> PodEndpoint | None:
    status = pod.get("status", {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    if not ready or not status.get("podIP") or pod["metadata"].get("deletionTimestamp"):
        return None
    ports = {
        port["name"]: port["containerPort"]
        for container in pod.get("spec", {}).get("containers", [])
        for port in container.get("ports") or []
        if port.get("name")
    }
    return PodEndpoint(uid=pod["metadata"].get("uid", ""), ip=status["podIP"], ports=ports)


@dataclasses.dataclass(frozen=True)
class Service:
    target_port: int | str | None
    """The first port's targetPort (a number or a container port name), None when it lists no port."""


async def service(kube: client.Kube, *, namespace: str, name: str) -> Service | None:
    """The Service the spec names, as far as calling its pods goes; None when there is no such Service."""
    found = await kube.read_service(namespace=namespace, name=name)
    if found is None:
        return None
    ports = found.get("spec", {}).get("ports") or []
    if not ports:
        return Service(target_port=None)
    return Service(target_port=ports[0].get("targetPort", ports[0].get("port")))
