"""Which messages a transition owes each route, once only, and how failed ones are retried."""

from __future__ import annotations

import datetime
from typing import Any

from releaseguard.models import v1alpha1
from releaseguard.notify import outbox

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
SECOND = datetime.timedelta(seconds=1)
Phase, Event = v1alpha1.Phase, v1alpha1.NotificationEvent
ROUTES = v1alpha1.ReleaseValidationSpec.model_validate(
    {
        "targetRef": {"name": "web"},
        "service": "web",
        "steps": [{"weight": 10, "duration": "1m"}],
        "analysis": {"syntheticChecks": [{"name": "home", "http": {"path": "/"}}]},
        "notifications": [
            {"name": "all", "type": "webhook", "url": "http://hooks.example/all"},
            {
                "name": "failures",
                "type": "slack",
                "secretRef": {"name": "slack"},
                "minSeverity": "SEV2",
                "events": ["rollingBack", "rolledBack"],
            },
            {"name": "pager", "type": "alertmanager", "url": "http://am:9093", "minSeverity": "SEV2"},
        ],
    }
).notifications


def status(phase: Phase | None, **fields: Any) -> v1alpha1.ReleaseValidationStatus:
    return v1alpha1.ReleaseValidationStatus(
        phase=phase, canary_revision=v1alpha1.Revision(template_hash="h2"), **fields
    )


def incident(severity: str = "SEV1", resolved: datetime.datetime | None = None) -> v1alpha1.Incident:
    return v1alpha1.Incident.model_validate(
        {
            "severity": severity,
            "severityReason": "6% of requests hurt ≥ 5%",
            "summary": f"{severity} shop/web: error-rate 0.2 vs baseline 0.01; rolling back",
            "revision": "h2",
            "stage": "canary",
            "openedAt": "2026-11-27T12:00:00Z",
            "resolvedAt": resolved.isoformat() if resolved else None,
            "impact": {"trafficShare": 0.1, "affectedShare": 0.06, "affectedRequests": 300},
        }
    )


def queued(before: v1alpha1.ReleaseValidationStatus, after: v1alpha1.ReleaseValidationStatus) -> list[str]:
    return [
        f"{entry.route}/{entry.id}"
        for entry in outbox.enqueue(routes=ROUTES, before=before, after=after, now=NOW).outbox
    ]


def test_a_new_revision_starts_and_steps_advance() -> None:
    idle = v1alpha1.ReleaseValidationStatus(phase=Phase.IDLE)
    started = status(Phase.PROGRESSING, current_step_index=0)
    assert queued(idle, started) == ["all/h2/started"]
    assert queued(started, status(Phase.PROGRESSING, current_step_index=1)) == ["all/h2/stepAdvanced"]
    assert queued(started, started) == []


def test_a_rollback_is_one_conversation_per_route() -> None:
    progressing = status(Phase.PROGRESSING)
    rolling_back = status(Phase.ROLLING_BACK, incident=incident())
    assert queued(progressing, rolling_back) == [
        "all/h2/rollingBack",
        "failures/h2/rollingBack",
        "pager/h2/firing",
    ]
    entries = outbox.enqueue(routes=ROUTES, before=progressing, after=rolling_back, now=NOW).outbox
    assert {entry.severity for entry in entries} == {v1alpha1.Severity.SEV1}
    assert entries[0].summary.startswith("SEV1 shop/web")
    # Queued already: the next reconciliation in the same phase adds nothing.
    again = outbox.enqueue(
        routes=ROUTES, before=rolling_back, after=rolling_back.model_copy(update={"outbox": entries}), now=NOW
    )
    assert len(again.outbox) == 3
    rolled_back = status(Phase.ROLLED_BACK, incident=incident(resolved=NOW))
    assert queued(rolling_back, rolled_back) == [
        "all/h2/rolledBack",
        "failures/h2/rolledBack",
        "pager/h2/resolved",
    ]


def test_failures_below_a_routes_minimum_severity_are_not_sent() -> None:
    mild = status(Phase.ROLLING_BACK, incident=incident("SEV3"))
    assert queued(status(Phase.PROGRESSING), mild) == ["all/h2/rollingBack"]


def test_a_rollback_queued_before_its_incident_carries_the_incident_once_it_opens() -> None:
    # The rollback was stored ahead of its actions, its messages queued before the incident opened.
    progressing, rolling_back = status(Phase.PROGRESSING), status(Phase.ROLLING_BACK)
    early = outbox.enqueue(routes=ROUTES, before=progressing, after=rolling_back, now=NOW)
    assert [(entry.route, entry.severity) for entry in early.outbox] == [("all", None), ("failures", None)]
    for kind, dropped in (("SEV1", False), ("SEV3", True)):
        opened = early.model_copy(update={"incident": incident(kind)})
        told = outbox.enqueue(routes=ROUTES, before=progressing, after=opened, now=NOW).outbox
        by_route = {entry.route: entry for entry in told if entry.id == "h2/rollingBack"}
        assert by_route["all"].severity == kind
        assert by_route["all"].summary.startswith(f"{kind} shop/web")
        # The route that wants SEV2 or worse drops the milder incident's message.
        assert ("failures" not in by_route) is dropped


