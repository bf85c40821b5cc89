"""Post a message to its receiver, and say why not when it fails, without repeating where it went.

Receiver URLs carry credentials (a Slack webhook's path is its secret), so a failure is described by
what happened (refused, timed out, HTTP 500), never by the URL or an exception's text that may quote it:
the reason goes into status, events and logs. Each post has a short time limit and follows no
redirects; the response body is not read beyond a little, since nothing in it is needed.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os

import aiohttp

from releaseguard.models import v1alpha1
from releaseguard.notify import payloads

TIMEOUT = datetime.timedelta(seconds=2)
_READ_AT_MOST = 1024
_JSON = {"Content-Type": "application/json"}
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Post:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Credentials:
    """What a route's Secrets hold, read just before delivery and never stored."""

    url: str
    signing_key: bytes | None = None


def post_for(
    route: v1alpha1.Notification,
    message: payloads.Message,
    *,
    credentials: Credentials,
    now: datetime.datetime,
) -> Post | None:
    """What to send to `route`; None for the log route, which `log` writes instead."""
    pending = message.pending
    match route:
        case v1alpha1.WebhookNotification():
            body = payloads.webhook(message)
            headers = _JSON | {payloads.ID_HEADER: f"{message.namespace}/{message.name}/{pending.id}"}
            if credentials.signing_key is not None:
                headers[payloads.SIGNATURE_HEADER] = payloads.signature(body, key=credentials.signing_key)
            return Post(url=credentials.url, body=body, headers=headers)
        case v1alpha1.SlackNotification():
            return Post(url=credentials.url, body=payloads.slack(message), headers=dict(_JSON))
        case v1alpha1.AlertmanagerNotification():
            body = payloads.alertmanager(message, labels=route.labels, now=now)
            return Post(url=credentials.url.rstrip("/") + "/api/v2/alerts", body=body, headers=dict(_JSON))
    return None


def log(message: payloads.Message) -> None:
    pending = message.pending
    _log.info(
        "%s %s/%s: %s",
        pending.event.value,
        message.namespace,
        message.name,
        pending.summary,
        extra={"notification": pending.route, "id": pending.id},
    )


async def send(
    session: aiohttp.ClientSession, post: Post, *, timeout: datetime.timedelta = TIMEOUT
) -> str | None:
    """None when the receiver accepted the post (2xx); else why not, in words that name no URL."""
    try:
        async with session.post(
            post.url,
            data=post.body,
            headers=post.headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout.total_seconds()),
        ) as response:
            await response.content.read(_READ_AT_MOST)
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"
    except TimeoutError:
        return f"no answer within {timeout.total_seconds():g}s"
    except aiohttp.ClientConnectorError as error:
        # The error's own text quotes the address it dialled; the errno's description does not.
        code = error.os_error.errno
        return f"cannot connect: {os.strerror(code) if code else type(error.os_error).__name__}"
    except aiohttp.InvalidURL:
        return "the URL is not valid"
    except aiohttp.ClientError as error:
        return f"failed: {type(error).__name__}"
