"""Load generator: a steady request rate over a Service's Ready endpoints, spread the way kube-proxy does.

A canary's share of traffic must be its share of Ready pods, as on a real cluster. So every second this
program reads the Service's EndpointSlices, keeps the Ready endpoints, finds each pod's emulated process in
the pod emulator's ``pods.json``, and sends each request to one of them chosen uniformly at random.

Pod IPs on the local KWOK node are fake and not routable: requests only ever go to 127.0.0.1 on a port
taken from ``pods.json``; a pod IP is used as a lookup key, never as an address.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import collections.abc
import contextlib
import dataclasses
import json
import logging
import math
import random
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:  # at run time imported only where the cluster is used, so the pure tests start fast
    import kubernetes

HOST = "127.0.0.1"
DEFAULT_PATHS = "/=70,POST /api/checkout=30"
MAX_DURATION_SECONDS = 6 * 3600
REFRESH_SECONDS = 1.0
SUMMARY_SECONDS = 10.0
CATCH_UP_LIMIT_SECONDS = 1.0
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
NOT_SENT = frozenset({"no-endpoints", "busy"})  # outcomes of ticks that sent nothing
CHECKOUT_BODY = {"items": [{"sku": "demo-001", "quantity": 1}]}


# ---------------------------------------------------------------------------------------------------------
# Pure part.


@dataclasses.dataclass(frozen=True)
class Route:
    """One kind of request and its share of the traffic (relative weight)."""

    method: str
    path: str
    weight: float


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A Ready endpoint address and the pod behind it, if the slice names one."""

    address: str
    namespace: str
    pod: str | None
    uid: str | None


@dataclasses.dataclass(frozen=True)
class Target:
    """The emulated process that stands in for one Ready pod."""

    port: int
    pod: str


def parse_paths(text: str) -> tuple[Route, ...]:
    """Parse ``--paths``: comma-separated ``[METHOD ]PATH[=WEIGHT]``, e.g. ``/=70,POST /api/checkout=30``.

    The method defaults to GET and the weight to 1.
    """
    routes = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        weight = 1.0
        head, sep, tail = entry.rpartition("=")
        if sep:
            entry, weight = head.strip(), _weight(tail)
        words = entry.split()
        if len(words) == 1:
            words.insert(0, "GET")
        if len(words) != 2 or not words[1].startswith("/") or not words[0].isalpha():
            raise ValueError(f"bad path entry {entry!r}: want [METHOD ]/PATH[=WEIGHT]")
        routes.append(Route(method=words[0].upper(), path=words[1], weight=weight))
    if not routes:
        raise ValueError("no paths given")
    return tuple(routes)


