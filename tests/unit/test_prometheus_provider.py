"""The Prometheus provider against canned API answers from a small HTTP server on 127.0.0.1.

The real client library and HTTP stack run end to end; only Prometheus is replaced, by a server that answers
each exact query with the JSON Prometheus would send, so every failure path can be provoked on demand.
"""

from __future__ import annotations

import asyncio
import collections.abc
import dataclasses
import datetime
import http.server
import json
import socket
import threading
import time
import urllib.parse
from typing import Any

import pytest

from releaseguard.analysis import measurement, series
from releaseguard.models import v1alpha1
from releaseguard.providers import base, prometheus, registry, selector

CANARY = (selector.Matcher(label="track", op="=", value="canary"),)
BASELINE = (selector.Matcher(label="track", op="=", value="stable"),)
WINDOW = datetime.timedelta(minutes=2)
THRESHOLD = {"type": "threshold", "max": 1}
NO_DATA = measurement.Unavailable.NO_DATA
QUERY_ERROR = measurement.Unavailable.QUERY_ERROR
UNAVAILABLE = measurement.Unavailable.PROVIDER_UNAVAILABLE


@dataclasses.dataclass(frozen=True)
class Answer:
    body: Any
    status: int = 200
    delay: float = 0.0


def success(result_type: str, result: list[Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": result_type, "result": result}}


def vector(*values: str, labels: collections.abc.Sequence[dict[str, str]] = ()) -> Answer:
    series = [
        {"metric": labels[index] if index < len(labels) else {}, "value": [1_700_000_000.0, value]}
        for index, value in enumerate(values)
    ]
    return Answer(success("vector", series))


def error(status: int, error_type: str, message: str) -> Answer:
    return Answer({"status": "error", "errorType": error_type, "error": message}, status=status)


class StubPrometheus:
    """Answers /api/v1/query and /api/v1/query_range by exact query text; an unexpected query is refused
    with a 400."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[dict[str, str]] = []
        self.authorizations: list[str | None] = []
        self.stopping = threading.Event()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                stub.requests.append(params)
                stub.authorizations.append(self.headers.get("Authorization"))
                answer = stub.answers.get(params.get("query", ""))
                if url.path not in ("/api/v1/query", "/api/v1/query_range") or answer is None:
                    answer = error(400, "bad_data", f"unexpected request {self.path}")
                if answer.delay:
                    stub.stopping.wait(answer.delay)
                payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as the timeout test wants

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, query: str, answer: Answer) -> None:
        self.answers[query] = answer


@pytest.fixture
def stub() -> collections.abc.Iterator[StubPrometheus]:
    server = StubPrometheus()
    # A short poll interval keeps shutdown() from waiting half a second per test.
    thread = threading.Thread(target=server.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.stopping.set()
    server.server.shutdown()
    server.server.server_close()
    thread.join(timeout=5)


def metric(**raw: Any) -> v1alpha1.RatioMetric | v1alpha1.LatencyMetric | v1alpha1.GaugeMetric:
    return v1alpha1.Analysis.model_validate(
        {"prometheus": {"url": "http://p:9090"}, "metrics": [{"name": "m", "judge": THRESHOLD, **raw}]}
    ).metrics[0]


RATIO = metric(kind="ratio", errors="errors{{{ selector }}}[{{ window }}]", total="total{{{ selector }}}")
GAUGE = metric(kind="gauge", query="gauge{{{ selector }}}")


def measure(
    url: str, subject: Any, *, timeout: datetime.timedelta = prometheus.DEFAULT_TIMEOUT
) -> measurement.Measurement:
    provider = prometheus.PrometheusProvider(url, timeout=timeout)
    return asyncio.run(provider.measure(subject, canary=CANARY, baseline=BASELINE, window=WINDOW))


def test_ratio_is_errors_over_total_for_each_side(stub: StubPrometheus) -> None:
    stub.answer('errors{track="canary"}[2m]', vector("5"))
    stub.answer('total{track="canary"}', vector("100"))
    stub.answer('errors{track="stable"}[2m]', vector("1"))
    stub.answer('total{track="stable"}', vector("200"))

    result = measure(stub.url, RATIO)

    assert result == measurement.Measurement(
        name="m",
        canary=measurement.Side(
            value=0.05,
            samples=100.0,
            detail='errors: errors{track="canary"}[2m]\ntotal: total{track="canary"}',
        ),
        baseline=measurement.Side(
            value=0.005,
            samples=200.0,
            detail='errors: errors{track="stable"}[2m]\ntotal: total{track="stable"}',
        ),
    )


def test_all_queries_are_evaluated_at_one_instant_with_a_server_side_timeout(stub: StubPrometheus) -> None:
    for track in ("canary", "stable"):
        stub.answer(f'errors{{track="{track}"}}[2m]', vector("1"))
        stub.answer(f'total{{track="{track}"}}', vector("10"))

    before = time.time()
    measure(stub.url, RATIO, timeout=datetime.timedelta(seconds=3))

    assert len(stub.requests) == 4
    assert len({params["time"] for params in stub.requests}) == 1
    assert before - 1 <= float(stub.requests[0]["time"]) <= time.time()
    assert {params["timeout"] for params in stub.requests} == {"3s"}


def test_baseline_can_be_measured_as_of_an_earlier_time(stub: StubPrometheus) -> None:
    stub.answer('gauge{track="canary"}', vector("1"))
    stub.answer('gauge{track="stable"}', vector("2"))
    earlier = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
    provider = prometheus.PrometheusProvider(stub.url)

    result = asyncio.run(
        provider.measure(GAUGE, canary=CANARY, baseline=BASELINE, window=WINDOW, baseline_at=earlier)
    )

    assert (result.canary.value, result.baseline.value) == (1.0, 2.0)
    times = {params["query"]: float(params["time"]) for params in stub.requests}
    assert times['gauge{track="stable"}'] == earlier.timestamp()
    assert times['gauge{track="canary"}'] > earlier.timestamp() + 3600


@pytest.mark.parametrize(
    ("errors", "total", "side"),
    [
        (vector(), vector("40"), measurement.Side(value=0.0, samples=40.0)),
        (vector("3"), vector(), measurement.Side(unavailable=NO_DATA)),
        (vector(), vector(), measurement.Side(unavailable=NO_DATA)),
        (vector("0"), vector("0"), measurement.Side(unavailable=NO_DATA)),
        (vector("NaN"), vector("NaN"), measurement.Side(unavailable=NO_DATA)),
        (vector("1"), vector("-4"), measurement.Side(unavailable=QUERY_ERROR)),
        (
            Answer(success("scalar", [1.0, "2"])),
            Answer(success("scalar", [1.0, "8"])),
            measurement.Side(value=0.25, samples=8.0),
        ),
        (vector("1", "2"), vector("8"), measurement.Side(unavailable=QUERY_ERROR)),
        (vector("1"), vector("8", "9"), measurement.Side(unavailable=QUERY_ERROR)),
        (error(400, "bad_data", "parse error"), vector("8"), measurement.Side(unavailable=QUERY_ERROR)),
        (vector("1"), error(503, "unavailable", "down"), measurement.Side(unavailable=UNAVAILABLE)),
    ],
)
def test_ratio_edge_cases(
    stub: StubPrometheus, errors: Answer, total: Answer, side: measurement.Side
) -> None:
    stub.answer('errors{track="canary"}[2m]', errors)
    stub.answer('total{track="canary"}', total)
    stub.answer('errors{track="stable"}[2m]', vector("1"))
    stub.answer('total{track="stable"}', vector("10"))

    result = measure(stub.url, RATIO)

    assert (result.canary.value, result.canary.samples, result.canary.unavailable) == (
        side.value,
        side.samples,
        side.unavailable,
    )
    assert result.baseline == measurement.Side(
        value=0.1, samples=10.0, detail='errors: errors{track="stable"}[2m]\ntotal: total{track="stable"}'
    )


def test_no_traffic_says_so(stub: StubPrometheus) -> None:
    stub.answer('errors{track="canary"}[2m]', vector())
    stub.answer('total{track="canary"}', vector())

    canary = measure(stub.url, RATIO).canary

    assert canary.unavailable == NO_DATA
    assert canary.detail == (
        "the total query found no series: no traffic in the window\n"
        'errors: errors{track="canary"}[2m]\ntotal: total{track="canary"}'
    )


@pytest.mark.parametrize(
    ("answer", "side"),
    [
        (vector("0.25"), measurement.Side(value=0.25)),
        (vector("+Inf"), measurement.Side(value=float("inf"))),
        (Answer(success("scalar", [1.0, "7"])), measurement.Side(value=7.0)),
        (vector(), measurement.Side(unavailable=NO_DATA)),
        (vector("NaN"), measurement.Side(unavailable=NO_DATA)),
        (Answer(success("string", [1.0, "abc"])), measurement.Side(unavailable=QUERY_ERROR)),
        (
            Answer(success("matrix", [{"metric": {}, "values": [[1.0, "1"], [2.0, "2"]]}])),
            measurement.Side(unavailable=QUERY_ERROR),
        ),
    ],
)
def test_gauge_values(stub: StubPrometheus, answer: Answer, side: measurement.Side) -> None:
    stub.answer('gauge{track="canary"}', answer)
    stub.answer('gauge{track="stable"}', vector("1"))

    result = measure(stub.url, GAUGE)

    assert (result.canary.value, result.canary.samples, result.canary.unavailable) == (
        side.value,
        None,
        side.unavailable,
    )
    assert result.baseline == measurement.Side(value=1.0, detail='query: gauge{track="stable"}')


def test_several_series_ask_for_aggregation(stub: StubPrometheus) -> None:
    stub.answer(
        'gauge{track="canary"}',
        vector("1", "2", "3", labels=[{"pod": "a"}, {"pod": 'b"'}, {"pod": "c"}]),
    )

    canary = measure(stub.url, GAUGE).canary

    assert canary.unavailable == QUERY_ERROR
    assert canary.detail == (
        'the query must return one series, got 3 ({pod="a"}, {pod="b\\""}, ...); '
        "aggregate with sum(...), max(...) or similar\n"
        'query: gauge{track="canary"}'
    )


def test_latency_quantile_wraps_the_buckets(stub: StubPrometheus) -> None:
    latency = metric(
        kind="latency", quantile=0.95, query="sum by (le) (rate(b{{{ selector }}}[{{ window }}]))"
    )
    stub.answer('histogram_quantile(0.95, sum by (le) (rate(b{track="canary"}[2m])))', vector("0.3"))
    stub.answer('histogram_quantile(0.95, sum by (le) (rate(b{track="stable"}[2m])))', vector("0.2"))

    result = measure(stub.url, latency)

    assert (result.canary.value, result.baseline.value) == (0.3, 0.2)
    assert (
        result.canary.detail == 'query: histogram_quantile(0.95, sum by (le) (rate(b{track="canary"}[2m])))'
    )


def test_bad_promql_is_a_query_error_with_prometheus_words(stub: StubPrometheus) -> None:
    stub.answer(
        'gauge{track="canary"}',
        error(400, "bad_data", 'invalid parameter "query": 1:6: parse error: unexpected "}"'),
    )

    canary = measure(stub.url, GAUGE).canary

    assert canary == measurement.Side(
        unavailable=QUERY_ERROR,
        detail='Prometheus refused the query: bad_data: invalid parameter "query": 1:6: parse error: '
        'unexpected "}"\nquery: gauge{track="canary"}',
    )


def test_unexecutable_query_is_a_query_error(stub: StubPrometheus) -> None:
    stub.answer('gauge{track="canary"}', error(422, "execution", "many-to-many matching not allowed"))

    assert measure(stub.url, GAUGE).canary.unavailable == QUERY_ERROR


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            error(503, "timeout", "query timed out in expression evaluation"),
            "HTTP 503: timeout: query timed out",
        ),
        (Answer(b"<html>bad gateway</html>", status=502), "HTTP 502: <html>bad gateway</html>"),
        (Answer(b"", status=500), "HTTP 500: Internal Server Error"),
        (Answer(b"not json"), "did not answer as a Prometheus API"),
        (Answer({"status": "success"}), "did not answer as a Prometheus API"),
    ],
)
def test_server_trouble_is_provider_unavailable(stub: StubPrometheus, answer: Answer, words: str) -> None:
    stub.answer('gauge{track="canary"}', answer)

    canary = measure(stub.url, GAUGE).canary

    assert canary.unavailable == UNAVAILABLE
    assert words in canary.detail
    assert canary.detail.endswith('\nquery: gauge{track="canary"}')


def test_server_errors_are_not_retried(stub: StubPrometheus) -> None:
    stub.answer('gauge{track="canary"}', error(503, "unavailable", "overloaded"))
    stub.answer('gauge{track="stable"}', error(503, "unavailable", "overloaded"))

    measure(stub.url, GAUGE)

    assert len(stub.requests) == 2


def test_connection_refused_is_provider_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    started = time.monotonic()
    result = measure(f"http://127.0.0.1:{closed_port}/", GAUGE)

    assert time.monotonic() - started < 2, "a refused connection must not be retried with backoff"
    for side in (result.canary, result.baseline):
        assert side.unavailable == UNAVAILABLE
        assert side.detail.startswith(f"cannot reach Prometheus at http://127.0.0.1:{closed_port}: ")
        assert "Connection refused" in side.detail


def test_a_slow_server_times_out(stub: StubPrometheus) -> None:
    stub.answer('gauge{track="canary"}', Answer(success("vector", []), delay=3))
    stub.answer('gauge{track="stable"}', vector("1"))

    started = time.monotonic()
    result = measure(stub.url, GAUGE, timeout=datetime.timedelta(milliseconds=200))

    assert time.monotonic() - started < 2
    assert result.canary == measurement.Side(
        unavailable=UNAVAILABLE,
        detail=f'Prometheus at {stub.url} did not answer within 200ms\nquery: gauge{{track="canary"}}',
    )
    assert result.baseline.value == 1.0


def test_queries_run_concurrently_off_the_event_loop(stub: StubPrometheus) -> None:
    for track in ("canary", "stable"):
        stub.answer(f'errors{{track="{track}"}}[2m]', Answer(success("vector", []), delay=0.5))
        stub.answer(f'total{{track="{track}"}}', Answer(success("vector", []), delay=0.5))
    provider = prometheus.PrometheusProvider(stub.url)

    async def measure_while_ticking() -> int:
        ticks = 0
        task = asyncio.create_task(provider.measure(RATIO, canary=CANARY, baseline=BASELINE, window=WINDOW))
        while not task.done():
            await asyncio.sleep(0.01)
            ticks += 1
        await task
        return ticks

    started = time.monotonic()
    ticks = asyncio.run(measure_while_ticking())

    assert time.monotonic() - started < 1.5, "four 0.5s queries one after another would take 2s"
    assert ticks >= 10, "the event loop must keep running while queries wait"


def test_the_provider_satisfies_the_protocol() -> None:
    provider: base.MetricProvider = prometheus.PrometheusProvider("http://p:9090")
    assert isinstance(provider, prometheus.PrometheusProvider)


@pytest.mark.parametrize(
    ("error_type", "reason"),
    [
        (base.NoDataError, NO_DATA),
        (base.ProviderUnavailable, UNAVAILABLE),
        (base.QueryError, QUERY_ERROR),
    ],
)
def test_each_error_maps_to_one_reason(
    error_type: type[base.ProviderError], reason: measurement.Unavailable
) -> None:
    assert base.side_from_error(error_type("words"), queries="query: q") == measurement.Side(
        unavailable=reason, detail="words\nquery: q"
    )


@pytest.mark.parametrize(
    ("settings", "url", "timeout"),
    [
        (
            {"url": "http://prometheus.monitoring:9090"},
            "http://prometheus.monitoring:9090",
            prometheus.DEFAULT_TIMEOUT,
        ),
        (
            {"url": "https://p.example/prom/", "timeout": "2500ms"},
            "https://p.example/prom",
            datetime.timedelta(seconds=2.5),
        ),
    ],
)
def test_registry_builds_a_prometheus_provider(
    settings: dict[str, str], url: str, timeout: datetime.timedelta
) -> None:
    provider = registry.metric_provider(v1alpha1.Prometheus.model_validate(settings))

    assert provider == prometheus.PrometheusProvider(url, timeout=timeout)


def test_credentials_go_in_the_authorization_header_of_every_query(stub: StubPrometheus) -> None:
    stub.answer('gauge{track="canary"}', vector("1"))
    stub.answer('gauge{track="stable"}', vector("1"))
    settings = v1alpha1.Prometheus.model_validate(
        {"url": stub.url, "authorization": {"secretRef": {"name": "reader"}}}
    )
    provider = registry.metric_provider(settings, registry.Credentials(value="t0ken"))

    result = asyncio.run(provider.measure(GAUGE, canary=CANARY, baseline=BASELINE, window=WINDOW))

    assert result.canary.value == 1
    assert stub.authorizations == ["Bearer t0ken", "Bearer t0ken"]
    assert "t0ken" not in repr(provider)


def test_without_its_credentials_a_source_is_unavailable_and_asks_nothing(stub: StubPrometheus) -> None:
    settings = v1alpha1.Prometheus.model_validate(
        {"url": stub.url, "authorization": {"secretRef": {"name": "reader"}}}
    )
    provider = registry.metric_provider(settings, registry.Credentials(error="Secret shop/reader not found"))

    result = asyncio.run(provider.measure(GAUGE, canary=CANARY, baseline=BASELINE, window=WINDOW))

    for side in (result.canary, result.baseline):
        assert side.unavailable == UNAVAILABLE
        assert "Secret shop/reader not found" in side.detail
    assert stub.requests == []


@pytest.mark.parametrize("timeout", [datetime.timedelta(0), datetime.timedelta(seconds=-1)])
def test_timeout_must_be_positive(timeout: datetime.timedelta) -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        prometheus.PrometheusProvider("http://p:9090", timeout=timeout)


# --- series ---------------------------------------------------------------------------------------------

END = datetime.datetime.fromtimestamp(1_700_000_030, datetime.UTC)
STEP = datetime.timedelta(seconds=10)


def matrix(*rows: tuple[dict[str, str], list[str]]) -> Answer:
    """One series per row, sampled at the four stamps ending at END."""
    stamps = [1_700_000_000 + 10 * index for index in range(4)]
    return Answer(
        success(
            "matrix",
            [
                {
                    "metric": labels,
                    "values": [[stamp, value] for stamp, value in zip(stamps, values, strict=False)],
                }
                for labels, values in rows
            ],
        )
    )


def measure_series(url: str, subject: Any) -> series.Side:
    provider = prometheus.PrometheusProvider(url)
    return asyncio.run(provider.measure_series(subject, pods=CANARY, end=END, step=STEP, count=4))


def test_a_ratio_series_is_counts_per_interval_from_range_queries(stub: StubPrometheus) -> None:
    stub.answer('errors{track="canary"}[10s]', matrix(({}, ["1", "0", "2", "0"])))
    stub.answer('total{track="canary"}', matrix(({}, ["10", "12", "9", "11"])))
    side = measure_series(stub.url, RATIO)
    assert side.points == (
        series.Counts(errors=1, total=10),
        series.Counts(errors=0, total=12),
        series.Counts(errors=2, total=9),
        series.Counts(errors=0, total=11),
    )
    ranged = [request for request in stub.requests if "start" in request]
    assert {(request["start"], request["end"], request["step"]) for request in ranged} == {
        ("1700000000.000", "1700000030.000", "10")
    }


def test_a_latency_quantile_series_is_histograms_and_its_query_is_not_wrapped(stub: StubPrometheus) -> None:
    latency = metric(kind="latency", quantile=0.9, query="sum by (le) (b{{{ selector }}}[{{ window }}])")
    stub.answer(
        'sum by (le) (b{track="canary"}[10s])',
        matrix(({"le": "0.1"}, ["5", "5", "5", "5"]), ({"le": "+Inf"}, ["10", "10", "10", "10"])),
    )
    side = measure_series(stub.url, latency)
    assert side.points == (series.Histogram(buckets=((0.1, 5), (float("inf"), 10))),) * 4


def test_a_series_query_that_fails_leaves_an_unavailable_side(stub: StubPrometheus) -> None:
    stub.answer('gauge{track="canary"}', error(422, "execution", "too many samples"))
    side = measure_series(stub.url, GAUGE)
    assert side.points == ()
    assert side.unavailable == QUERY_ERROR
    assert "too many samples" in side.detail
    assert 'gauge{track="canary"}' in side.detail
