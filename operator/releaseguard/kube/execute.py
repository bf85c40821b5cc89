"""Carry out a plan's actions against the apiserver.

Each action states an end; executing it again after a crash, or when the world is already there, is
harmless. A conflict (someone else changed the object) is left to the next reconciliation, which observes
again and decides again.
"""

from __future__ import annotations

import collections.abc
import typing

from releaseguard.kube import client
from releaseguard.models import crd
from releaseguard.rollout import observation, plan, templates


async def execute(kube: client.Kube, actions: collections.abc.Sequence[plan.Action]) -> None:
    for action in actions:
        match action:
            case plan.PauseTarget():
                await _set_paused(
                    kube, action.namespace, action.name, paused=True, guarded_by=action.guarded_by
                )
            case plan.UnpauseTarget():
                await _set_paused(kube, action.namespace, action.name, paused=False)
            case plan.ReleaseTarget():
                await _release_target(kube, action)
            case plan.RevertTarget():
                await kube.replace_in_deployment(
                    namespace=action.namespace, name=action.name, values={"/spec/template": action.template}
                )
            case plan.EnsureCanary():
                await _ensure_canary(kube, action)
            case plan.DeleteCanary():
                await kube.delete_deployment(namespace=action.namespace, name=action.name)
            case _:
                typing.assert_never(action)


async def _set_paused(
    kube: client.Kube, namespace: str, name: str, *, paused: bool, guarded_by: str | None = None
) -> None:
    body: dict[str, typing.Any] = {"spec": {"paused": paused}}
    if guarded_by is not None:
        body["metadata"] = {"annotations": {observation.GUARDED_BY_ANNOTATION: guarded_by}}
    await kube.patch_deployment(namespace=namespace, name=name, body=body)


async def _release_target(kube: client.Kube, action: plan.ReleaseTarget) -> None:
    body = {"metadata": {"annotations": {observation.GUARDED_BY_ANNOTATION: None}}, "spec": {"paused": False}}
    try:
        await kube.patch_deployment(namespace=action.namespace, name=action.name, body=body)
    except client.NotFound:
        return


async def _ensure_canary(kube: client.Kube, action: plan.EnsureCanary) -> None:
    current = await kube.read_deployment(namespace=action.namespace, name=action.name)
    if current is None:
        try:
            await kube.create_deployment(namespace=action.namespace, body=_canary_deployment(action))
        except client.Conflict:
            return
        return
    spec = current.get("spec", {})
    changes: dict[str, typing.Any] = {}
    if templates.fingerprint(spec.get("template", {})) != templates.fingerprint(action.template):
        changes["/spec/template"] = action.template
    if spec.get("replicas") != action.replicas:
        changes["/spec/replicas"] = action.replicas
    if changes:
        await kube.replace_in_deployment(namespace=action.namespace, name=action.name, values=changes)


def _canary_deployment(action: plan.EnsureCanary) -> dict[str, typing.Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": action.name,
            "namespace": action.namespace,
            "labels": {
                templates.TRACK_LABEL: templates.CANARY_TRACK,
                "app.kubernetes.io/managed-by": "releaseguard",
            },
            "ownerReferences": [
                {
                    "apiVersion": crd.API_VERSION,
                    "kind": crd.KIND,
                    "name": action.owner_name,
                    "uid": action.owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": action.replicas, "selector": action.selector, "template": action.template},
    }
