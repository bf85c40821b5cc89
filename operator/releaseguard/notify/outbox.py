"""Which messages a release owes its notification routes, and when to try again one that failed.

One bad release must be one conversation, not fifty alerts. Messages follow the release's transitions
(started, a step, paused, promoted, succeeded, rolling back, rolled back), not the evaluations between
them, and each is named by the revision and what happened: the same message is never queued twice, and
the names of the latest delivered are kept in status, so a restart sends nothing again (a round of posts
under way when the operator stops is posted again: receivers see the same id and can drop it).
Alertmanager routes get the incident alone, as one alert per revision that fires when it opens (posted
again every REFRESH while it stays open, as Alertmanager expects of a firing alert) and resolves when it
ends, so Alertmanager groups a release's trouble into one notification.

Messages wait in `status.outbox` until delivered. A failed delivery is retried with exponential backoff
(5 s doubling to 10 minutes) and given up after MAX_ATTEMPTS, about an hour and a half: a receiver down
longer than that has missed a release that is long decided. Nothing here waits on a receiver: the
decision and its actions never depend on a delivery (`delivery` posts in the background).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from releaseguard.models import v1alpha1

FIRST_RETRY = datetime.timedelta(seconds=5)
LONGEST_RETRY = datetime.timedelta(minutes=10)
MAX_ATTEMPTS = 12
REFRESH = datetime.timedelta(hours=12)
"""How often an open incident's alert is posted again; each post ends it a day later (payloads.FIRING_FOR)."""
MAX_NOTIFIED = 50
"""Delivered ids remembered: a release's messages number a dozen at most per route."""
MAX_SUMMARY = 1024
"""Characters of a queued message's summary kept in status: enough for a chat line, bounded for etcd."""

Phase = v1alpha1.Phase
Event = v1alpha1.NotificationEvent
_ENTERED = {
    Phase.PAUSED: Event.PAUSED,
    Phase.PROMOTING: Event.PROMOTED,
    Phase.SUCCEEDED: Event.SUCCEEDED,
    Phase.ROLLING_BACK: Event.ROLLING_BACK,
    Phase.ROLLED_BACK: Event.ROLLED_BACK,
}
_FAILURES = (Event.PAUSED, Event.ROLLING_BACK, Event.ROLLED_BACK)
_RANK = {severity: rank for rank, severity in enumerate(v1alpha1.Severity)}


def events(before: v1alpha1.ReleaseValidationStatus, after: v1alpha1.ReleaseValidationStatus) -> list[Event]:
    """What happened between two statuses, as notification events."""
    happened = []
    revision = after.canary_revision.template_hash if after.canary_revision else None
    previous = before.canary_revision.template_hash if before.canary_revision else None
    if after.phase == Phase.PROGRESSING and revision is not None and revision != previous:
        happened.append(Event.STARTED)
    elif (
        after.phase == Phase.PROGRESSING
        and before.phase == Phase.PROGRESSING
        and (after.current_step_index or 0) > (before.current_step_index or 0)
    ):
        happened.append(Event.STEP_ADVANCED)
    if after.phase != before.phase and after.phase in _ENTERED:
        happened.append(_ENTERED[after.phase])
    return happened


