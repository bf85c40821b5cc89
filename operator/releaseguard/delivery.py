"""Queue what a reconciliation owes the notification routes, and post what is due in the background.

A reconciliation never waits on a receiver: it queues the messages its transition owes, settles the
release's last round of posts if that is over, and starts the next round, whose outcome the following
reconciliation records (`notify.outbox` retries failures with backoff). Each post has a short time limit.
URLs and signing keys are read from the release's Secrets just before the posts and go nowhere else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Sequence

import aiohttp
import pydantic
import yaml

from releaseguard import telemetry
from releaseguard.kube import client
from releaseguard.models import v1alpha1
from releaseguard.notify import outbox, payloads, send
from releaseguard.rollout import observation, plan

GIVEN_UP_EVENT = "NotificationFailed"
_log = logging.getLogger(__name__)


Outcome = tuple[list[v1alpha1.PendingNotification], list[tuple[v1alpha1.PendingNotification, str]]]
"""What one round of posts did: the messages delivered, and those that failed with why."""
_IN_FLIGHT: dict[str, asyncio.Task[Outcome]] = {}
"""Each release's round of posts under way, by the ReleaseValidation's uid."""


async def deliver(
    kube: client.Kube,
    *,
    spec: v1alpha1.ReleaseValidationSpec,
    before: v1alpha1.ReleaseValidationStatus,
    decision: plan.Plan,
    observed: observation.Observed,
    now: datetime.datetime,
    defaults: str | None = None,
) -> plan.Plan:
    """`decision` with this transition's messages queued, the last round of posts settled if it is over,
    and the next round started for the messages due.

    Posts run in the background and are settled by the reconciliation after they end, so no receiver,
    however slow, delays a reconciliation, the rollback's included. A restart loses a round under way
    and posts it again: messages are delivered at least once, and carry ids for receivers to drop repeats.
    A release that names no routes uses those of the `defaults` ConfigMap (NAMESPACE/NAME), whose Secrets
    are read in its namespace; it is read only when there is something to send.
    """
    target = observed.target
    namespace = target.namespace if target is not None else ""
    listed, secrets_namespace = await _routes(
        kube, spec=spec, before=before, decision=decision, defaults=defaults
    )
    secrets_namespace = secrets_namespace or namespace
    status = outbox.enqueue(routes=listed, before=before, after=decision.status, now=now)
    key = observed.uid or f"{namespace}/{observed.name}"
    given_up: list[v1alpha1.PendingNotification] = []
    flight = _IN_FLIGHT.get(key)
    if flight is not None and flight.done():
        del _IN_FLIGHT[key]
        delivered, failed = flight.result()
        status, given_up = outbox.settle(status, delivered=delivered, failed=failed, now=now)
        _count(listed, delivered=delivered, failed=failed, given_up=given_up)
        flight = None
    due = outbox.due(status.outbox, now)
    if flight is None and due:
        messages = [
            payloads.Message(
                pending=entry,
                namespace=namespace,
                name=observed.name,
                target=target.name if target is not None else "",
                phase=status.phase,
                incident=status.incident
                if status.incident and entry.id.startswith(status.incident.revision)
                else None,
            )
            for entry in due
        ]
        routes = {route.name: route for route in listed}
        _IN_FLIGHT[key] = asyncio.create_task(
            _guarded(kube, messages=messages, routes=routes, secrets_namespace=secrets_namespace, now=now)
        )
    events = [
        plan.Event(
            type=plan.EventType.WARNING,
            reason=GIVEN_UP_EVENT,
            message=f"gave up notifying {entry.route} of {entry.id} after {entry.attempts} attempts: "
            f"{entry.last_error}",
        )
        for entry in given_up
    ]
    return dataclasses.replace(decision, status=status, events=(*decision.events, *events))


async def queue(
    kube: client.Kube,
    *,
    spec: v1alpha1.ReleaseValidationSpec,
    before: v1alpha1.ReleaseValidationStatus,
    decision: plan.Plan,
    now: datetime.datetime,
    defaults: str | None = None,
) -> plan.Plan:
    """`decision` with the messages its transition owes queued, for a status stored before `deliver` runs:
    queuing is idempotent, so `deliver` finds them queued and adds none twice."""
    listed, _ = await _routes(kube, spec=spec, before=before, decision=decision, defaults=defaults)
    status = outbox.enqueue(routes=listed, before=before, after=decision.status, now=now)
    return dataclasses.replace(decision, status=status)


async def _routes(
    kube: client.Kube,
    *,
    spec: v1alpha1.ReleaseValidationSpec,
    before: v1alpha1.ReleaseValidationStatus,
    decision: plan.Plan,
    defaults: str | None,
) -> tuple[Sequence[v1alpha1.Notification], str | None]:
    """The release's routes, and the namespace of their Secrets when it is not the release's own."""
    if not spec.notifications and defaults is not None and _may_send(before, decision.status):
        return await default_routes(kube, defaults)
    return spec.notifications, None


def _count(
    routes: Sequence[v1alpha1.Notification],
    *,
    delivered: Sequence[v1alpha1.PendingNotification],
    failed: Sequence[tuple[v1alpha1.PendingNotification, str]],
    given_up: Sequence[v1alpha1.PendingNotification],
) -> None:
    """One round's attempts in the operator's metrics, each once: delivered, failed (to be tried again) or
    given up (its last failure). A message whose route left the spec reached nobody and is not counted."""
    types = {route.name: route.type for route in routes}
    last = {(entry.route, entry.id) for entry in given_up}
    outcomes = [(entry, telemetry.Delivery.DELIVERED) for entry in delivered] + [
        (entry, telemetry.Delivery.GIVEN_UP if (entry.route, entry.id) in last else telemetry.Delivery.FAILED)
        for entry, _ in failed
    ]
    for entry, result in outcomes:
        if entry.route in types:
            telemetry.count_delivery(types[entry.route], result)


async def drain(timeout: float) -> None:
    """Wait up to `timeout` seconds for the rounds of posts under way (tests; a graceful stop)."""
    if _IN_FLIGHT:
        await asyncio.wait(list(_IN_FLIGHT.values()), timeout=timeout)


async def _guarded(
    kube: client.Kube,
    *,
    messages: Sequence[payloads.Message],
    routes: dict[str, v1alpha1.Notification],
    secrets_namespace: str,
    now: datetime.datetime,
) -> Outcome:
    """`_post`, its bugs turned into failed messages (retried later) rather than into a failed
    reconciliation that would not even know which messages they were."""
    try:
        return await _post(
            kube, messages=messages, routes=routes, secrets_namespace=secrets_namespace, now=now
        )
    except Exception as error:
        _log.exception("posting notifications failed")
        return [], [(message.pending, f"internal error: {type(error).__name__}") for message in messages]


async def _post(
    kube: client.Kube,
    *,
    messages: Sequence[payloads.Message],
    routes: dict[str, v1alpha1.Notification],
    secrets_namespace: str,
    now: datetime.datetime,
) -> Outcome:
    secrets = await _secrets(
        kube,
        namespace=secrets_namespace,
        routes=[routes[message.pending.route] for message in messages if message.pending.route in routes],
    )
    delivered: list[v1alpha1.PendingNotification] = []
    failed: list[tuple[v1alpha1.PendingNotification, str]] = []
    posts: list[tuple[v1alpha1.PendingNotification, send.Post]] = []
    for message in messages:
        entry = message.pending
        route = routes.get(entry.route)
        if route is None:  # the route left the spec: nobody to deliver to
            delivered.append(entry)
            continue
        credentials = _credentials(route, secrets)
        if isinstance(credentials, str):
            failed.append((entry, credentials))
            continue
        post = send.post_for(route, message, credentials=credentials, now=now)
        if post is None:
            send.log(message)
            delivered.append(entry)
        else:
            posts.append((entry, post))
    if posts:
        async with aiohttp.ClientSession() as session:
            outcomes = await asyncio.gather(*(send.send(session, post) for _, post in posts))
        for (entry, _), error in zip(posts, outcomes, strict=True):
            if error is None:
                delivered.append(entry)
            else:
                failed.append((entry, error))
    return delivered, failed


DEFAULTS_KEY = "notifications.yaml"
_ROUTES: pydantic.TypeAdapter[tuple[v1alpha1.Notification, ...]] = pydantic.TypeAdapter(
    tuple[v1alpha1.Notification, ...]
)


async def default_routes(kube: client.Kube, reference: str) -> tuple[tuple[v1alpha1.Notification, ...], str]:
    """The routes listed in the ConfigMap NAMESPACE/NAME, and its namespace; none when it is missing or
    does not parse (logged: the operator's configuration, not a release, is at fault)."""
    namespace, _, name = reference.partition("/")
    try:
        found = await kube.read_config_map(namespace=namespace, name=name)
    except client.KubeError as error:
        _log.warning("default notifications %s not read: %s", reference, error)
        return (), namespace
    text = ((found or {}).get("data") or {}).get(DEFAULTS_KEY)
    if text is None:
        _log.warning("default notifications %s: no ConfigMap with a %s key", reference, DEFAULTS_KEY)
        return (), namespace
    try:
        return _ROUTES.validate_python(yaml.safe_load(text) or ()), namespace
    except (yaml.YAMLError, pydantic.ValidationError) as error:
        _log.warning("default notifications %s do not parse: %s", reference, error)
        return (), namespace


def _may_send(before: v1alpha1.ReleaseValidationStatus, after: v1alpha1.ReleaseValidationStatus) -> bool:
    return bool(outbox.events(before, after)) or before.incident != after.incident or bool(after.outbox)


Secrets = dict[str, dict[str, bytes] | None]


async def _secrets(kube: client.Kube, *, namespace: str, routes: Sequence[v1alpha1.Notification]) -> Secrets:
    names = sorted({ref.name for route in routes for ref in _references(route)})
    found = await asyncio.gather(*(_read(kube, namespace=namespace, name=name) for name in names))
    return dict(zip(names, found, strict=True))


async def _read(kube: client.Kube, *, namespace: str, name: str) -> dict[str, bytes] | None:
    try:
        return await kube.read_secret(namespace=namespace, name=name)
    except client.KubeError:
        return None


def _references(route: v1alpha1.Notification) -> list[v1alpha1.SecretKeyRef]:
    references = [getattr(route, "secret_ref", None), getattr(route, "signing_secret_ref", None)]
    return [reference for reference in references if reference is not None]


def _credentials(route: v1alpha1.Notification, secrets: Secrets) -> send.Credentials | str:
    """The route's URL and signing key, or why they cannot be had (naming the Secret, not its values)."""
    if isinstance(route, v1alpha1.LogNotification):
        return send.Credentials(url="")
    url: str | None = getattr(route, "url", None)
    reference: v1alpha1.SecretKeyRef | None = getattr(route, "secret_ref", None)
    if reference is not None:
        value = _value(reference, secrets)
        if isinstance(value, str):
            return value
        url = value.decode(errors="replace").strip()
    if not url:
        return "no URL to post to"
    signing: v1alpha1.SecretKeyRef | None = getattr(route, "signing_secret_ref", None)
    key = None
    if signing is not None:
        found = _value(signing, secrets)
        if isinstance(found, str):
            return found
        key = found
    return send.Credentials(url=url, signing_key=key)


def _value(reference: v1alpha1.SecretKeyRef, secrets: Secrets) -> bytes | str:
    data = secrets.get(reference.name)
    if data is None:
        return f"Secret {reference.name} cannot be read"
    if reference.key not in data:
        return f"Secret {reference.name} has no key {reference.key}"
    return data[reference.key]
