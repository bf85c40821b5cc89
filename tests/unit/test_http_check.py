"""Synthetic HTTP checks: expectations, JSON paths and summaries as tables; calls against real local servers.

The servers are small aiohttp apps on 127.0.0.1 (and raw sockets for answers no HTTP server would give), so
the real client stack runs end to end: timeouts, refused connections, redirects and limits are provoked, not
imitated.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from releaseguard.analysis import measurement
from releaseguard.models import v1alpha1
from releaseguard.providers import http_check

MS = datetime.timedelta(milliseconds=1)
NO_DATA = measurement.Unavailable.NO_DATA


def expectation(**fields: Any) -> v1alpha1.HttpExpectation:
    return v1alpha1.HttpExpectation.model_validate(fields)


def check(path: str = "/", *, name: str = "checkout", **http: Any) -> v1alpha1.SyntheticCheck:
    return v1alpha1.SyntheticCheck.model_validate({"name": name, "http": {"path": path, **http}})


ORDER = json.dumps({"order": {"status": "paid", "total": 12.5, "count": 3, "gift": False, "note": None}})


@pytest.mark.parametrize(
    ("expect", "status", "body", "latency_ms", "cause"),
    [
        ({}, 200, "", 1, None),
        ({}, 500, "", 1, "status 500 (want 200)"),
        ({"status": 201}, 200, "", 1, "status 200 (want 201)"),
        ({"status": 503}, 503, "", 1, None),
        ({"bodyContains": "ok"}, 200, "all ok", 1, None),
        ({"bodyContains": "ok"}, 200, "OK", 1, "body lacks 'ok'"),
        ({"bodyContains": "x" * 50}, 200, "", 1, f"body lacks '{'x' * 37}...'"),
        ({"bodyContains": "ok"}, 200, None, 1, "body over 1 MiB"),
        ({"jsonField": {"path": "a"}}, 200, None, 1, "body over 1 MiB"),
        ({}, 200, None, 1, None),  # a long body is fine when nothing in it is expected
        ({"jsonField": {"path": "order.status"}}, 200, ORDER, 1, None),
        ({"jsonField": {"path": "order.status", "equals": "paid"}}, 200, ORDER, 1, None),
        (
            {"jsonField": {"path": "order.status", "equals": "shipped"}},
            200,
            ORDER,
            1,
            "order.status is 'paid' (want 'shipped')",
        ),
        ({"jsonField": {"path": "order.total", "equals": "12.5"}}, 200, ORDER, 1, None),
        ({"jsonField": {"path": "order.count", "equals": "3"}}, 200, ORDER, 1, None),
        ({"jsonField": {"path": "order.gift", "equals": "false"}}, 200, ORDER, 1, None),
        (
            {"jsonField": {"path": "order.gift", "equals": "False"}},
            200,
            ORDER,
            1,
            "order.gift is 'false' (want 'False')",
        ),
        ({"jsonField": {"path": "order.note", "equals": "null"}}, 200, ORDER, 1, None),
        ({"jsonField": {"path": "order.note"}}, 200, ORDER, 1, None),
        ({"jsonField": {"path": "order.id"}}, 200, ORDER, 1, "no JSON field order.id"),
        ({"jsonField": {"path": "order"}}, 200, "<html>", 1, "body is not JSON"),
        ({"jsonField": {"path": "order"}}, 200, "", 1, "body is not JSON"),
        ({"maxLatency": "100ms"}, 200, "", 100, None),
        ({"maxLatency": "100ms"}, 200, "", 101, "slower than 100ms"),
        # The first unmet condition is the cause: status, then body, then JSON, then latency.
        ({"maxLatency": "100ms", "bodyContains": "ok"}, 500, "", 500, "status 500 (want 200)"),
        ({"maxLatency": "100ms", "bodyContains": "ok"}, 200, "", 500, "body lacks 'ok'"),
        ({"maxLatency": "100ms", "jsonField": {"path": "a"}}, 200, "{}", 500, "no JSON field a"),
    ],
)
def test_evaluate(expect, status, body, latency_ms, cause):
    assert (
        http_check.evaluate(expectation(**expect), status=status, body=body, latency=latency_ms * MS) == cause
    )


DOCUMENT = {
    "order": {"status": "paid", "items": [{"id": 7}, {"id": 8}], "ok": True, "none": None, "0": "key"},
    "list": [[1, 2], [3]],
}
MISSING = http_check.MISSING


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("order.status", "paid"),
        ("order.items.0.id", 7),
        ("order.items.1.id", 8),
        ("order.items.1", {"id": 8}),
        ("order.ok", True),
        ("order.none", None),  # present with a null value is found
        ("order.0", "key"),  # digits on an object are a key
        ("list.0.1", 2),
        ("order.missing", MISSING),
        ("missing.status", MISSING),
        ("order.items.2.id", MISSING),  # out of range
        ("order.items.-1", MISSING),  # no counting from the end
        ("order.items.01", MISSING),  # one spelling per index
        ("order.items.id", MISSING),  # a key on an array
        ("order.status.length", MISSING),  # through a string
        ("order.none.x", MISSING),  # through null
        ("order.ok.x", MISSING),  # through a boolean
    ],
)
def test_json_field(path, value):
    assert http_check.json_field(DOCUMENT, path) == value


def test_json_field_on_a_top_level_array_and_scalar():
    assert http_check.json_field([{"id": 1}], "0.id") == 1
    assert http_check.json_field(3, "a") is MISSING


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("paid", "paid"),
        ("", ""),
        ("true", "true"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (42, "42"),
        (-1, "-1"),
        (1.5, "1.5"),
        (1.0, "1.0"),
        (12345678901234567890, "12345678901234567890"),
        ({"a": [1, "é"]}, '{"a":[1,"é"]}'),
        ([], "[]"),
    ],
)
def test_render_json_value(value, text):
    assert http_check.render_json_value(value) == text


@pytest.mark.parametrize(
    ("outcomes", "text"),
    [
        ([None] * 10, "10/10 ok"),
        ([None] * 8 + ["status 500 (want 200)"] * 2, "8/10 ok; 2 status 500 (want 200)"),
        (["connection refused"] * 5, "0/5 ok; 5 connection refused"),
        (["b", "a", "b", None], "1/4 ok; 2 b; 1 a"),  # most frequent first, then by name
        (["a", "b", "c", "d", "e", "e", None], "1/7 ok; 2 e; 1 a; 1 b; 2 other (2 causes)"),
        ([], "0/0 ok"),
    ],
)
def test_summarize(outcomes, text):
    assert http_check.summarize(outcomes) == text


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """An HTTP server answering every path with `handler`; yields its `host:port`.

    Handlers still waiting when the test ends are cancelled, so a slow route never delays the teardown.
    """
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"{host}:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serve_raw(answer: bytes) -> AsyncIterator[str]:
    """A TCP server that reads a request's head, writes `answer` verbatim and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        yield f"{host}:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def every_fifth_fails() -> Handler:
    count = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal count
        count += 1
        return web.Response(status=500 if count % 5 == 0 else 200)

    return handler


