"""The Prometheus provider under faults: whatever a misbehaving server does costs one bounded measurement.

Each fault is provoked by a small server on 127.0.0.1 and the measurement is passed through the judge that
reads it, to show the whole way: a fault is Inconclusive with its reason and the fault in words, never Pass,
and the measurement ends within about the query timeout. The timeout and the size cap are made small so
that each fault costs a fraction of a second; a server that streams without end gives up after a few
seconds on its own, so that a provider without bounds fails its test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import datetime
import gzip
import http.server
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from releaseguard.analysis import judgement, judges, measurement, series
from releaseguard.models import v1alpha1
from releaseguard.providers import prometheus, selector

CANARY = (selector.Matcher(label="track", op="=", value="canary"),)
BASELINE = (selector.Matcher(label="track", op="=", value="stable"),)
WINDOW = datetime.timedelta(minutes=1)
TIMEOUT = datetime.timedelta(milliseconds=300)
BOUND_SECONDS = 1.0
"""How long a measurement may take at most with TIMEOUT: the timeout, and slack for a loaded machine."""
CAP = 64 * 1024
ENDLESS_SECONDS = 3.0
"""How long a server that streams without end keeps at it, if nothing stops it sooner."""
INCONCLUSIVE = v1alpha1.Verdict.INCONCLUSIVE

Handler = http.server.BaseHTTPRequestHandler
Behaviour = Callable[[Handler, threading.Event], None]
"""What the server does with one request; the event is set when the test ends."""


@contextlib.contextmanager
def faulty_prometheus(behaviour: Behaviour) -> collections.abc.Iterator[str]:
    """A server answering every request with `behaviour`; its URL."""
    stopping = threading.Event()

    class Faulty(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # for chunked answers

        def do_GET(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                behaviour(self, stopping)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    server.daemon_threads = True
    # A short poll interval keeps shutdown() from waiting half a second per test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def reply(status: int, body: bytes, *, headers: dict[str, str] | None = None) -> Behaviour:
    def answer(handler: Handler, stopping: threading.Event) -> None:
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def success(result_type: str, result: list[Any]) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}}).encode()


def vector(value: str) -> bytes:
    return success("vector", [{"metric": {}, "value": [1_700_000_000.0, value]}])


def hang(handler: Handler, stopping: threading.Event) -> None:
    """Read the request and never answer it: the connection stays open, silent."""
    stopping.wait(ENDLESS_SECONDS)


def chunked(
    first: bytes, piece: bytes, *, pause: float, seconds: float = ENDLESS_SECONDS, then_stall: bool = False
) -> Behaviour:
    """200 and `first`, then `piece` after `pause`, again and again for `seconds`; then the end of the
    answer, or with `then_stall` nothing more until the test ends."""

    def answer(handler: Handler, stopping: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(first), first))
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not stopping.wait(pause):
            handler.wfile.write(chunk)
            handler.wfile.flush()
        if then_stall:
            stopping.wait(ENDLESS_SECONDS)
        handler.wfile.write(b"0\r\n\r\n")

    return answer


def begin_short(handler: Handler) -> None:
    """Promise 1000 bytes and send a few."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    handler.wfile.write(b'{"status":"succ')
    handler.wfile.flush()


def stall(handler: Handler, stopping: threading.Event) -> None:
    """Promise 1000 bytes, send a few, then nothing more: the connection stays open, silent."""
    begin_short(handler)
    stopping.wait(ENDLESS_SECONDS)


def endless_error(handler: Handler, stopping: threading.Event) -> None:
    """A 503 whose page never ends."""
    handler.send_response(503)
    handler.send_header("Content-Type", "text/html")
    handler.end_headers()
    handler.wfile.write(b"<html>overloaded")
    deadline = time.monotonic() + ENDLESS_SECONDS
    while time.monotonic() < deadline and not stopping.is_set():
        handler.wfile.write(b"." * 65536)
    handler.close_connection = True


def reset_mid_answer(handler: Handler, stopping: threading.Event) -> None:
    """Promise 1000 bytes, send a few, then drop the connection with a TCP reset."""
    begin_short(handler)
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


# A byte every 20 ms: no single wait is anywhere near the timeout.
trickle = chunked(b"{", b" ", pause=0.02)
# A vector of ever more series, as fast as the client reads: a query that forgot its sum(...).
endless_series = chunked(
    b'{"status":"success","data":{"resultType":"vector","result":[',
    b"".join(b'{"metric":{"pod":"p%d"},"value":[1700000000,"1"]},' % index for index in range(1000)),
    pause=0,
)
# 4 MiB of JSON whitespace in 4 KiB on the wire: the cap counts what the answer decompresses to.
GZIP_BOMB = gzip.compress(vector("1").replace(b"[{", b"[" + b" " * (4 * 1024 * 1024) + b"{"))


