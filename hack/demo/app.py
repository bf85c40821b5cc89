"""Demo HTTP app whose behaviour is chosen by its image tag.

Pods on the local KWOK node run nothing, so the pod emulator starts this program once per demo pod. The tag
of the pod's image decides how the process behaves, so a demo ships a "bad" release the way a real team
would: by changing the Deployment's image and nothing else.

Tags such as ``1.0`` or ``1.1`` are healthy. Suffixes add faults and may be combined (``2.0-slow-errors``):

* ``-errors``           500 on 10 % of requests to ``/`` and ``/api/checkout``
* ``-slow``             300 ms extra latency on those routes
* ``-checkout-broken``  ``/api/checkout`` always answers 500, ``/`` stays healthy

Every app request also waits a small random base latency, so latency histograms look like a real service's
rather than a wall of zeros. ``/healthz`` and ``/metrics`` are neither delayed nor counted: scrapes and
probes must not dilute the error ratio that the analysis computes from user traffic. For the same reason,
as many services do with probes, requests from synthetic checks (User-Agent ``releaseguard-synthetic-check``)
are served like any other but left out of the request metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import collections.abc
import dataclasses
import random
import sys
import time

import prometheus_client
from aiohttp import web

HOST = "127.0.0.1"
ROUTES = ("/", "/api/checkout")
CHECKOUT = "/api/checkout"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5)
BASE_LATENCY_SECONDS = (0.005, 0.020)
ERROR_RATIO = 0.10
SLOW_EXTRA_SECONDS = 0.300
FAULTS = ("errors", "slow", "checkout-broken")


@dataclasses.dataclass(frozen=True)
class Behaviour:
    """How the app misbehaves; the default is a healthy release."""

    error_ratio: float = 0.0
    extra_latency: float = 0.0
    checkout_broken: bool = False


@dataclasses.dataclass(frozen=True)
class Reply:
    """What one request will get: decided up front so the decision is testable without a server."""

    status: int
    delay: float


def faults_in_tag(tag: str) -> frozenset[str]:
    """Peel known fault suffixes off the end of a tag; anything else (``1.0-rc1``, ``latest``) is healthy."""
    found: set[str] = set()
    rest = tag
    while True:
        fault = next((f for f in FAULTS if rest.endswith(f"-{f}")), None)
        if fault is None:
            return frozenset(found)
        found.add(fault)
        rest = rest[: -len(fault) - 1]


def behaviour_for_faults(faults: collections.abc.Iterable[str]) -> Behaviour:
    """Combine fault names into one behaviour; unknown names are an error, not silently healthy."""
    names = set(faults)
    unknown = names - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown behaviour {sorted(unknown)}; known: healthy, {', '.join(FAULTS)}")
    return Behaviour(
        error_ratio=ERROR_RATIO if "errors" in names else 0.0,
        extra_latency=SLOW_EXTRA_SECONDS if "slow" in names else 0.0,
        checkout_broken="checkout-broken" in names,
    )


def behaviour_for_tag(tag: str) -> Behaviour:
    """The behaviour a pod running image tag ``tag`` shows."""
    return behaviour_for_faults(faults_in_tag(tag))


def parse_behaviour(text: str) -> Behaviour:
    """Parse ``--behaviour``: ``healthy`` or fault names joined by commas (``errors,slow``)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    return behaviour_for_faults(name for name in names if name != "healthy")


def decide_reply(behaviour: Behaviour, *, route: str, rng: random.Random) -> Reply:
    """Pick status and delay for one request to an app route.

    The error draw is a real Bernoulli trial per request (not "every tenth"), so small samples are noisy
    the way production traffic is; a seeded ``rng`` makes it reproducible.
    """
    delay = rng.uniform(*BASE_LATENCY_SECONDS) + behaviour.extra_latency
    failed = rng.random() < behaviour.error_ratio
    if route == CHECKOUT and behaviour.checkout_broken:
        failed = True
    return Reply(status=500 if failed else 200, delay=delay)


@dataclasses.dataclass(frozen=True)
class Metrics:
    """The app's Prometheus metrics, on a registry of its own so nothing else leaks into ``/metrics``."""

    registry: prometheus_client.CollectorRegistry
    requests: prometheus_client.Counter
    duration: prometheus_client.Histogram


