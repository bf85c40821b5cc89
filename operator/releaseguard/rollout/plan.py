"""A plan: the status to store, the actions that bring the cluster in line with it, and what to report.

Every action states an end, not a step ("the canary runs this template with 2 replicas"), so executing it
twice, as a restart after a crash between action and status write does, changes nothing the second time.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Any

from releaseguard.models import v1alpha1
from releaseguard.rollout import observation


@dataclasses.dataclass(frozen=True, kw_only=True)
class PauseTarget:
    """The target is paused and annotated as guarded by `guarded_by`: its template changes create no pods."""

    namespace: str
    name: str
    guarded_by: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnpauseTarget:
    """The target is unpaused (still guarded): Kubernetes rolls its current template out."""

    namespace: str
    name: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReleaseTarget:
    """The target is unpaused and no longer annotated: Kubernetes rolls it out on its own again."""

    namespace: str
    name: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class RevertTarget:
    """The target's template is `template` (the stable one), as `kubectl rollout undo` would set it."""

    namespace: str
    name: str
    template: dict[str, Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class EnsureCanary:
    """`<target>-canary` exists with `template` and `replicas`, owned by the ReleaseValidation."""

    namespace: str
    name: str
    target: str
    selector: dict[str, Any]
    """The canary's own selector: the target's plus the track label."""
    template: dict[str, Any]
    replicas: int
    owner_name: str
    owner_uid: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeleteCanary:
    namespace: str
    name: str


Action = PauseTarget | UnpauseTarget | ReleaseTarget | RevertTarget | EnsureCanary | DeleteCanary


class EventType(enum.StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """A Kubernetes Event on the ReleaseValidation: one per transition, with the evidence in the message."""

    type: EventType
    reason: str
    message: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    status: v1alpha1.ReleaseValidationStatus
    """The status to store; equal to the stored one when nothing changed."""
    actions: tuple[Action, ...] = ()
    """To execute, in order, before the status is stored."""
    next_pass: datetime.datetime | None = None
    """When the next pass has something to do if nothing changes meanwhile (the next analysis, the end
    of the step); None: as soon as the phase's pace allows (see pacing)."""
    store_first: bool = False
    """The actions leave a world in which the stored phase would not lead to them (a rollback deletes the
    canary and reverts the target; a promotion unpauses the target a canary phase keeps paused): the
    status is stored before them too, so that an operator killed in between carries the decision out
    after its restart instead of deciding anew from a world it no longer recognises."""
    events: tuple[Event, ...] = ()
    consumed: frozenset[observation.Request] = frozenset()
    """Requests acted upon: their annotations are removed with the status write."""