def enqueue(
    *,
    routes: Sequence[v1alpha1.Notification],
    before: v1alpha1.ReleaseValidationStatus,
    after: v1alpha1.ReleaseValidationStatus,
    now: datetime.datetime,
) -> v1alpha1.ReleaseValidationStatus:
    """`after` with the messages this transition owes each route added to its outbox."""
    revision = _revision(after) or _revision(before) or "none"
    incident = after.incident
    severity = incident.severity if incident is not None and incident.revision == revision else None
    summary = after.last_decision.message if after.last_decision is not None else (after.message or "")
    pending = list(after.outbox)
    if incident is not None and severity is not None:
        pending = _told_of(pending, incident=incident, routes=routes)
    queued = {f"{entry.route}/{entry.id}" for entry in pending} | set(after.notified)

    def add(route: v1alpha1.Notification, message_id: str, event: Event, *, firing: bool, text: str) -> None:
        if f"{route.name}/{message_id}" in queued:
            return
        queued.add(f"{route.name}/{message_id}")
        pending.append(
            v1alpha1.PendingNotification(
                id=message_id,
                route=route.name,
                event=event,
                severity=severity if event in _FAILURES else None,
                firing=firing,
                summary=text[:MAX_SUMMARY],
                created_at=now,
                next_attempt_at=now,
            )
        )

    happened = events(before, after)
    for route in routes:
        if isinstance(route, v1alpha1.AlertmanagerNotification):
            if incident is None or not _severe_enough(incident.severity, route):
                continue
            if incident.resolved_at is None:
                # Posted again every REFRESH while open, so that the alert outlives its endsAt no matter
                # how long a human takes: each period's post has its own id, sent once.
                period = int((now - incident.opened_at) / REFRESH)
                add(
                    route,
                    f"{incident.revision}/firing" + (f"/{period}" if period > 0 else ""),
                    Event.ROLLING_BACK,
                    firing=True,
                    text=incident.summary,
                )
            elif incident.resolved_at is not None and (
                before.incident is None or before.incident.resolved_at is None
            ):
                add(
                    route,
                    f"{incident.revision}/resolved",
                    Event.ROLLED_BACK,
                    firing=False,
                    text=incident.summary,
                )
            continue
        for event in happened:
            if route.events and event not in route.events:
                continue
            if event in _FAILURES and severity is not None and not _severe_enough(severity, route):
                continue
            text = incident.summary if event in _FAILURES and incident is not None and severity else summary
            add(route, f"{revision}/{event.value}", event, firing=True, text=text)
    overflow = max(0, len(pending) - 50)
    return after.model_copy(update={"outbox": tuple(pending[overflow:])})


def _told_of(
    pending: list[v1alpha1.PendingNotification],
    *,
    incident: v1alpha1.Incident,
    routes: Sequence[v1alpha1.Notification],
) -> list[v1alpha1.PendingNotification]:
    """`pending` with the failure messages of the incident's revision, queued before it opened (a decision
    stored ahead of its actions), carrying it now; those a route's `minSeverity` excludes are dropped."""
    by_name = {route.name: route for route in routes}
    told = []
    for entry in pending:
        route = by_name.get(entry.route)
        if (
            entry.event in _FAILURES
            and entry.severity is None
            and entry.id.startswith(f"{incident.revision}/")
        ):
            if route is not None and not _severe_enough(incident.severity, route):
                continue
            entry = entry.model_copy(
                update={"severity": incident.severity, "summary": incident.summary[:MAX_SUMMARY]}
            )
        told.append(entry)
    return told


def due(
    outbox: Sequence[v1alpha1.PendingNotification], now: datetime.datetime
) -> list[v1alpha1.PendingNotification]:
    """What to post now: of each route's messages whose time has come, the oldest only.

    One post per route per reconciliation (about every two seconds) is the rate limit: a burst of
    transitions reaches a receiver in order and spaced out (Slack takes about one message a second per
    webhook), never as a flood.
    """
    first: dict[str, v1alpha1.PendingNotification] = {}
    for entry in outbox:
        if entry.next_attempt_at <= now and entry.route not in first:
            first[entry.route] = entry
    return list(first.values())


def settle(
    status: v1alpha1.ReleaseValidationStatus,
    *,
    delivered: Sequence[v1alpha1.PendingNotification],
    failed: Sequence[tuple[v1alpha1.PendingNotification, str]],
    now: datetime.datetime,
) -> tuple[v1alpha1.ReleaseValidationStatus, list[v1alpha1.PendingNotification]]:
    """`status` after one round of deliveries, and the messages given up on this round."""
    done = {(entry.route, entry.id) for entry in delivered}
    errors = {(entry.route, entry.id): error for entry, error in failed}
    outbox, given_up = [], []
    for entry in status.outbox:
        key = (entry.route, entry.id)
        if key in done:
            continue
        if key in errors:
            attempts = entry.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                given_up.append(
                    entry.model_copy(update={"attempts": attempts, "last_error": errors[key][:256]})
                )
                continue
            delay = min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)
            entry = entry.model_copy(
                update={"attempts": attempts, "next_attempt_at": now + delay, "last_error": errors[key][:256]}
            )
        outbox.append(entry)
    notified = (*status.notified, *(f"{route}/{message_id}" for route, message_id in done))[-MAX_NOTIFIED:]
    return status.model_copy(update={"outbox": tuple(outbox), "notified": notified}), given_up


def _severe_enough(severity: v1alpha1.Severity, route: v1alpha1.Notification) -> bool:
    return _RANK[severity] <= _RANK[route.min_severity]


def _revision(status: v1alpha1.ReleaseValidationStatus) -> str | None:
    return status.canary_revision.template_hash if status.canary_revision else None
