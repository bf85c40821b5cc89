"""Queue what a reconciliation owes the notification routes, and deliver what is due, within a deadline.

Runs after the plan's actions, so a receiver never delays a rollback; all due posts go out at once,
each with a short time limit, so an unreachable receiver costs one reconciliation at most that limit,
and after a failure the next attempt waits (`notify.outbox`). URLs and signing keys are read from the
release's Secrets just before the posts and go nowhere else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Sequence

import aiohttp

from releaseguard.kube import client
from releaseguard.models import v1alpha1
from releaseguard.notify import outbox, payloads, send
from releaseguard.rollout import observation, plan

GIVEN_UP_EVENT = "NotificationFailed"


async def deliver(
    kube: client.Kube,
    *,
    spec: v1alpha1.ReleaseValidationSpec,
    before: v1alpha1.ReleaseValidationStatus,
    decision: plan.Plan,
    observed: observation.Observed,
    now: datetime.datetime,
) -> plan.Plan:
    """`decision` with this transition's messages queued and the due ones delivered or rescheduled."""
    status = outbox.enqueue(routes=spec.notifications, before=before, after=decision.status, now=now)
    routes = {route.name: route for route in spec.notifications}
    target = observed.target
    namespace = target.namespace if target is not None else ""
    due = outbox.due(status.outbox, now)
    if not due:
        return dataclasses.replace(decision, status=status)
    secrets = await _secrets(
        kube, namespace=namespace, routes=[routes[e.route] for e in due if e.route in routes]
    )
    delivered: list[v1alpha1.PendingNotification] = []
    failed: list[tuple[v1alpha1.PendingNotification, str]] = []
    posts: list[tuple[v1alpha1.PendingNotification, send.Post]] = []
    for entry in due:
        route = routes.get(entry.route)
        if route is None:  # the route left the spec: nobody to deliver to
            delivered.append(entry)
            continue
        message = payloads.Message(
            pending=entry,
            namespace=namespace,
            name=observed.name,
            target=target.name if target is not None else "",
            phase=status.phase,
            incident=status.incident
            if status.incident and entry.id.startswith(status.incident.revision)
            else None,
        )
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
    status, given_up = outbox.settle(status, delivered=delivered, failed=failed, now=now)
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
