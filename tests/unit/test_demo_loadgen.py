"""The load generator: path weights, Ready endpoints, mapping to local processes, and a short real run."""

from __future__ import annotations

import argparse
import asyncio
import collections
import socket
import time

import aiohttp
import pytest
from aiohttp import web

from tests.unit import demo_scripts

loadgen = demo_scripts.load("loadgen")


def test_default_paths_are_70_get_root_30_post_checkout():
    assert loadgen.parse_paths(loadgen.DEFAULT_PATHS) == (
        loadgen.Route(method="GET", path="/", weight=70.0),
        loadgen.Route(method="POST", path="/api/checkout", weight=30.0),
    )


def test_paths_default_to_get_and_weight_one():
    assert loadgen.parse_paths("/, /api/checkout ,post /x?a=b=2.5") == (
        loadgen.Route(method="GET", path="/", weight=1.0),
        loadgen.Route(method="GET", path="/api/checkout", weight=1.0),
        loadgen.Route(method="POST", path="/x?a=b", weight=2.5),
    )


@pytest.mark.parametrize("text", ["", " , ", "x", "/a=0", "/a=-1", "/a=abc", "/a=inf", "GET POST /a", "1 /a"])
def test_bad_paths_are_rejected(text):
    with pytest.raises(ValueError, match=r"path|weight"):
        loadgen.parse_paths(text)


def _slice(*endpoints: dict, namespace: str = "shop") -> dict:
    return {"metadata": {"namespace": namespace, "name": "checkout-abc"}, "endpoints": list(endpoints)}


def _endpoint(ip: str, name: str | None, *, ready: bool | None = True, uid: str | None = None) -> dict:
    endpoint: dict = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
    if name:
        endpoint["targetRef"] = {
            "kind": "Pod",
            "name": name,
            "namespace": "shop",
            **({"uid": uid} if uid else {}),
        }
    return endpoint


def test_ready_endpoints_keeps_ready_and_unknown_once():
    slices = [
        _slice(_endpoint("10.0.0.1", "a"), _endpoint("10.0.0.2", "b", ready=False)),
        _slice(_endpoint("10.0.0.3", "c", ready=None), _endpoint("10.0.0.1", "a")),
        _slice({"addresses": ["10.0.0.4"], "targetRef": {"kind": "Node", "name": "n"}}),
        {"metadata": {"namespace": "shop"}, "endpoints": None},
    ]
    assert loadgen.ready_endpoints(slices) == [
        loadgen.Endpoint(address="10.0.0.1", namespace="shop", pod="a", uid=None),
        loadgen.Endpoint(address="10.0.0.3", namespace="shop", pod="c", uid=None),
        loadgen.Endpoint(address="10.0.0.4", namespace="shop", pod=None, uid=None),
    ]


def _entry(port, pod: str, uid: str = "u") -> dict:
    return {"port": port, "namespace": "shop", "pod": pod, "uid": uid, "pod_ip": "x", "image_tag": "1.0"}


def test_resolve_targets_by_pod_name_then_address():
    index = {"shop/a": _entry(40001, "a"), "10.0.0.2": _entry(40002, "b"), "shop/b": _entry(40002, "b")}
    endpoints = [
        loadgen.Endpoint(address="10.9.9.9", namespace="shop", pod="a", uid=None),
        loadgen.Endpoint(address="10.0.0.2", namespace="shop", pod=None, uid=None),
        loadgen.Endpoint(address="10.0.0.2", namespace="shop", pod="b", uid=None),  # same process once
    ]
    targets, unmapped = loadgen.resolve_targets(endpoints, index)
    assert targets == [loadgen.Target(port=40001, pod="shop/a"), loadgen.Target(port=40002, pod="shop/b")]
    assert unmapped == 0


def test_resolve_targets_counts_what_has_no_valid_process():
    index = {
        "shop/a": _entry(40001, "a", uid="old"),
        "shop/b": _entry("40002", "b"),
        "shop/c": _entry(0, "c"),
        "shop/d": _entry(True, "d"),
    }
    endpoints = [
        loadgen.Endpoint(address="10.0.0.1", namespace="shop", pod="a", uid="new"),  # a newer incarnation
        loadgen.Endpoint(address="10.0.0.2", namespace="shop", pod="b", uid=None),
        loadgen.Endpoint(address="10.0.0.3", namespace="shop", pod="c", uid=None),
        loadgen.Endpoint(address="10.0.0.4", namespace="shop", pod="d", uid=None),
        loadgen.Endpoint(address="10.0.0.5", namespace="shop", pod="e", uid=None),
    ]
    assert loadgen.resolve_targets(endpoints, index) == ([], 5)