def test_what_was_delivered_is_not_queued_again() -> None:
    rolling_back = status(Phase.ROLLING_BACK, incident=incident(), notified=("all/h2/rollingBack",))
    assert "all/h2/rollingBack" not in queued(status(Phase.PROGRESSING), rolling_back)


def test_a_failed_delivery_backs_off_then_gives_up() -> None:
    after = outbox.enqueue(
        routes=ROUTES[:1], before=status(Phase.PROGRESSING), after=status(Phase.ROLLING_BACK), now=NOW
    )
    (entry,) = after.outbox
    delays = []
    now = NOW
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        assert outbox.due(after.outbox, now) == [after.outbox[0]]
        after, given_up = outbox.settle(after, delivered=[], failed=[(after.outbox[0], "HTTP 503")], now=now)
        assert given_up == []
        delays.append(after.outbox[0].next_attempt_at - now)
        assert outbox.due(after.outbox, now) == []
        now = after.outbox[0].next_attempt_at
    assert delays[:4] == [5 * SECOND, 10 * SECOND, 20 * SECOND, 40 * SECOND]
    assert max(delays) == outbox.LONGEST_RETRY
    after, given_up = outbox.settle(after, delivered=[], failed=[(after.outbox[0], "HTTP 503")], now=now)
    assert after.outbox == ()
    assert [(gone.id, gone.attempts, gone.last_error) for gone in given_up] == [
        (entry.id, outbox.MAX_ATTEMPTS, "HTTP 503")
    ]


def test_a_delivered_message_leaves_the_outbox_and_is_remembered() -> None:
    after = outbox.enqueue(
        routes=ROUTES[:1], before=status(Phase.PROGRESSING), after=status(Phase.ROLLING_BACK), now=NOW
    )
    settled, _ = outbox.settle(after, delivered=list(after.outbox), failed=[], now=NOW)
    assert settled.outbox == ()
    assert settled.notified == ("all/h2/rollingBack",)


def test_the_memory_of_delivered_ids_is_bounded() -> None:
    remembered = status(Phase.PROGRESSING, notified=tuple(f"r/{n}" for n in range(outbox.MAX_NOTIFIED)))
    after = outbox.enqueue(
        routes=ROUTES[:1],
        before=status(Phase.IDLE),
        after=remembered.model_copy(update={"phase": Phase.ROLLING_BACK}),
        now=NOW,
    )
    settled, _ = outbox.settle(after, delivered=list(after.outbox), failed=[], now=NOW)
    assert len(settled.notified) == outbox.MAX_NOTIFIED
    assert settled.notified[-1] == "all/h2/rollingBack"


def test_an_open_incidents_alert_is_posted_again_every_refresh_period() -> None:
    routes = ROUTES[2:]  # the Alertmanager route
    open_incident = incident()
    paused = status(Phase.PAUSED, incident=open_incident)

    def queued_at(later: datetime.timedelta, *, notified: tuple[str, ...] = ()) -> list[str]:
        current = paused.model_copy(update={"notified": notified})
        after = outbox.enqueue(
            routes=routes, before=current, after=current, now=open_incident.opened_at + later
        )
        return [entry.id for entry in after.outbox]

    assert queued_at(SECOND) == ["h2/firing"]
    assert queued_at(SECOND, notified=("pager/h2/firing",)) == []
    assert queued_at(outbox.REFRESH + SECOND, notified=("pager/h2/firing",)) == ["h2/firing/1"]
    assert queued_at(2 * outbox.REFRESH, notified=("pager/h2/firing", "pager/h2/firing/1")) == ["h2/firing/2"]


def test_a_route_gets_one_post_per_round_the_oldest_first() -> None:
    started = outbox.enqueue(
        routes=ROUTES,
        before=v1alpha1.ReleaseValidationStatus(phase=Phase.IDLE),
        after=status(Phase.PROGRESSING),
        now=NOW,
    )
    rolling_back = outbox.enqueue(
        routes=ROUTES,
        before=started,
        after=started.model_copy(update={"phase": Phase.ROLLING_BACK, "incident": incident()}),
        now=NOW + SECOND,
    )
    first = outbox.due(rolling_back.outbox, NOW + SECOND)
    assert [f"{entry.route}/{entry.id}" for entry in first] == [
        "all/h2/started",
        "failures/h2/rollingBack",
        "pager/h2/firing",
    ]
    after, _ = outbox.settle(rolling_back, delivered=first, failed=[], now=NOW + SECOND)
    assert [f"{entry.route}/{entry.id}" for entry in outbox.due(after.outbox, NOW + SECOND)] == [
        "all/h2/rollingBack"
    ]
