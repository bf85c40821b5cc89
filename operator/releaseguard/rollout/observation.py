"""What the operator saw of the world in one pass, as plain values.

kube/ fills these from the apiserver; the decision logic reads them without knowing where they came from,
so it can be tested with literal values.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, kw_only=True)
class TargetObservation:
    """The target Deployment as observed, or `exists=False` when it is missing."""

    namespace: str
    name: str
    exists: bool
    replicas: int = 0
    ready_replicas: int = 0
    paused: bool = False
    images: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observed:
    """Everything one decision is based on besides the spec and the stored status."""

    generation: int
    """The ReleaseValidation's .metadata.generation."""
    target: TargetObservation | None
    """None when the spec is too broken to name a target."""
