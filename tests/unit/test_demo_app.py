"""The demo app: tag -> behaviour, the per-request decision, and one real process end to end."""

from __future__ import annotations

import collections.abc
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import parser

from tests.unit import demo_scripts

app = demo_scripts.load("app")


@pytest.mark.parametrize(
    ("tag", "error_ratio", "extra_latency", "checkout_broken"),
    [
        ("1.0", 0.0, 0.0, False),
        ("1.1", 0.0, 0.0, False),
        ("latest", 0.0, 0.0, False),
        ("1.0-rc1", 0.0, 0.0, False),
        ("errors", 0.0, 0.0, False),
        ("2.0-errors", 0.1, 0.0, False),
        ("2.0-slow", 0.0, 0.3, False),
        ("2.0-checkout-broken", 0.0, 0.0, True),
        ("2.0-slow-errors", 0.1, 0.3, False),
        ("2.0-errors-checkout-broken", 0.1, 0.0, True),
        ("2.0-errors-rc1", 0.0, 0.0, False),
    ],
)
def test_behaviour_for_tag(tag, error_ratio, extra_latency, checkout_broken):
    expected = app.Behaviour(
        error_ratio=error_ratio, extra_latency=extra_latency, checkout_broken=checkout_broken
    )
    assert app.behaviour_for_tag(tag) == expected


def test_parse_behaviour_names():
    assert app.parse_behaviour("healthy") == app.Behaviour()
    assert app.parse_behaviour("errors, slow") == app.behaviour_for_tag("x-errors-slow")
    with pytest.raises(ValueError, match="unknown behaviour"):
        app.parse_behaviour("flaky")


def _replies(behaviour, route: str, n: int, seed: int = 7) -> list:
    rng = random.Random(seed)
    return [app.decide_reply(behaviour, route=route, rng=rng) for _ in range(n)]


def test_healthy_replies_ok_with_small_nonzero_latency():
    replies = _replies(app.Behaviour(), "/", 2000)
    assert {r.status for r in replies} == {200}
    assert all(0.005 <= r.delay <= 0.020 for r in replies)
    assert len({round(r.delay, 4) for r in replies}) > 100  # jitter, not a constant


@pytest.mark.parametrize("route", ["/", "/api/checkout"])
def test_errors_fail_about_ten_percent_as_independent_draws(route):
    replies = _replies(app.behaviour_for_tag("2.0-errors"), route, 10_000)
    ratio = sum(r.status == 500 for r in replies) / len(replies)
    assert ratio == pytest.approx(0.10, abs=0.01)
    statuses = [r.status for r in replies]
    assert statuses != sorted(statuses)  # errors interleave with successes


def test_seeded_replies_are_reproducible():
    behaviour = app.behaviour_for_tag("2.0-errors")
    assert _replies(behaviour, "/", 500, seed=3) == _replies(behaviour, "/", 500, seed=3)
    assert _replies(behaviour, "/", 500, seed=3) != _replies(behaviour, "/", 500, seed=4)


def test_slow_adds_300ms():
    replies = _replies(app.behaviour_for_tag("2.0-slow"), "/", 500)
    assert all(0.305 <= r.delay <= 0.320 for r in replies)
    assert {r.status for r in replies} == {200}


def test_checkout_broken_fails_only_checkout():
    behaviour = app.behaviour_for_tag("2.0-checkout-broken")
    assert {r.status for r in _replies(behaviour, "/api/checkout", 500)} == {500}
    assert {r.status for r in _replies(behaviour, "/", 500)} == {200}


# --- one real process -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(port: int, path: str, method: str = "GET", *, user_agent: str = "shopper") -> tuple[int, str]:
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers={"User-Agent": user_agent}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


@pytest.fixture(scope="module")
def broken_checkout_app() -> collections.abc.Iterator[int]:
    port = _free_port()
    command = [
        sys.executable,
        str(demo_scripts.DEMO / "app.py"),
        "--port",
        str(port),
        "--image-tag",
        "2.0-checkout-broken",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if _call(port, "/healthz")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def _samples(metrics_text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in parser.text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name
    }


def test_real_process_serves_routes_and_metrics(broken_checkout_app):
    port = broken_checkout_app
    assert _call(port, "/healthz") == (200, "ok\n")
    assert _call(port, "/")[0] == 200
    assert _call(port, "/api/checkout", "POST")[0] == 500
    assert _call(port, "/api/checkout")[0] == 500
    assert _call(port, "/api/checkout", "POST", user_agent="releaseguard-synthetic-check")[0] == 500

    status, text = _call(port, "/metrics")
    assert status == 200
    requests = _samples(text, "http_requests_total")
    assert requests[(("code", "200"), ("method", "GET"), ("route", "/"))] == 1
    assert requests[(("code", "500"), ("method", "POST"), ("route", "/api/checkout"))] == 1
    assert requests[(("code", "500"), ("method", "GET"), ("route", "/api/checkout"))] == 1
    assert requests[(("code", "500"), ("method", "GET"), ("route", "/"))] == 0  # pre-created series
    assert not any(dict(labels)["route"] in ("/healthz", "/metrics") for labels in requests)

    buckets = _samples(text, "http_request_duration_seconds_bucket")
    assert buckets[(("le", "0.005"), ("route", "/"))] == 0
    assert buckets[(("le", "2.5"), ("route", "/"))] == 1
