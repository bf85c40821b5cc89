"""How often a ReleaseValidation is reconciled: often while a release is in flight, seldom at rest.

A release in flight waits on things that change within seconds (canary pods turning Ready, an analysis
coming due, a rollout completing), and every second there adds to detection time. At rest only a new
template matters, and a few seconds of delay there cost nothing.
"""

from __future__ import annotations

import datetime

from releaseguard.models import v1alpha1

IN_FLIGHT = datetime.timedelta(seconds=2)
AT_REST = datetime.timedelta(seconds=6)

_AT_REST_PHASES = frozenset(
    {None, v1alpha1.Phase.IDLE, v1alpha1.Phase.SUCCEEDED, v1alpha1.Phase.ROLLED_BACK, v1alpha1.Phase.DEGRADED}
)


def interval(phase: str | None) -> datetime.timedelta:
    return AT_REST if phase in _AT_REST_PHASES else IN_FLIGHT


def due(*, phase: str | None, last: datetime.datetime | None, now: datetime.datetime) -> bool:
    """Whether to reconcile now, given the last reconciliation's time (None: never, in this process)."""
    return last is None or now - last >= interval(phase)
