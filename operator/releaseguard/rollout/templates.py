"""Pod templates as the rollout compares and copies them.

Kubernetes' own pod-template-hash cannot be recomputed outside the Deployment controller (it hashes the Go
structure), and a paused Deployment makes no ReplicaSet for a new template, so there is no hash to read.
releaseguard therefore fingerprints templates itself: the same template always gives the same fingerprint,
whether it is read from the Deployment, its ReplicaSet or the canary.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

TRACK_LABEL = "releaseguard.io/track"
"""On canary pods (labels and selector): tells them apart from the target's pods."""
CANARY_TRACK = "canary"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
# Labels that say where a pod runs, not what it runs; a fingerprint ignores them.
_PLACEMENT_LABELS = (TRACK_LABEL, POD_TEMPLATE_HASH_LABEL)


def normalized(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template without the labels that Kubernetes or releaseguard add for placement."""
    result = copy.deepcopy(dict(template))
    labels = result.get("metadata", {}).get("labels")
    if labels:
        for label in _PLACEMENT_LABELS:
            labels.pop(label, None)
    return result


def fingerprint(template: Mapping[str, Any]) -> str:
    canonical = json.dumps(normalized(template), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def images(template: Mapping[str, Any]) -> dict[str, str]:
    containers = template.get("spec", {}).get("containers", [])
    return {container["name"]: container.get("image", "") for container in containers}


def canary_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """The target's new template with the canary track label, so canary pods are told apart."""
    result = normalized(template)
    result.setdefault("metadata", {}).setdefault("labels", {})[TRACK_LABEL] = CANARY_TRACK
    return result


def canary_selector(selector: Mapping[str, Any]) -> dict[str, Any]:
    """The target's label selector narrowed to canary pods (the target's own pods lack the track label)."""
    result = copy.deepcopy(dict(selector))
    result.setdefault("matchLabels", {})[TRACK_LABEL] = CANARY_TRACK
    return result


def canary_replicas(*, weight: int, target_replicas: int) -> int:
    """Canary replicas c giving the canary `weight` percent of all Ready pods next to the target's N pods.

    c / (N + c) = w  gives  c = w·N / (1 - w); at least one pod, so a step is never empty.
    """
    share = weight / 100
    return max(1, round(share * target_replicas / (1 - share)))


def actual_weight(*, canary_ready: int, target_ready: int) -> int:
    """The canary's share of Ready pods, in percent, as traffic sees it."""
    total = canary_ready + target_ready
    return 0 if total == 0 else round(100 * canary_ready / total)