def _weight(text: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        raise ValueError(f"bad weight {text!r}") from None
    if not math.isfinite(weight) or weight <= 0:
        raise ValueError(f"weight must be a positive number, got {text!r}")
    return weight


def ready_endpoints(slices: collections.abc.Iterable[collections.abc.Mapping[str, Any]]) -> list[Endpoint]:
    """Ready endpoint addresses of EndpointSlices (API JSON), each once.

    ``conditions.ready`` unset counts as ready, as the EndpointSlice API defines and kube-proxy does.
    """
    found: dict[str, Endpoint] = {}
    for endpoint_slice in slices:
        namespace = (endpoint_slice.get("metadata") or {}).get("namespace") or ""
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            ref = endpoint.get("targetRef") or {}
            is_pod = ref.get("kind", "Pod") == "Pod"
            for address in endpoint.get("addresses") or []:
                found.setdefault(
                    address,
                    Endpoint(
                        address=address,
                        namespace=(ref.get("namespace") if is_pod else None) or namespace,
                        pod=ref.get("name") if is_pod else None,
                        uid=ref.get("uid") if is_pod else None,
                    ),
                )
    return list(found.values())


def resolve_targets(
    endpoints: collections.abc.Iterable[Endpoint], index: collections.abc.Mapping[str, Any]
) -> tuple[list[Target], int]:
    """Map endpoints to emulated processes via pods.json; returns the targets and how many had none.

    The pod named by ``targetRef`` is looked up first, the address second; an entry for another
    incarnation of the pod (different uid) does not count. One process is listed once.
    """
    targets: dict[int, Target] = {}
    unmapped = 0
    for endpoint in endpoints:
        entry = _lookup(endpoint, index)
        if entry is None:
            unmapped += 1
            continue
        port = entry["port"]
        targets.setdefault(port, Target(port=port, pod=f"{entry.get('namespace')}/{entry.get('pod')}"))
    return list(targets.values()), unmapped


def _lookup(endpoint: Endpoint, index: collections.abc.Mapping[str, Any]) -> dict[str, Any] | None:
    entry = index.get(f"{endpoint.namespace}/{endpoint.pod}") if endpoint.pod else None
    if entry is None:
        entry = index.get(endpoint.address)
    if not isinstance(entry, dict) or not _valid_port(entry.get("port")):
        return None
    if endpoint.uid and entry.get("uid") and entry["uid"] != endpoint.uid:
        return None
    return entry


def _valid_port(port: object) -> bool:
    return isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536


def target_url(target: Target, path: str) -> str:
    """The URL for a request to ``target``: always loopback, whatever the pod's address is."""
    if not _valid_port(target.port) or not path.startswith("/"):
        raise ValueError(f"refusing to build a URL for port {target.port!r} and path {path!r}")
    return f"http://{HOST}:{target.port}{path}"


def summary_line(
    *,
    name: str,
    seconds: float,
    outcomes: collections.abc.Mapping[str, int],
    total: int,
    endpoints: int,
    unmapped: int,
) -> str:
    """One human line about the last interval; outcomes are status codes, error kinds or unsent ticks."""
    counts = " ".join(f"{key}={outcomes[key]}" for key in sorted(outcomes)) or "-"
    sent = sum(count for key, count in outcomes.items() if key not in NOT_SENT)
    return (
        f"loadgen {name}: last {seconds:.0f}s sent={sent} [{counts}] total={total} "
        f"endpoints={endpoints} unmapped={unmapped}"
    )


# ---------------------------------------------------------------------------------------------------------
# I/O.


@dataclasses.dataclass
class Pool:
    """The current targets, refreshed in the background; the sender only reads it."""

    targets: list[Target] = dataclasses.field(default_factory=list)
    endpoints: int = 0
    unmapped: int = 0


@dataclasses.dataclass
class Stats:
    """Outcome counts for the current summary interval, and requests sent in total."""

    interval: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    interval_started: float = dataclasses.field(default_factory=time.monotonic)
    total: int = 0

    def record(self, outcome: str) -> None:
        self.interval[outcome] += 1
        if outcome not in NOT_SENT:
            self.total += 1


def read_index(path: Path) -> dict[str, Any]:
    """pods.json, or empty if the emulator has not written it yet."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a JSON object")
    return document


def list_slices(
    discovery: kubernetes.client.DiscoveryV1Api, *, namespace: str, service: str
) -> list[dict[str, Any]]:
    """The Service's EndpointSlices as API JSON (camelCase), like ``kubectl get -o json`` shows them."""
    listed = discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"{SERVICE_NAME_LABEL}={service}", _request_timeout=5
    )
    api_client: kubernetes.client.ApiClient = discovery.api_client
    return [api_client.sanitize_for_serialization(item) for item in listed.items]


async def refresh(pool: Pool, discovery: kubernetes.client.DiscoveryV1Api, args: argparse.Namespace) -> None:
    """Re-read endpoints and pods.json every second; on errors keep the last good view and say so once."""
    failing = False
    index_path = args.state_dir / "pods.json"
    while True:
        try:
            slices = await asyncio.to_thread(
                list_slices, discovery, namespace=args.namespace, service=args.service
            )
            endpoints = ready_endpoints(slices)
            pool.targets, pool.unmapped = resolve_targets(endpoints, read_index(index_path))
            pool.endpoints = len(endpoints)
            if failing:
                _warn("endpoint refresh recovered")
            failing = False
        except Exception as error:
            if not failing:
                _warn(f"endpoint refresh failed: {error}; keeping the last view")
            failing = True
        await asyncio.sleep(REFRESH_SECONDS)


def _warn(message: str) -> None:
    print(f"loadgen: {message}", file=sys.stderr, flush=True)


async def send(session: aiohttp.ClientSession, target: Target, route: Route, stats: Stats) -> None:
    """One request; the outcome is the status code, ``timeout`` or ``error``."""
    body = CHECKOUT_BODY if route.method == "POST" else None
    try:
        async with session.request(route.method, target_url(target, route.path), json=body) as response:
            await response.read()
            stats.record(str(response.status))
    except TimeoutError:
        stats.record("timeout")
    except aiohttp.ClientError:
        stats.record("error")