def test_target_url_is_always_loopback():
    assert loadgen.target_url(loadgen.Target(port=40001, pod="shop/a"), "/api/checkout") == (
        "http://127.0.0.1:40001/api/checkout"
    )
    for port, path in [(0, "/"), (70000, "/"), (40001, "@10.0.0.1/"), (40001, "x")]:
        with pytest.raises(ValueError, match="refusing"):
            loadgen.target_url(loadgen.Target(port=port, pod="shop/a"), path)


def test_summary_line():
    line = loadgen.summary_line(
        name="shop/checkout",
        seconds=10.02,
        outcomes=collections.Counter({"200": 180, "500": 19, "timeout": 1, "no-endpoints": 3}),
        total=1200,
        endpoints=5,
        unmapped=1,
    )
    assert line == (
        "loadgen shop/checkout: last 10s sent=200 [200=180 500=19 no-endpoints=3 timeout=1] total=1200 "
        "endpoints=5 unmapped=1"
    )


def test_stats_total_counts_only_requests_sent():
    stats = loadgen.Stats()
    for outcome in ["200", "500", "error", "no-endpoints", "busy"]:
        stats.record(outcome)
    assert stats.total == 3
    assert sum(stats.interval.values()) == 5


def test_read_index_tolerates_a_missing_file(tmp_path):
    assert loadgen.read_index(tmp_path / "pods.json") == {}
    (tmp_path / "pods.json").write_text('{"shop/a": {"port": 1}}')
    assert loadgen.read_index(tmp_path / "pods.json") == {"shop/a": {"port": 1}}


def _args(*extra: str) -> argparse.Namespace:
    return loadgen.parse_args(
        ["--namespace", "shop", "--service", "checkout", "--state-dir", "/tmp/x", *extra]
    )


def test_cli_defaults_and_duration_bound():
    args = _args()
    assert args.rps == 20
    assert args.duration == 6 * 3600
    assert args.paths == loadgen.parse_paths(loadgen.DEFAULT_PATHS)
    assert _args("--duration", "90").duration == 90


@pytest.mark.parametrize(
    "extra", [["--duration", "21601"], ["--duration", "0"], ["--rps", "0"], ["--paths", "x"]]
)
def test_cli_rejects_bad_values(extra, capsys):
    with pytest.raises(SystemExit):
        _args(*extra)
    assert "error" in capsys.readouterr().err


async def _generate_against_two_servers(
    seconds: float,
) -> tuple[collections.Counter, collections.Counter, float]:
    """Run the real sender briefly against two local servers standing in for two Ready pods."""
    hits: collections.Counter = collections.Counter()

    async def handle(request: web.Request) -> web.Response:
        hits[(request.url.port, request.method, request.path)] += 1
        return web.Response(status=500 if request.path == "/api/checkout" else 200)

    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(server)
    await runner.setup()
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    for sock in sockets:
        await web.SockSite(runner, sock).start()
    ports = [sock.getsockname()[1] for sock in sockets]
    pool = loadgen.Pool(
        targets=[loadgen.Target(port=port, pod=f"shop/p{port}") for port in ports], endpoints=2
    )
    stats = loadgen.Stats()
    args = _args("--rps", "500", "--seed", "1")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
            started = time.monotonic()
            task = asyncio.create_task(loadgen.generate(session, pool, stats, args))
            await asyncio.sleep(seconds)
            task.cancel()
            elapsed = time.monotonic() - started
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await runner.cleanup()
    by_port = collections.Counter(
        {port: sum(n for (p, _, _), n in hits.items() if p == port) for port in ports}
    )
    return by_port, stats.interval, elapsed


def test_generate_spreads_requests_over_endpoints_at_the_rate():
    by_port, outcomes, elapsed = asyncio.run(_generate_against_two_servers(0.3))
    ticks = sum(outcomes.values())
    assert ticks == pytest.approx(500 * elapsed, rel=0.15, abs=5)
    assert set(outcomes) - {"busy"} == {"200", "500"}  # a loaded test machine may stall and hit the limit
    sent = outcomes["200"] + outcomes["500"]
    assert sent > 0.5 * ticks
    assert sum(by_port.values()) == sent
    assert min(by_port.values()) > 0.3 * sent  # uniform over two endpoints
    assert outcomes["500"] == pytest.approx(0.3 * sent, abs=0.12 * sent)  # the POST /api/checkout share