def new_metrics() -> Metrics:
    """Create the metrics and pre-create the common series at zero.

    A series that first appears already at 1 loses that first increment in ``increase()``; starting the
    500 series at zero means the very first injected error is visible to the analysis.
    """
    registry = prometheus_client.CollectorRegistry()
    requests = prometheus_client.Counter(
        "http_requests_total",
        "HTTP requests served, by status code, route and method.",
        ["code", "route", "method"],
        registry=registry,
    )
    duration = prometheus_client.Histogram(
        "http_request_duration_seconds",
        "Time to serve an HTTP request, by route.",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    for route, method in (("/", "GET"), (CHECKOUT, "GET"), (CHECKOUT, "POST")):
        for code in ("200", "500"):
            requests.labels(code=code, route=route, method=method)
        duration.labels(route=route)
    return Metrics(registry=registry, requests=requests, duration=duration)


@dataclasses.dataclass
class State:
    """Everything a handler needs; one instance per process."""

    tag: str
    behaviour: Behaviour
    rng: random.Random
    metrics: Metrics


STATE = web.AppKey("state", State)


SYNTHETIC_USER_AGENT = "releaseguard-synthetic-check"


async def _serve(request: web.Request, route: str) -> web.Response:
    """Serve an app route: wait, answer as the behaviour dictates, record the request."""
    state = request.app[STATE]
    started = time.perf_counter()
    if request.can_read_body:
        await request.read()
    reply = decide_reply(state.behaviour, route=route, rng=state.rng)
    await asyncio.sleep(reply.delay)
    if reply.status == 200:
        body: dict[str, str] = {"route": route, "version": state.tag}
        if route == CHECKOUT and request.method == "POST":
            body["order"] = f"order-{state.rng.randrange(1_000_000):06d}"
    else:
        body = {"error": "injected failure", "version": state.tag}
    response = web.json_response(body, status=reply.status)
    if request.headers.get("User-Agent", "").startswith(SYNTHETIC_USER_AGENT):
        return response
    state.metrics.requests.labels(code=str(reply.status), route=route, method=request.method).inc()
    state.metrics.duration.labels(route=route).observe(time.perf_counter() - started)
    return response


async def index(request: web.Request) -> web.Response:
    """``/``: the landing page of the shop."""
    return await _serve(request, "/")


async def checkout(request: web.Request) -> web.Response:
    """``/api/checkout``: the journey the synthetic checks exercise."""
    return await _serve(request, CHECKOUT)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: always fast and healthy, whatever the release's faults."""
    return web.Response(text="ok\n")


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition of this process's registry."""
    registry = request.app[STATE].metrics.registry
    return web.Response(
        body=prometheus_client.generate_latest(registry),
        headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST},
    )


def make_app(state: State) -> web.Application:
    """Wire the routes; separate from ``main`` so the wiring reads on its own."""
    app = web.Application()
    app[STATE] = state
    app.router.add_get("/", index)
    app.router.add_get(CHECKOUT, checkout)
    app.router.add_post(CHECKOUT, checkout)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


def parse_args(argv: collections.abc.Sequence[str] | None) -> argparse.Namespace:
    """Command line of the demo app."""
    parser = argparse.ArgumentParser(description="Demo HTTP app whose behaviour follows its image tag.")
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    parser.add_argument("--image-tag", default="1.0", help="image tag selecting the behaviour (default 1.0)")
    parser.add_argument(
        "--behaviour",
        help="override the tag: 'healthy' or faults joined by commas (errors, slow, checkout-broken)",
    )
    parser.add_argument("--seed", type=int, help="seed the random choices (latency jitter, injected errors)")
    return parser.parse_args(argv)


def main(argv: collections.abc.Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    args = parse_args(argv)
    try:
        behaviour = parse_behaviour(args.behaviour) if args.behaviour else behaviour_for_tag(args.image_tag)
    except ValueError as error:
        print(f"app: {error}", file=sys.stderr)
        return 2
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    rng = random.Random(args.seed)
    state = State(tag=args.image_tag, behaviour=behaviour, rng=rng, metrics=new_metrics())
    print(f"app: tag={args.image_tag} {behaviour} on http://{HOST}:{args.port}", flush=True)
    web.run_app(make_app(state), host=HOST, port=args.port, access_log=None, shutdown_timeout=1.0, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
