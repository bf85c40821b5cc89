"""When a ReleaseValidation is reconciled: often while a release waits on something fast, at the moment it
planned while it waits on the clock, seldom at rest.

A release in flight waits on things that change within seconds (canary pods turning Ready, a rollout
completing), and every second there adds to detection time. A release under analysis waits on the clock
instead (its next analysis, the end of its step), so its pass is planned for that moment, and taken then
to the fraction of a second rather than at the next tick: passes in between would only read the cluster
to learn nothing. It still looks at least every STEADY, for a template changed meanwhile; a human's
request wakes it at once (the handlers drop the plan). At rest only a new template matters, and a few
seconds of delay there cost nothing.
"""

from __future__ import annotations

import datetime

from releaseguard.models import v1alpha1

TICK = datetime.timedelta(seconds=2)
"""How often each release's timer fires; a pass is taken at a tick, or waited for within one."""
IN_FLIGHT = TICK
AT_REST = datetime.timedelta(seconds=6)
STEADY = datetime.timedelta(seconds=10)
"""The longest a release under analysis goes without a pass, whatever it planned."""

_AT_REST_PHASES = frozenset(
    {None, v1alpha1.Phase.IDLE, v1alpha1.Phase.SUCCEEDED, v1alpha1.Phase.ROLLED_BACK, v1alpha1.Phase.DEGRADED}
)


def interval(phase: str | None) -> datetime.timedelta:
    return AT_REST if phase in _AT_REST_PHASES else IN_FLIGHT


def wait(
    *,
    phase: str | None,
    last: datetime.datetime | None,
    planned: datetime.datetime | None,
    now: datetime.datetime,
) -> datetime.timedelta | None:
    """How long to wait before reconciling, when the pass falls within this tick; None when it does not.

    `last` is the last pass's time in this process (None: never), `planned` the moment that pass said
    the next one has something to do (None: as soon as the phase's pace allows).
    """
    if last is None:
        return datetime.timedelta(0)
    due = last + interval(phase) if planned is None else min(planned, last + STEADY)
    if due - now >= TICK:
        return None
    return max(due - now, datetime.timedelta(0))
