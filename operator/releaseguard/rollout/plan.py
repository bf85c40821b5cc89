"""A plan: the status to store and the actions that bring the cluster in line with it.

Every action states an end, not a step ("the target is paused, guarded by X"), so executing it twice, as a
restart after a crash between action and status write does, changes nothing the second time.
"""

from __future__ import annotations

import dataclasses

from releaseguard.models import v1alpha1


@dataclasses.dataclass(frozen=True, kw_only=True)
class PauseTarget:
    """The target is paused and annotated as guarded by `guarded_by`: its template changes create no pods."""

    namespace: str
    name: str
    guarded_by: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReleaseTarget:
    """The target is unpaused and no longer annotated: Kubernetes rolls it out on its own again."""

    namespace: str
    name: str


Action = PauseTarget | ReleaseTarget


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    status: v1alpha1.ReleaseValidationStatus
    """The status to store; equal to the stored one when nothing changed."""
    actions: tuple[Action, ...] = ()
    """To execute, in order, before the status is stored."""
