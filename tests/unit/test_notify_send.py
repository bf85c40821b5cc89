"""Posting to receivers over real local HTTP: accepted, refused, unreachable, silent; never naming the URL."""

from __future__ import annotations

import asyncio
import datetime
import socket
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from releaseguard.notify import send

SECRET_PATH = "/services/T000/B000/s3cr3t-token"


async def serving(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], check: Callable[[str], Awaitable[None]]
) -> None:
    app = web.Application()
    app.router.add_post(SECRET_PATH, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await check(f"http://127.0.0.1:{port}{SECRET_PATH}")
    finally:
        await runner.cleanup()


def post(url: str) -> send.Post:
    return send.Post(url=url, body=b'{"x":1}', headers={"Content-Type": "application/json", "X-Test": "yes"})


def outcome(status: int, *, delay: float = 0.0, timeout: float = 2.0) -> str | None:
    received: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.read())
        await asyncio.sleep(delay)
        return web.Response(status=status, text="x" * 100_000)

    result: list[str | None] = []

    async def check(url: str) -> None:
        async with aiohttp.ClientSession() as session:
            result.append(await send.send(session, post(url), timeout=datetime.timedelta(seconds=timeout)))

    asyncio.run(serving(handler, check))
    assert received == [b'{"x":1}']
    return result[0]


def test_an_accepted_post_is_delivered() -> None:
    assert outcome(200) is None
    assert outcome(202) is None


def test_a_refusing_receiver_says_its_status_only() -> None:
    assert outcome(401) == "HTTP 401"
    assert outcome(503) == "HTTP 503"
    assert outcome(302) == "HTTP 302"  # redirects are not followed


def test_a_silent_receiver_times_out_quickly() -> None:
    assert outcome(200, delay=2.0, timeout=0.2) == "no answer within 0.2s"


def test_an_unreachable_receiver_is_named_by_what_happened_not_where() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    async def attempt() -> str | None:
        async with aiohttp.ClientSession() as session:
            return await send.send(session, post(f"http://127.0.0.1:{port}{SECRET_PATH}"))

    error = asyncio.run(attempt())
    assert error is not None
    assert error.startswith("cannot connect")
    assert SECRET_PATH not in error
    assert str(port) not in error


def test_a_malformed_url_is_a_reason_not_a_crash() -> None:
    async def attempt() -> str | None:
        async with aiohttp.ClientSession() as session:
            return await send.send(session, post("not a url at all"))

    error = asyncio.run(attempt())
    assert error is not None
    assert "not a url" not in error
