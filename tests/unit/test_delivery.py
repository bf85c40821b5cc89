"""A reconciliation's deliveries: Secrets read for the due routes, posts signed and made in the background,
their outcome settled by the next reconciliation, failures rescheduled."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from typing import Any

import pytest
from aiohttp import web

from releaseguard import delivery
from releaseguard.models import v1alpha1
from releaseguard.notify import payloads
from releaseguard.rollout import observation, plan
from tests.unit import test_outbox

NOW = test_outbox.NOW
KEY = b"signing-k3y"
ROLLING_BACK = test_outbox.status(v1alpha1.Phase.ROLLING_BACK, incident=test_outbox.incident())
PROGRESSING = test_outbox.status(v1alpha1.Phase.PROGRESSING)


@dataclasses.dataclass
class Kube:
    secrets: dict[str, dict[str, bytes]]
    read: list[str] = dataclasses.field(default_factory=list)
    defaults: str | None = None
    config_maps_read: list[str] = dataclasses.field(default_factory=list)

    async def read_secret(self, *, namespace: str, name: str) -> dict[str, bytes] | None:
        self.read.append(f"{namespace}/{name}")
        return self.secrets.get(name)

    async def read_config_map(self, *, namespace: str, name: str) -> dict[str, Any] | None:
        self.config_maps_read.append(f"{namespace}/{name}")
        return None if self.defaults is None else {"data": {"notifications.yaml": self.defaults}}


def spec(notifications: list[dict[str, Any]]) -> v1alpha1.ReleaseValidationSpec:
    return v1alpha1.ReleaseValidationSpec.model_validate(
        {
            "targetRef": {"name": "web"},
            "service": "web",
            "steps": [{"weight": 10, "duration": "1m"}],
            "analysis": {"syntheticChecks": [{"name": "home", "http": {"path": "/"}}]},
            "notifications": notifications,
        }
    )


OBSERVED = observation.Observed(
    name="web",
    generation=1,
    target=observation.TargetObservation(namespace="shop", name="web", exists=True),
)


async def two_reconciliations(
    kube: Kube,
    notifications: list[dict[str, Any]],
    *,
    before: v1alpha1.ReleaseValidationStatus = PROGRESSING,
    after: v1alpha1.ReleaseValidationStatus = ROLLING_BACK,
    defaults: str | None = None,
) -> tuple[plan.Plan, plan.Plan]:
    """The transition's reconciliation, which starts the posts, and the next, which settles them."""
    routes = spec(notifications)
    first = await delivery.deliver(
        kube,  # type: ignore[arg-type]
        spec=routes,
        before=before,
        decision=plan.Plan(status=after),
        observed=OBSERVED,
        now=NOW,
        defaults=defaults,
    )
    await delivery.drain(timeout=10)
    second = await delivery.deliver(
        kube,  # type: ignore[arg-type]
        spec=routes,
        before=first.status,
        decision=plan.Plan(status=first.status),
        observed=OBSERVED,
        now=NOW,
        defaults=defaults,
    )
    return first, second


def test_a_signed_webhook_from_secrets_is_posted_then_settled() -> None:
    received: list[tuple[bytes, str]] = []

    async def scenario() -> tuple[plan.Plan, plan.Plan]:
        async def handler(request: web.Request) -> web.Response:
            body = await request.read()
            received.append((body, request.headers[payloads.SIGNATURE_HEADER]))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        kube = Kube({"hook": {"url": f"http://127.0.0.1:{port}/hook".encode()}, "keys": {"hmac": KEY}})
        route = {
            "name": "hook",
            "type": "webhook",
            "secretRef": {"name": "hook"},
            "signingSecretRef": {"name": "keys", "key": "hmac"},
        }
        try:
            return await two_reconciliations(kube, [route])
        finally:
            await runner.cleanup()

    first, second = asyncio.run(scenario())
    # The transition's reconciliation queued the message and did not wait for the post.
    assert [entry.id for entry in first.status.outbox] == ["h2/rollingBack"]
    ((body, header),) = received
    assert payloads.verify(body, key=KEY, header=header)
    assert second.status.outbox == ()
    assert second.status.notified == ("hook/h2/rollingBack",)


def test_a_missing_secret_is_a_reason_to_retry_naming_the_secret_not_its_values() -> None:
    kube = Kube({"hook": {"other": b"http://hooks.example/t0ken"}})
    _, settled = asyncio.run(
        two_reconciliations(kube, [{"name": "hook", "type": "webhook", "secretRef": {"name": "hook"}}])
    )
    (entry,) = settled.status.outbox
    assert entry.last_error == "Secret hook has no key url"
    assert entry.attempts == 1
    assert entry.next_attempt_at == NOW + datetime.timedelta(seconds=5)
    assert kube.read == ["shop/hook"]
    assert "t0ken" not in settled.status.model_dump_json()


def test_the_log_route_writes_the_operator_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="releaseguard.notify.send"):
        _, settled = asyncio.run(two_reconciliations(Kube({}), [{"name": "log", "type": "log"}]))
    assert settled.status.notified == ("log/h2/rollingBack",)
    assert "rollingBack shop/web: SEV1 shop/web" in caplog.text


def test_nothing_due_reads_no_secret_and_posts_nothing() -> None:
    kube = Kube({})
    route = [{"name": "hook", "type": "webhook", "secretRef": {"name": "hook"}}]
    _, settled = asyncio.run(two_reconciliations(kube, route, before=PROGRESSING, after=PROGRESSING))
    assert kube.read == []
    assert settled.status.outbox == ()


def test_a_bug_while_posting_becomes_a_retry_not_a_failed_reconciliation(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(delivery.send, "post_for", broken)
    route = [{"name": "hook", "type": "webhook", "url": "http://hooks.example/x"}]
    _, settled = asyncio.run(two_reconciliations(Kube({}), route))
    (entry,) = settled.status.outbox
    assert entry.last_error == "internal error: KeyError"
    assert "posting notifications failed" in caplog.text


def test_a_release_without_routes_uses_the_defaults_with_their_namespaces_secrets() -> None:
    kube = Kube(
        {}, defaults="- {name: ops, type: webhook, secretRef: {name: ops-hook}}\n- {name: log, type: log}\n"
    )
    _, settled = asyncio.run(two_reconciliations(kube, [], defaults="releaseguard/routes"))
    assert set(kube.config_maps_read) == {"releaseguard/routes"}
    assert kube.read == ["releaseguard/ops-hook"]
    assert settled.status.notified == ("log/h2/rollingBack",)
    (waiting,) = settled.status.outbox
    assert (waiting.route, waiting.last_error) == ("ops", "Secret ops-hook cannot be read")


def test_the_defaults_are_read_only_when_there_is_something_to_send() -> None:
    kube = Kube({}, defaults="- {name: log, type: log}\n")
    asyncio.run(
        two_reconciliations(kube, [], before=PROGRESSING, after=PROGRESSING, defaults="releaseguard/routes")
    )
    assert kube.config_maps_read == []


@pytest.mark.parametrize(
    "defaults",
    [None, "not: [a list", "- {name: x, type: carrier-pigeon}\n"],
    ids=["missing", "not-yaml", "invalid"],
)
def test_defaults_that_cannot_be_used_send_nothing_and_crash_nothing(
    defaults: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    kube = Kube({}, defaults=defaults)
    _, settled = asyncio.run(two_reconciliations(kube, [], defaults="releaseguard/routes"))
    assert settled.status.outbox == ()
    assert "default notifications releaseguard/routes" in caplog.text