def test_success_ratio_per_side():
    async def main() -> measurement.Measurement:
        async with serve(every_fifth_fails()) as canary, serve(ok) as stable_a, serve(ok) as stable_b:
            return await http_check.measure_check(
                check("/health"), canary=[canary, canary], baseline=[stable_a, stable_b]
            )

    result = asyncio.run(main())
    assert result == measurement.Measurement(
        name="checkout",
        canary=measurement.Side(value=0.8, samples=10, detail="8/10 ok; 2 status 500 (want 200)"),
        baseline=measurement.Side(value=1.0, samples=10, detail="10/10 ok"),
    )


def test_at_most_concurrency_calls_in_flight():
    in_flight = 0
    most = 0
    total = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal in_flight, most, total
        in_flight += 1
        total += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return web.Response()

    async def main() -> measurement.Measurement:
        async with serve(handler) as one, serve(handler) as two, serve(handler) as three:
            return await http_check.measure_check(
                check(), canary=[one, two], baseline=[three], requests_per_pod=4, concurrency=3
            )

    result = asyncio.run(main())
    assert (total, most) == (12, 3)
    assert (result.canary.samples, result.baseline.samples) == (8, 4)


def test_calls_alternate_between_groups_and_pods():
    seen: list[str] = []

    def recorder(label: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            seen.append(label)
            return web.Response()

        return handler

    async def main() -> None:
        async with serve(recorder("c1")) as c1, serve(recorder("c2")) as c2, serve(recorder("b1")) as b1:
            await http_check.measure_check(
                check(), canary=[c1, c2], baseline=[b1], requests_per_pod=2, concurrency=1
            )

    asyncio.run(main())
    assert seen == ["c1", "b1", "c2"] * 2


def slow(seconds: float) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(seconds)
        return web.Response()

    return handler


@pytest.mark.parametrize(
    ("timeout", "default_timeout"),
    [({"timeout": "100ms"}, datetime.timedelta(seconds=5)), ({}, datetime.timedelta(milliseconds=100))],
)
def test_a_call_slower_than_the_timeout_fails(timeout, default_timeout):
    async def main() -> measurement.Measurement:
        async with serve(slow(5)) as canary, serve(ok) as stable:
            return await http_check.measure_check(
                check(**timeout),
                canary=[canary],
                baseline=[stable],
                requests_per_pod=2,
                default_timeout=default_timeout,
            )

    started = time.monotonic()
    result = asyncio.run(main())
    assert time.monotonic() - started < 1
    assert result.canary == measurement.Side(value=0.0, samples=2, detail="0/2 ok; 2 timed out after 100ms")
    assert result.baseline.value == 1.0


def test_latency_includes_reading_the_body():
    async def late_body(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await asyncio.sleep(0.15)
        await response.write(b"done")
        await response.write_eof()
        return response

    async def main() -> measurement.Measurement:
        async with serve(late_body) as canary:
            return await http_check.measure_check(
                check(expect={"maxLatency": "100ms"}), canary=[canary], baseline=[], requests_per_pod=1
            )

    assert asyncio.run(main()).canary.detail == "0/1 ok; 1 slower than 100ms"


def test_a_refused_connection_is_a_failure_not_missing_data():
    async def main(port: int) -> measurement.Measurement:
        return await http_check.measure_check(check(), canary=[f"127.0.0.1:{port}"], baseline=[])

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        result = asyncio.run(main(closed.getsockname()[1]))
    assert result.canary == measurement.Side(value=0.0, samples=5, detail="0/5 ok; 5 connection refused")


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        (b"", "connection closed by the pod"),
        (b"NOT HTTP AT ALL\r\n\r\n", "invalid HTTP answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", "body cut short"),
    ],
)
def test_broken_answers_are_failures(answer, cause):
    async def main() -> measurement.Measurement:
        async with serve_raw(answer) as canary:
            return await http_check.measure_check(check(), canary=[canary], baseline=[], requests_per_pod=1)

    assert asyncio.run(main()).canary.detail == f"0/1 ok; 1 {cause}"