def metric(**raw: Any) -> Any:
    return v1alpha1.Analysis.model_validate(
        {"prometheus": {"url": "http://p:9090"}, "metrics": [{"name": "m", **raw}]}
    ).metrics[0]


GAUGE = metric(kind="gauge", query="gauge{{{ selector }}}", judge={"type": "threshold", "max": 1})
RATIO = metric(
    kind="ratio",
    errors="errors{{{ selector }}}",
    total="total{{{ selector }}}",
    judge={"type": "threshold", "max": 0.01},
)
COMPARE = metric(
    kind="gauge", query="gauge{{{ selector }}}", judge={"type": "compare", "maxRelativeIncrease": 0.5}
)


def provider(url: str) -> prometheus.PrometheusProvider:
    return prometheus.PrometheusProvider(url, timeout=TIMEOUT, max_response_bytes=CAP)


def measure(url: str, subject: Any = GAUGE) -> tuple[measurement.Measurement, judgement.Judgement, float]:
    started = time.monotonic()
    measured = asyncio.run(provider(url).measure(subject, canary=CANARY, baseline=BASELINE, window=WINDOW))
    return measured, judges.judge(subject.judge, measured), time.monotonic() - started


@pytest.mark.parametrize(
    ("behaviour", "reason", "words"),
    [
        pytest.param(hang, "ProviderUnavailable", "did not answer within 300ms", id="hanging"),
        pytest.param(stall, "ProviderUnavailable", "did not answer within 300ms", id="stalling"),
        pytest.param(trickle, "ProviderUnavailable", "did not answer within 300ms", id="trickling"),
        pytest.param(
            reply(500, b'{"status":"error","errorType":"internal","error":"out of memory"}'),
            "ProviderUnavailable",
            "Prometheus answered HTTP 500: internal: out of memory",
            id="500",
        ),
        pytest.param(
            reply(503, b"Service Unavailable", headers={"Content-Type": "text/plain"}),
            "ProviderUnavailable",
            "Prometheus answered HTTP 503: Service Unavailable",
            id="503",
        ),
        pytest.param(
            endless_error,
            "ProviderUnavailable",
            "Prometheus answered HTTP 503: <html>overloaded....",
            id="503-without-end",
        ),
        pytest.param(
            reply(400, b'{"status":"error","errorType":"bad_data","error":"parse error at char 5"}'),
            "QueryError",
            "Prometheus refused the query: bad_data: parse error at char 5",
            id="400",
        ),
        pytest.param(reply(200, vector("NaN")), "NoData", "the query gave NaN", id="NaN"),
        pytest.param(
            reply(200, vector("+Inf")), "QueryError", "canary value is inf, not a finite number", id="+Inf"
        ),
        pytest.param(
            reply(200, success("vector", [])), "NoData", "the query found no series", id="empty-vector"
        ),
        pytest.param(
            reply(200, b" " * (CAP + 1)), "QueryError", "answered more than 64 KiB", id="over-the-cap"
        ),
        pytest.param(endless_series, "QueryError", "answered more than 64 KiB", id="series-without-end"),
        pytest.param(
            reply(200, GZIP_BOMB, headers={"Content-Encoding": "gzip"}),
            "QueryError",
            "answered more than 64 KiB",
            id="compressed-over-the-cap",
        ),
        pytest.param(reset_mid_answer, "ProviderUnavailable", "broke off its answer", id="reset"),
    ],
)
def test_a_prometheus_fault_is_inconclusive_with_its_reason_in_bounded_time(
    behaviour: Behaviour, reason: str, words: str
) -> None:
    with faulty_prometheus(behaviour) as url:
        measured, judged, seconds = measure(url)

    assert (judged.verdict, judged.reason) == (INCONCLUSIVE, reason), judged.message
    assert words in judged.message, judged.message
    assert measured.canary.value in (None, float("inf"))
    assert seconds < BOUND_SECONDS


def test_a_wait_begun_just_before_the_deadline_ends_at_the_deadline() -> None:
    """Bytes for most of the timeout, then none: the last wait may not take a whole timeout of its own."""
    timeout = datetime.timedelta(seconds=1)
    trickle_then_stall = chunked(b"{", b" ", pause=0.02, seconds=0.9, then_stall=True)

    with faulty_prometheus(trickle_then_stall) as url:
        started = time.monotonic()
        measured = asyncio.run(
            prometheus.PrometheusProvider(url, timeout=timeout).measure(
                GAUGE, canary=CANARY, baseline=BASELINE, window=WINDOW
            )
        )
        seconds = time.monotonic() - started

    assert "did not answer within 1s" in measured.canary.detail
    assert seconds < 1.5


