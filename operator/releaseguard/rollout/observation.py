"""What the operator saw of the world in one pass, as plain values.

kube/ and providers/ fill these from the apiserver and the metric sources; the decision logic reads them
without knowing where they came from, so it can be tested with literal values.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from releaseguard.analysis import measurement, series

GUARDED_BY_ANNOTATION = "releaseguard.io/guarded-by"
"""On a target Deployment: the ReleaseValidation that paused it and owns its rollouts."""


class Request(enum.StrEnum):
    """What a human asks for, by annotating the ReleaseValidation `releaseguard.io/<request>`."""

    PROMOTE = "promote"
    ABORT = "abort"
    RETRY = "retry"
    PAUSE = "pause"
    RESUME = "resume"

    @property
    def annotation(self) -> str:
        return f"releaseguard.io/{self.value}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplicaSetObservation:
    """A ReplicaSet of the target: one revision."""

    name: str
    pod_template_hash: str
    template: dict[str, Any] = dataclasses.field(default_factory=dict)
    ready_replicas: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class TargetObservation:
    """The target Deployment as observed, or `exists=False` when it is missing."""

    namespace: str
    name: str
    exists: bool
    replicas: int = 0
    ready_replicas: int = 0
    paused: bool = False
    selector: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The Deployment's label selector, which the canary extends with its track label."""
    template: dict[str, Any] = dataclasses.field(default_factory=dict)
    rollout_complete: bool = False
    """The Deployment controller has caught up: every replica runs the current template and is available."""
    guarded_by: str | None = None
    """The value of GUARDED_BY_ANNOTATION, if any."""
    replica_sets: tuple[ReplicaSetObservation, ...] = ()
    """The target's own ReplicaSets, newest (highest revision) first."""

    @property
    def current_replica_set(self) -> ReplicaSetObservation | None:
        return self.replica_sets[0] if self.replica_sets else None

    def replica_set(self, name: str | None) -> ReplicaSetObservation | None:
        return next((rs for rs in self.replica_sets if rs.name == name), None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CanaryObservation:
    """The `<target>-canary` Deployment, or `exists=False`."""

    name: str
    exists: bool
    template: dict[str, Any] = dataclasses.field(default_factory=dict)
    replicas: int = 0
    ready_replicas: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observed:
    """Everything one decision is based on besides the spec and the stored status."""

    name: str
    """The ReleaseValidation's name: what GUARDED_BY_ANNOTATION says when the target is ours."""
    uid: str = ""
    """The ReleaseValidation's uid, for the canary's ownerReference."""
    generation: int
    """The ReleaseValidation's .metadata.generation."""
    target: TargetObservation | None
    """None when the spec is too broken to name a target."""
    canary: CanaryObservation | None = None
    requests: frozenset[Request] = frozenset()
    measurements: tuple[measurement.Measurement | series.SeriesMeasurement, ...] | None = None
    """Fresh measurements when an analysis was due (see analysis_request), else None."""
