"""Observe the world the decision logic needs: reads only, as few as the decision needs."""

from __future__ import annotations

from typing import Any

from releaseguard.kube import client
from releaseguard.rollout import observation

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


async def observe(
    kube: client.Kube, *, name: str, namespace: str, target_name: str | None, generation: int
) -> observation.Observed:
    target = None
    if target_name is not None:
        target = await observe_target(kube, namespace=namespace, name=target_name)
    return observation.Observed(name=name, generation=generation, target=target)


async def observe_target(kube: client.Kube, *, namespace: str, name: str) -> observation.TargetObservation:
    deployment = await kube.read_deployment(namespace=namespace, name=name)
    if deployment is None:
        return observation.TargetObservation(namespace=namespace, name=name, exists=False)
    match_labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels", {})
    replica_sets = await kube.list_replica_sets(
        namespace=namespace, label_selector=",".join(f"{key}={value}" for key, value in match_labels.items())
    )
    return target_from_deployment(deployment, replica_sets=replica_sets)


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
        rollout_complete=rollout_complete,
        guarded_by=(metadata.get("annotations") or {}).get(observation.GUARDED_BY_ANNOTATION),
        current_replica_set=newest_replica_set(replica_sets, owner_uid=metadata.get("uid", "")),
    )


def newest_replica_set(
    replica_sets: list[dict[str, Any]], *, owner_uid: str
) -> observation.ReplicaSetObservation | None:
    """The owned ReplicaSet with the highest revision: the one the Deployment's template last produced."""
    owned = [
        replica_set
        for replica_set in replica_sets
        if any(
            owner.get("uid") == owner_uid for owner in replica_set["metadata"].get("ownerReferences") or []
        )
    ]
    if not owned:
        return None
    newest = max(
        owned, key=lambda rs: int((rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, 0))
    )
    containers = newest.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return observation.ReplicaSetObservation(
        name=newest["metadata"]["name"],
        pod_template_hash=(newest["metadata"].get("labels") or {}).get("pod-template-hash", ""),
        images={container["name"]: container.get("image", "") for container in containers},
    )