def test_method_headers_and_body_arrive_as_configured():
    received: list[tuple[str, str, dict[str, str], str]] = []

    async def echo(request: web.Request) -> web.Response:
        received.append((request.method, request.path_qs, dict(request.headers), await request.text()))
        return web.json_response({"order": {"status": "paid", "items": [{"id": 7}]}}, status=201)

    configured = check(
        "/api/checkout?dryRun=true",
        method="POST",
        headers={"X-Token": "abc", "user-agent": "probe/1", "Content-Type": "application/json"},
        body='{"sku": "a-1"}',
        expect={"status": 201, "jsonField": {"path": "order.items.0.id", "equals": "7"}},
    )

    async def main() -> measurement.Measurement:
        async with serve(echo) as canary:
            return await http_check.measure_check(
                configured, canary=[canary], baseline=[], requests_per_pod=1
            )

    result = asyncio.run(main())
    assert result.canary.detail == "1/1 ok"
    [(method, path, headers, body)] = received
    assert (method, path, body) == ("POST", "/api/checkout?dryRun=true", '{"sku": "a-1"}')
    assert headers["X-Token"] == "abc"
    assert headers["User-Agent"] == "probe/1"
    assert headers["Content-Type"] == "application/json"


def test_default_user_agent_and_no_body():
    received: list[tuple[str, str | None, bytes]] = []

    async def echo(request: web.Request) -> web.Response:
        received.append((request.method, request.headers.get("User-Agent"), await request.read()))
        return web.Response()

    async def main() -> None:
        async with serve(echo) as canary:
            await http_check.measure_check(check(), canary=[canary], baseline=[], requests_per_pod=1)

    asyncio.run(main())
    assert received == [("GET", http_check.USER_AGENT, b"")]


