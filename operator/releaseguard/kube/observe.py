"""Observe the world the decision logic needs: reads only, one per object."""

from __future__ import annotations

from typing import Any

from releaseguard.kube import client
from releaseguard.rollout import observation


async def observe(
    kube: client.Kube, *, namespace: str, target_name: str | None, generation: int
) -> observation.Observed:
    target = None
    if target_name is not None:
        target = await observe_target(kube, namespace=namespace, name=target_name)
    return observation.Observed(generation=generation, target=target)


async def observe_target(kube: client.Kube, *, namespace: str, name: str) -> observation.TargetObservation:
    deployment = await kube.read_deployment(namespace=namespace, name=name)
    if deployment is None:
        return observation.TargetObservation(namespace=namespace, name=name, exists=False)
    return target_from_deployment(deployment)


def target_from_deployment(deployment: dict[str, Any]) -> observation.TargetObservation:
    metadata, spec, status = deployment["metadata"], deployment.get("spec", {}), deployment.get("status", {})
    containers = spec.get("template", {}).get("spec", {}).get("containers", [])
    return observation.TargetObservation(
        namespace=metadata["namespace"],
        name=metadata["name"],
        exists=True,
        replicas=spec.get("replicas", 1),
        ready_replicas=status.get("readyReplicas", 0),
        paused=bool(spec.get("paused", False)),
        images=tuple(container.get("image", "") for container in containers),
    )
