"""A reconciliation's deliveries: Secrets read for the due routes, posts signed, failures rescheduled."""

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


@dataclasses.dataclass
class Kube:
    secrets: dict[str, dict[str, bytes]]
    read: list[str] = dataclasses.field(default_factory=list)

    async def read_secret(self, *, namespace: str, name: str) -> dict[str, bytes] | None:
        self.read.append(f"{namespace}/{name}")
        return self.secrets.get(name)


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


def deliver(
    kube: Kube, notifications: list[dict[str, Any]], *, before: Any = None, after: Any = None
) -> plan.Plan:
    return asyncio.run(
        delivery.deliver(
            kube,  # type: ignore[arg-type]
            spec=spec(notifications),
            before=before or test_outbox.status(v1alpha1.Phase.PROGRESSING),
            decision=plan.Plan(
                status=after
                or test_outbox.status(v1alpha1.Phase.ROLLING_BACK, incident=test_outbox.incident())
            ),
            observed=OBSERVED,
            now=NOW,
        )
    )


def test_a_signed_webhook_from_secrets_is_delivered() -> None:
    received: list[tuple[bytes, str]] = []

    async def scenario() -> plan.Plan:
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
        try:
            return await delivery.deliver(
                kube,  # type: ignore[arg-type]
                spec=spec(
                    [
                        {
                            "name": "hook",
                            "type": "webhook",
                            "secretRef": {"name": "hook"},
                            "signingSecretRef": {"name": "keys", "key": "hmac"},
                        }
                    ]
                ),
                before=test_outbox.status(v1alpha1.Phase.PROGRESSING),
                decision=plan.Plan(
                    status=test_outbox.status(v1alpha1.Phase.ROLLING_BACK, incident=test_outbox.incident())
                ),
                observed=OBSERVED,
                now=NOW,
            )
        finally:
            await runner.cleanup()

    decided = asyncio.run(scenario())
    ((body, header),) = received
    assert payloads.verify(body, key=KEY, header=header)
    assert decided.status.outbox == ()
    assert decided.status.notified == ("hook/h2/rollingBack",)


def test_a_missing_secret_is_a_reason_to_retry_naming_the_secret_not_its_values() -> None:
    kube = Kube({"hook": {"other": b"http://hooks.example/t0ken"}})
    decided = deliver(kube, [{"name": "hook", "type": "webhook", "secretRef": {"name": "hook"}}])
    (entry,) = decided.status.outbox
    assert entry.last_error == "Secret hook has no key url"
    assert entry.attempts == 1
    assert entry.next_attempt_at == NOW + datetime.timedelta(seconds=5)
    assert kube.read == ["shop/hook"]
    assert "t0ken" not in decided.status.model_dump_json()


def test_the_log_route_writes_the_operator_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="releaseguard.notify.send"):
        decided = deliver(Kube({}), [{"name": "log", "type": "log"}])
    assert decided.status.notified == ("log/h2/rollingBack",)
    assert "rollingBack shop/web: SEV1 shop/web" in caplog.text


def test_nothing_due_reads_no_secret() -> None:
    kube = Kube({})
    quiet = test_outbox.status(v1alpha1.Phase.PROGRESSING)
    decided = deliver(
        kube, [{"name": "hook", "type": "webhook", "secretRef": {"name": "hook"}}], before=quiet, after=quiet
    )
    assert kube.read == []
    assert decided.status.outbox == ()


@dataclasses.dataclass
class DefaultsKube(Kube):
    """Holds the cluster-wide defaults ConfigMap in the operator's namespace."""

    defaults: str | None = None
    config_maps_read: list[str] = dataclasses.field(default_factory=list)

    async def read_config_map(self, *, namespace: str, name: str) -> dict[str, Any] | None:
        self.config_maps_read.append(f"{namespace}/{name}")
        return None if self.defaults is None else {"data": {"notifications.yaml": self.defaults}}


def deliver_with_defaults(kube: DefaultsKube, *, before: Any, after: Any) -> plan.Plan:
    return asyncio.run(
        delivery.deliver(
            kube,  # type: ignore[arg-type]
            spec=spec([]),
            before=before,
            decision=plan.Plan(status=after),
            observed=OBSERVED,
            now=NOW,
            defaults="releaseguard/routes",
        )
    )


def test_a_release_without_routes_uses_the_defaults_with_their_namespaces_secrets() -> None:
    kube = DefaultsKube(
        secrets={},
        defaults="- {name: ops, type: webhook, secretRef: {name: ops-hook}}\n- {name: log, type: log}\n",
    )
    decided = deliver_with_defaults(
        kube,
        before=test_outbox.status(v1alpha1.Phase.PROGRESSING),
        after=test_outbox.status(v1alpha1.Phase.ROLLING_BACK, incident=test_outbox.incident()),
    )
    assert kube.config_maps_read == ["releaseguard/routes"]
    assert kube.read == ["releaseguard/ops-hook"]
    assert decided.status.notified == ("log/h2/rollingBack",)
    (waiting,) = decided.status.outbox
    assert (waiting.route, waiting.last_error) == ("ops", "Secret ops-hook cannot be read")


def test_the_defaults_are_read_only_when_there_is_something_to_send() -> None:
    kube = DefaultsKube(secrets={}, defaults="- {name: log, type: log}\n")
    quiet = test_outbox.status(v1alpha1.Phase.PROGRESSING)
    deliver_with_defaults(kube, before=quiet, after=quiet)
    assert kube.config_maps_read == []


@pytest.mark.parametrize(
    "defaults",
    [None, "not: [a list", "- {name: x, type: carrier-pigeon}\n"],
    ids=["missing", "not-yaml", "invalid"],
)
def test_defaults_that_cannot_be_used_send_nothing_and_crash_nothing(
    defaults: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    kube = DefaultsKube(secrets={}, defaults=defaults)
    decided = deliver_with_defaults(
        kube,
        before=test_outbox.status(v1alpha1.Phase.PROGRESSING),
        after=test_outbox.status(v1alpha1.Phase.ROLLING_BACK),
    )
    assert decided.status.outbox == ()
    assert "default notifications releaseguard/routes" in caplog.text