def test_json_expectations_against_a_real_answer():
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"order": {"status": "pending", "ok": True}})

    checks = [
        check(expect={"jsonField": {"path": "order.ok", "equals": "true"}}),
        check(expect={"jsonField": {"path": "order.status", "equals": "paid"}}),
        check(expect={"jsonField": {"path": "order.id"}}),
    ]

    async def main() -> list[str]:
        async with serve(answer) as canary:
            results = [
                await http_check.measure_check(item, canary=[canary], baseline=[], requests_per_pod=1)
                for item in checks
            ]
        return [result.canary.detail for result in results]

    assert asyncio.run(main()) == [
        "1/1 ok",
        "0/1 ok; 1 order.status is 'pending' (want 'paid')",
        "0/1 ok; 1 no JSON field order.id",
    ]


def test_redirects_are_not_followed():
    elsewhere_calls = 0

    async def elsewhere(request: web.Request) -> web.Response:
        nonlocal elsewhere_calls
        elsewhere_calls += 1
        return web.Response()

    async def main() -> measurement.Measurement:
        async with serve(elsewhere) as target:

            async def redirect(request: web.Request) -> web.Response:
                raise web.HTTPFound(f"http://{target}/")

            async with serve(redirect) as canary:
                return await http_check.measure_check(
                    check(), canary=[canary], baseline=[], requests_per_pod=2
                )

    assert asyncio.run(main()).canary.detail == "0/2 ok; 2 status 302 (want 200)"
    assert elsewhere_calls == 0


def test_a_body_over_the_limit_fails_only_body_expectations():
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (http_check.MAX_BODY_BYTES + 1) + b"needle")

    async def main() -> list[str]:
        async with serve(big) as canary:
            results = [
                await http_check.measure_check(item, canary=[canary], baseline=[], requests_per_pod=1)
                for item in (check(), check(expect={"bodyContains": "needle"}))
            ]
        return [result.canary.detail for result in results]

    assert asyncio.run(main()) == ["1/1 ok", "0/1 ok; 1 body over 1 MiB"]


def test_a_group_without_pods_has_no_data():
    async def main() -> tuple[measurement.Measurement, measurement.Measurement]:
        async with serve(ok) as stable:
            one_side = await http_check.measure_check(check(), canary=[], baseline=[stable])
        neither = await http_check.measure_check(check(), canary=[], baseline=[])
        return one_side, neither

    one_side, neither = asyncio.run(main())
    no_pods = measurement.Side(unavailable=NO_DATA, detail="no Ready pods")
    assert one_side.canary == no_pods
    assert one_side.baseline == measurement.Side(value=1.0, samples=5, detail="5/5 ok")
    assert (neither.canary, neither.baseline) == (no_pods, no_pods)


def test_a_session_passed_in_is_used_and_left_open():
    async def main() -> tuple[measurement.Measurement, bool]:
        async with serve(ok) as canary, aiohttp.ClientSession() as session:
            result = await http_check.measure_check(check(), canary=[canary], baseline=[], session=session)
            return result, session.closed

    result, closed = asyncio.run(main())
    assert result.canary.value == 1.0
    assert not closed


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"requests_per_pod": 0}, "requests_per_pod"),
        ({"concurrency": 0}, "concurrency"),
        ({"default_timeout": datetime.timedelta(0)}, "default_timeout"),
        ({"canary": ["10.0.0.1"]}, "host:port"),
        ({"canary": ["10.0.0.1:80/x"]}, "host:port"),
        ({"baseline": ["10.0.0.1:80/"]}, "host:port"),
        ({"baseline": ["10.0.0.1:80?a=b"]}, "host:port"),
        ({"baseline": ["user@10.0.0.1:80"]}, "host:port"),
        ({"baseline": ["http://10.0.0.1:80"]}, "host:port"),
        ({"baseline": [":80"]}, "host:port"),
    ],
)
def test_wrong_arguments_are_refused_before_any_call(arguments, message):
    call = {"canary": [], "baseline": [], **arguments}
    with pytest.raises(ValueError, match=message):
        asyncio.run(http_check.measure_check(check(), **call))


def test_an_ipv6_pod_address_in_brackets_is_accepted():
    async def main() -> measurement.Measurement:
        return await http_check.measure_check(check(), canary=["[::1]:1"], baseline=[], requests_per_pod=1)

    # Nothing listens on port 1; the point is that the address is taken, and the refusal is a result.
    assert asyncio.run(main()).canary.samples == 1