def test_a_compressed_answer_is_read_within_the_cap() -> None:
    with faulty_prometheus(
        reply(200, gzip.compress(vector("0.5")), headers={"Content-Encoding": "gzip"})
    ) as url:
        measured, judged, _ = measure(url)

    assert (measured.canary.value, measured.baseline.value) == (0.5, 0.5)
    assert judged.verdict == v1alpha1.Verdict.PASS


def test_an_error_answer_is_quoted_from_its_start() -> None:
    page = b"<html>" + b"x" * (8 * 1024 * 1024)
    with faulty_prometheus(reply(502, page, headers={"Content-Type": "text/html"})) as url:
        measured, _, _ = measure(url)

    assert measured.canary.detail.startswith("Prometheus answered HTTP 502: <html>xxx")
    assert len(measured.canary.detail) < 500


@pytest.mark.parametrize(
    ("body", "reason", "words"),
    [
        (vector("NaN"), "NoData", "the total query found no series"),
        (vector("+Inf"), "QueryError", "the total query gave inf"),
        (success("vector", []), "NoData", "the total query found no series"),
        (vector("0"), "NoData", "the total query is 0"),
    ],
    ids=["NaN", "+Inf", "empty-vector", "zero"],
)
def test_a_ratio_of_odd_values_is_inconclusive(body: bytes, reason: str, words: str) -> None:
    with faulty_prometheus(reply(200, body)) as url:
        _, judged, _ = measure(url, RATIO)

    assert (judged.verdict, judged.reason) == (INCONCLUSIVE, reason)
    assert words in judged.message


END = datetime.datetime.fromtimestamp(1_700_000_060, datetime.UTC)


def measure_series(url: str) -> tuple[series.SeriesMeasurement, float]:
    async def both_groups() -> series.SeriesMeasurement:
        canary, baseline = await asyncio.gather(
            *(
                provider(url).measure_series(COMPARE, pods=pods, end=END, step=WINDOW, count=2)
                for pods in (CANARY, BASELINE)
            )
        )
        return series.SeriesMeasurement(name="m", interval_seconds=60, canary=canary, baseline=baseline)

    started = time.monotonic()
    measured = asyncio.run(both_groups())
    return measured, time.monotonic() - started


@pytest.mark.parametrize(
    "body",
    [
        success("matrix", []),
        success("matrix", [{"metric": {}, "values": [[1_700_000_000, "NaN"], [1_700_000_060, "+Inf"]]}]),
    ],
    ids=["empty-matrix", "NaN-and-Inf"],
)
def test_a_series_without_finite_values_is_inconclusive(body: bytes) -> None:
    with faulty_prometheus(reply(200, body)) as url:
        measured, _ = measure_series(url)

    assert measured.canary.points == (None, None)
    assert judges.judge_series(COMPARE.judge, measured).verdict == INCONCLUSIVE


@pytest.mark.parametrize(
    ("behaviour", "reason", "words"),
    [
        pytest.param(trickle, "ProviderUnavailable", "did not answer within 300ms", id="trickling"),
        pytest.param(endless_series, "QueryError", "answered more than 64 KiB", id="series-without-end"),
    ],
)
def test_range_queries_are_bounded_too(behaviour: Behaviour, reason: str, words: str) -> None:
    with faulty_prometheus(behaviour) as url:
        measured, seconds = measure_series(url)

    judged = judges.judge_series(COMPARE.judge, measured)
    assert (judged.verdict, judged.reason) == (INCONCLUSIVE, reason), judged.message
    assert words in measured.canary.detail
    assert seconds < BOUND_SECONDS


def test_a_hanging_prometheus_holds_up_no_other_measurement() -> None:
    timeout = datetime.timedelta(seconds=1)

    async def side_by_side(faulty: str, healthy: str) -> tuple[float, float]:
        started = time.monotonic()

        async def timed(url: str) -> float:
            subject = prometheus.PrometheusProvider(url, timeout=timeout)
            await subject.measure(GAUGE, canary=CANARY, baseline=BASELINE, window=WINDOW)
            return time.monotonic() - started

        hanging, answered = await asyncio.gather(timed(faulty), timed(healthy))
        return hanging, answered

    with faulty_prometheus(hang) as faulty, faulty_prometheus(reply(200, vector("0.5"))) as healthy:
        hanging, answered = asyncio.run(side_by_side(faulty, healthy))

    assert answered < 0.5 < timeout.total_seconds() <= hanging < 1.5


def test_the_response_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_response_bytes must be positive"):
        prometheus.PrometheusProvider("http://p:9090", max_response_bytes=0)
