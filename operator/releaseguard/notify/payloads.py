"""The bodies posted to each kind of receiver, and the signature of a webhook's.

Every receiver gets the same facts: which release, which revision, what happened, the one-line summary
and, for a failure, the incident (severity, impact, suspected cause). A generic webhook gets them all as
JSON, signed with HMAC-SHA256 over the exact bytes sent, as GitHub and Stripe sign theirs, so a receiver
verifies before it parses. Slack gets text a person reads in a channel. Alertmanager gets one alert per
revision, labelled for its routing and grouping (severity and summary among the labels), firing until the
incident resolves.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from releaseguard.models import v1alpha1

SIGNATURE_HEADER = "X-Releaseguard-Signature"
ID_HEADER = "X-Releaseguard-Id"
ALERT_NAME = "ReleaseValidationFailed"
FIRING_FOR = datetime.timedelta(hours=24)
"""How long a firing alert stays firing in Alertmanager if no resolution follows (the operator gone)."""
_ICONS = {
    v1alpha1.NotificationEvent.STARTED: ":rocket:",
    v1alpha1.NotificationEvent.STEP_ADVANCED: ":arrow_forward:",
    v1alpha1.NotificationEvent.PAUSED: ":double_vertical_bar:",
    v1alpha1.NotificationEvent.PROMOTED: ":arrow_up:",
    v1alpha1.NotificationEvent.SUCCEEDED: ":white_check_mark:",
    v1alpha1.NotificationEvent.ROLLING_BACK: ":rotating_light:",
    v1alpha1.NotificationEvent.ROLLED_BACK: ":leftwards_arrow_with_hook:",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Message:
    """One pending notification with what it is about."""

    pending: v1alpha1.PendingNotification
    namespace: str
    name: str
    """The ReleaseValidation."""
    target: str
    """The Deployment."""
    phase: v1alpha1.Phase | None
    incident: v1alpha1.Incident | None
    """The incident the message concerns, if any."""


def webhook(message: Message) -> bytes:
    """The generic webhook's JSON body: compact, keys sorted, the same bytes that are signed."""
    pending, incident = message.pending, message.incident
    body: dict[str, Any] = {
        "id": pending.id,
        "event": pending.event.value,
        "releaseValidation": {"namespace": message.namespace, "name": message.name},
        "target": message.target,
        "phase": message.phase.value if message.phase else None,
        "severity": pending.severity.value if pending.severity else None,
        "summary": pending.summary,
        "time": _time(pending.created_at),
        "incident": incident.to_json() if incident is not None else None,
    }
    return _dump(body)


def signature(body: bytes, *, key: bytes) -> str:
    """The value of SIGNATURE_HEADER: sha256=<hex HMAC-SHA256 of the body under the key>."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(body: bytes, *, key: bytes, header: str) -> bool:
    """Whether `header` is the body's signature under `key`, compared in constant time (for receivers)."""
    return hmac.compare_digest(signature(body, key=key), header)


def slack(message: Message) -> bytes:
    """A Slack incoming-webhook body: a line to read in the channel, and the incident's facts under it."""
    pending, incident = message.pending, message.incident
    icon = _ICONS[pending.event]
    lines = [f"{icon} *{message.namespace}/{message.name}* {pending.event.value}: {pending.summary}"]
    if incident is not None and pending.severity is not None:
        impact = incident.impact
        lines.append(
            f"{incident.severity.value} ({incident.severity_reason}); "
            f"{impact.affected_share * 100:.2g}% of requests hurt, {impact.affected_requests:.0f} so far"
        )
        lines += [f"• {cause}" for cause in incident.suspected_cause[:5]]
    return _dump({"text": "\n".join(lines)})


def alertmanager(message: Message, *, labels: Mapping[str, str], now: datetime.datetime) -> bytes:
    """Alertmanager's v2 `POST /api/v2/alerts` body: the revision's one alert, firing or resolved."""
    pending, incident = message.pending, message.incident
    severity = incident.severity if incident is not None else pending.severity
    alert_labels = {
        **labels,
        "alertname": ALERT_NAME,
        "namespace": message.namespace,
        "releasevalidation": message.name,
        "deployment": message.target,
        "revision": pending.id.split("/", 1)[0],
        "severity": severity.value if severity else "SEV4",
        # Also a label, so that routes and silences can match it: it is fixed when the incident opens,
        # so every post of the alert carries the same one and its identity never changes.
        "summary": pending.summary,
    }
    started = incident.opened_at if incident is not None else pending.created_at
    ends = now if not pending.firing else now + FIRING_FOR
    annotations = {"summary": pending.summary}
    if incident is not None:
        annotations["description"] = "\n".join(incident.suspected_cause)
        annotations["impact"] = (
            f"{incident.impact.affected_share * 100:.2g}% of requests hurt, "
            f"{incident.impact.affected_requests:.0f} so far"
        )
    alert = {
        "labels": alert_labels,
        "annotations": annotations,
        "startsAt": _time(started),
        "endsAt": _time(max(ends, started)),
    }
    return _dump([alert])


def _dump(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
