"""What each receiver gets: the webhook's signed JSON, Slack's text, Alertmanager's alert."""

from __future__ import annotations

import datetime
import json

import pytest

from releaseguard.models import v1alpha1
from releaseguard.notify import payloads
from tests.unit import test_outbox

NOW = datetime.datetime(2026, 11, 27, 12, 5, tzinfo=datetime.UTC)
INCIDENT = test_outbox.incident("SEV2").model_copy(
    update={
        "suspected_cause": ("container app image: demo:1.0 → demo:2.0", "route=/api/checkout carries 92%")
    }
)


def message(
    *, firing: bool = True, event: v1alpha1.NotificationEvent = v1alpha1.NotificationEvent.ROLLING_BACK
) -> payloads.Message:
    pending = v1alpha1.PendingNotification(
        id="h2/firing" if firing else "h2/resolved",
        route="pager",
        event=event,
        severity=v1alpha1.Severity.SEV2,
        firing=firing,
        summary=INCIDENT.summary,
        created_at=NOW,
        next_attempt_at=NOW,
    )
    return payloads.Message(
        pending=pending,
        namespace="shop",
        name="web",
        target="web",
        phase=v1alpha1.Phase.ROLLING_BACK,
        incident=INCIDENT,
    )


def test_the_webhook_body_carries_the_incident_and_its_signature_verifies() -> None:
    body = payloads.webhook(message())
    parsed = json.loads(body)
    assert parsed["event"] == "rollingBack"
    assert parsed["releaseValidation"] == {"namespace": "shop", "name": "web"}
    assert parsed["severity"] == "SEV2"
    assert parsed["incident"]["impact"]["affectedRequests"] == 300
    header = payloads.signature(body, key=b"k3y")
    assert header.startswith("sha256=")
    assert len(header) == len("sha256=") + 64
    assert payloads.verify(body, key=b"k3y", header=header)
    assert not payloads.verify(body, key=b"other", header=header)
    assert not payloads.verify(body + b" ", key=b"k3y", header=header)


def test_a_known_hmac_value() -> None:
    # RFC 4231 test case 2.
    assert payloads.signature(b"what do ya want for nothing?", key=b"Jefe") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_slack_gets_a_line_to_read_and_the_causes() -> None:
    text = json.loads(payloads.slack(message()))["text"]
    first, second, *causes = text.splitlines()
    assert first.startswith(":rotating_light: *shop/web* rollingBack: SEV2 shop/web: error-rate")
    assert second.startswith("SEV2 (6% of requests hurt ≥ 5%); 6% of requests hurt, 300 so far")
    assert causes == ["• container app image: demo:1.0 → demo:2.0", "• route=/api/checkout carries 92%"]


@pytest.mark.parametrize("firing", [True, False])
def test_alertmanager_gets_one_alert_per_revision(firing: bool) -> None:
    (alert,) = json.loads(payloads.alertmanager(message(firing=firing), labels={"team": "payments"}, now=NOW))
    assert alert["labels"] == {
        "alertname": "ReleaseValidationFailed",
        "namespace": "shop",
        "releasevalidation": "web",
        "deployment": "web",
        "revision": "h2",
        "severity": "SEV2",
        "summary": INCIDENT.summary,
        "team": "payments",
    }
    assert alert["annotations"]["summary"] == INCIDENT.summary
    assert alert["annotations"]["description"].startswith("container app image")
    assert alert["startsAt"] == "2026-11-27T12:00:00Z"
    assert alert["endsAt"] == ("2026-11-28T12:05:00Z" if firing else "2026-11-27T12:05:00Z")


def test_route_labels_cannot_override_the_alerts_identity() -> None:
    (alert,) = json.loads(
        payloads.alertmanager(message(), labels={"severity": "SEV4", "alertname": "x"}, now=NOW)
    )
    assert alert["labels"]["severity"] == "SEV2"
    assert alert["labels"]["alertname"] == "ReleaseValidationFailed"
