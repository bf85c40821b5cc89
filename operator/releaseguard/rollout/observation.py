"""What the operator saw of the world in one pass, as plain values.

kube/ fills these from the apiserver; the decision logic reads them without knowing where they came from,
so it can be tested with literal values.
"""

from __future__ import annotations

import dataclasses

GUARDED_BY_ANNOTATION = "releaseguard.io/guarded-by"
"""On a target Deployment: the ReleaseValidation that paused it and owns its rollouts."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplicaSetObservation:
    """The ReplicaSet that runs one revision of the target."""

    name: str
    pod_template_hash: str
    images: dict[str, str] = dataclasses.field(default_factory=dict)
    """Container name to image."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TargetObservation:
    """The target Deployment as observed, or `exists=False` when it is missing."""

    namespace: str
    name: str
    exists: bool
    replicas: int = 0
    ready_replicas: int = 0
    paused: bool = False
    rollout_complete: bool = False
    """The Deployment controller has caught up: every replica runs the current template and is available."""
    guarded_by: str | None = None
    """The value of GUARDED_BY_ANNOTATION, if any."""
    current_replica_set: ReplicaSetObservation | None = None
    """The target's newest ReplicaSet (highest revision), None before the controller made one."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observed:
    """Everything one decision is based on besides the spec and the stored status."""

    name: str
    """The ReleaseValidation's name: what GUARDED_BY_ANNOTATION says when the target is ours."""
    generation: int
    """The ReleaseValidation's .metadata.generation."""
    target: TargetObservation | None
    """None when the spec is too broken to name a target."""
