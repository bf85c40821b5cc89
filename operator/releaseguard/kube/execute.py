"""Carry out a plan's actions against the apiserver.

Each action is a merge patch stating an end state, so executing it again after a crash is harmless.
"""

from __future__ import annotations

import collections.abc
import typing

from releaseguard.kube import client
from releaseguard.rollout import observation, plan


async def execute(kube: client.Kube, actions: collections.abc.Sequence[plan.Action]) -> None:
    for action in actions:
        match action:
            case plan.PauseTarget():
                await _pause_target(kube, action)
            case plan.ReleaseTarget():
                await _release_target(kube, action)
            case _:
                typing.assert_never(action)


async def _pause_target(kube: client.Kube, action: plan.PauseTarget) -> None:
    body = {
        "metadata": {"annotations": {observation.GUARDED_BY_ANNOTATION: action.guarded_by}},
        "spec": {"paused": True},
    }
    await kube.patch_deployment(namespace=action.namespace, name=action.name, body=body)


async def _release_target(kube: client.Kube, action: plan.ReleaseTarget) -> None:
    body = {"metadata": {"annotations": {observation.GUARDED_BY_ANNOTATION: None}}, "spec": {"paused": False}}
    try:
        await kube.patch_deployment(namespace=action.namespace, name=action.name, body=body)
    except client.NotFound:
        return