async def generate(
    session: aiohttp.ClientSession, pool: Pool, stats: Stats, args: argparse.Namespace
) -> None:
    """Fire requests at a steady rate; when every slot is busy a tick is counted ``busy``, not queued.

    After a stall (e.g. a suspended machine) the schedule restarts from now instead of bursting to catch up.
    """
    rng = random.Random(args.seed)
    routes: tuple[Route, ...] = args.paths
    weights = [route.weight for route in routes]
    in_flight: set[asyncio.Task[None]] = set()
    period = 1.0 / args.rps
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    try:
        while True:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > CATCH_UP_LIMIT_SECONDS:
                next_at = loop.time()
            next_at += period
            if not pool.targets:
                stats.record("no-endpoints")
            elif len(in_flight) >= args.concurrency:
                stats.record("busy")
            else:
                request = send(session, rng.choice(pool.targets), rng.choices(routes, weights)[0], stats)
                task = asyncio.create_task(request)
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
    finally:
        if in_flight:
            await asyncio.wait(in_flight, timeout=args.timeout + 1)


async def report(pool: Pool, stats: Stats, name: str) -> None:
    """Print a summary line every ten seconds."""
    while True:
        await asyncio.sleep(SUMMARY_SECONDS)
        _print_summary(pool, stats, name)


def _print_summary(pool: Pool, stats: Stats, name: str) -> None:
    """Print the interval's line and start a new interval."""
    now = time.monotonic()
    line = summary_line(
        name=name,
        seconds=now - stats.interval_started,
        outcomes=stats.interval,
        total=stats.total,
        endpoints=pool.endpoints,
        unmapped=pool.unmapped,
    )
    print(line, flush=True)
    stats.interval.clear()
    stats.interval_started = now


async def run(args: argparse.Namespace) -> int:
    """Generate load until the duration ends or SIGTERM/SIGINT arrives."""
    import kubernetes

    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retries repeat the refresh-failed line
    kubernetes.config.load_kube_config(config_file=args.kubeconfig)
    discovery = kubernetes.client.DiscoveryV1Api(kubernetes.client.ApiClient())
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    pool, stats, name = Pool(), Stats(), f"{args.namespace}/{args.service}"
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        tasks = [
            asyncio.create_task(refresh(pool, discovery, args)),
            asyncio.create_task(generate(session, pool, stats, args)),
            asyncio.create_task(report(pool, stats, name)),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=args.duration)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    _print_summary(pool, stats, name)
    return 0


def _duration(text: str) -> float:
    seconds = float(text)
    if not 0 < seconds <= MAX_DURATION_SECONDS:
        raise argparse.ArgumentTypeError(f"duration must be in (0, {MAX_DURATION_SECONDS}] seconds")
    return seconds


def _positive(kind: type[int] | type[float]) -> collections.abc.Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _paths(text: str) -> tuple[Route, ...]:
    try:
        return parse_paths(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: collections.abc.Sequence[str] | None) -> argparse.Namespace:
    """Command line of the load generator."""
    parser = argparse.ArgumentParser(description="Send steady traffic to a Service's Ready (emulated) pods.")
    parser.add_argument("--namespace", required=True, help="namespace of the Service")
    parser.add_argument("--service", required=True, help="Service name (EndpointSlice label)")
    parser.add_argument("--state-dir", type=Path, required=True, help="the pod emulator's state dir")
    parser.add_argument("--rps", type=_positive(float), default=20.0, help="requests per second (default 20)")
    parser.add_argument(
        "--paths",
        type=_paths,
        default=parse_paths(DEFAULT_PATHS),
        help=f"comma-separated [METHOD ]PATH[=WEIGHT] (default '{DEFAULT_PATHS}')",
    )
    parser.add_argument(
        "--duration",
        type=_duration,
        default=float(MAX_DURATION_SECONDS),
        help=f"seconds to run (default: until SIGTERM, at most {MAX_DURATION_SECONDS})",
    )
    parser.add_argument("--concurrency", type=_positive(int), default=50, help="max requests in flight")
    parser.add_argument("--timeout", type=_positive(float), default=2.0, help="seconds per request")
    parser.add_argument("--seed", type=int, help="seed the endpoint and path choices")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    return parser.parse_args(argv)


def main(argv: collections.abc.Sequence[str] | None = None) -> int:
    """Entry point."""
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
