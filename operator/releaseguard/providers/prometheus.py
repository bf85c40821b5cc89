"""Metrics from the Prometheus HTTP API, as instant queries evaluated at one moment for both groups of pods.

The client library is synchronous, so every query runs in a worker thread and kopf's event loop never
waits on the network; the canary's and the baseline's queries run side by side. Canary and baseline are
evaluated at the same instant, so both see the same window. Nothing here retries or backs off: a failed
query is an Inconclusive result now, and the analysis asks again at its next interval.

The library would read an answer whole into memory and time only each wait on the network, so its
session's adapter reads the answer first, in pieces, against a size cap and a deadline for the whole
answer: a query selecting millions of series, or a server that hangs or trickles bytes, costs one bounded
Inconclusive measurement instead of the operator's memory or a worker thread for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import functools
import math
import os
import time
import typing
from collections.abc import Callable, Mapping
from typing import Any

import requests
import requests.adapters
import requests.utils
import urllib3
from prometheus_api_client import exceptions as client_exceptions
from prometheus_api_client import prometheus_connect

from releaseguard import telemetry
from releaseguard.analysis import measurement, series
from releaseguard.impact import segments
from releaseguard.models import duration, v1alpha1
from releaseguard.providers import base, query, ranges
from releaseguard.providers import selector as label_selector

DEFAULT_TIMEOUT = datetime.timedelta(seconds=10)
MAX_SEGMENTS = 200
"""The most values of a segment label kept, those with the most canary traffic: a label with thousands of
values (a user id by mistake) must not flood the operator, and the few that matter carry the traffic."""
CONNECTIONS = 32
"""Kept-alive connections per Prometheus, one per query that may run at once."""
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
"""The most of one answer read, after decompression: a metric's query returns one series (a range query
a few thousand points), so an answer this large selects far too much and is refused, not held in memory."""
_MAX_ERROR_BYTES = 64 * 1024
"""How far an error answer is read for Prometheus' words; the rest is left unread."""
_PIECE_BYTES = 64 * 1024
_MAX_BODY_IN_MESSAGE = 300
_MAX_SERIES_IN_MESSAGE = 2


@dataclasses.dataclass(frozen=True)
class PrometheusProvider:
    """Queries one Prometheus server; holds no connection between measurements, so needs no closing."""

    url: str
    """Base URL of the HTTP API, e.g. http://prometheus.monitoring:9090."""
    _: dataclasses.KW_ONLY
    timeout: datetime.timedelta = DEFAULT_TIMEOUT
    """Time limit for one query, from connecting to the last byte of its answer and, as its `timeout`
    parameter, in Prometheus itself."""
    verify_tls: bool = True
    """Whether to verify the server's certificate over https; turn off only when asked to."""
    max_response_bytes: int = MAX_RESPONSE_BYTES
    """The most of one answer read; a longer one is a query error."""
    authorization: str | None = dataclasses.field(default=None, repr=False)
    """The Authorization header's value, e.g. "Bearer <token>", for a Prometheus that asks for one."""
    credentials_error: str | None = None
    """Why the credentials the spec names could not be read; every query is then unavailable for it."""

    def __post_init__(self) -> None:
        if self.timeout <= datetime.timedelta(0):
            raise ValueError(f"timeout must be positive, not {self.timeout}")
        if self.max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be positive, not {self.max_response_bytes}")
        object.__setattr__(self, "url", self.url.rstrip("/"))

    async def measure(
        self,
        metric: v1alpha1.Metric,
        *,
        canary: label_selector.Selector,
        baseline: label_selector.Selector,
        window: datetime.timedelta,
        baseline_at: datetime.datetime | None = None,
    ) -> measurement.Measurement:
        at = time.time()
        client = self._client()
        try:
            canary_side, baseline_side = await asyncio.gather(
                self._side(client, metric, selector=canary, window=window, at=at),
                self._side(
                    client,
                    metric,
                    selector=baseline,
                    window=window,
                    at=at if baseline_at is None else baseline_at.timestamp(),
                ),
            )
        finally:
            client.close()
        return measurement.Measurement(name=metric.name, canary=canary_side, baseline=baseline_side)

    async def measure_series(
        self,
        metric: v1alpha1.Metric,
        *,
        pods: label_selector.Selector,
        end: datetime.datetime,
        step: datetime.timedelta,
        count: int,
    ) -> series.Side:
        seconds = max(1, int(step.total_seconds()))
        at = ranges.stamps(end=math.floor(end.timestamp()), step=seconds, count=max(1, count))
        window = datetime.timedelta(seconds=seconds)
        client = self._client()
        try:
            if isinstance(metric, v1alpha1.RatioMetric):
                errors_query = query.render_query(metric.errors, selector=pods, window=window)
                total_query = query.render_query(metric.total, selector=pods, window=window)
                queries = f"errors: {errors_query}\ntotal: {total_query}"
                errors, total = await asyncio.gather(
                    self._run_range(client, errors_query, at=at, step=seconds),
                    self._run_range(client, total_query, at=at, step=seconds),
                )
                try:
                    points: tuple[series.Point | None, ...] = ranges.counts(
                        errors=_raised(errors), total=_raised(total), at=at
                    )
                except base.ProviderError as error:
                    return base.series_side_from_error(_unusable(error, errors, total), queries=queries)
                return series.Side(points=points, detail=queries)
            value_query = query.render_query(metric.query, selector=pods, window=window)
            queries = f"query: {value_query}"
            result = await self._run_range(client, value_query, at=at, step=seconds)
            try:
                if isinstance(metric, v1alpha1.LatencyMetric) and metric.quantile is not None:
                    points = ranges.histograms(_raised(result), at=at)
                else:
                    points = ranges.values(_raised(result), at=at)
            except base.ProviderError as error:
                return base.series_side_from_error(_unusable(error, result), queries=queries)
            return series.Side(points=points, detail=queries)
        finally:
            client.close()

    async def measure_segments(
        self,
        metric: v1alpha1.RatioMetric,
        *,
        label: str,
        canary: label_selector.Selector,
        baseline: label_selector.Selector,
        window: datetime.timedelta,
        baseline_at: datetime.datetime | None = None,
    ) -> tuple[segments.SegmentCounts, ...] | base.ProviderError:
        at = time.time()
        baseline_stamp = at if baseline_at is None else baseline_at.timestamp()
        # errors and total of the canary, then of the baseline, each evaluated when its group is measured.
        queries = [
            (query.render_query(template, selector=pods, window=window, segment=label), stamp)
            for pods, stamp in ((canary, at), (baseline, baseline_stamp))
            for template in (metric.errors, metric.total)
        ]
        client = self._client()
        try:
            results = await asyncio.gather(
                *(self._run(client, promql, at=stamp) for promql, stamp in queries)
            )
        finally:
            client.close()
        try:
            canary_errors, canary_total, baseline_errors, baseline_total = (
                _by_segment(_raised(result), label=label) for result in results
            )
        except base.ProviderError as error:
            return _unusable(error, *results)
        values = sorted(
            canary_total.keys() | baseline_total.keys(), key=lambda value: -canary_total.get(value, 0.0)
        )
        return tuple(
            segments.SegmentCounts(
                segment=value,
                canary_events=canary_errors.get(value, 0.0),
                canary_total=canary_total.get(value, 0.0),
                baseline_events=baseline_errors.get(value, 0.0),
                baseline_total=baseline_total.get(value, 0.0),
            )
            for value in values[:MAX_SEGMENTS]
        )

    async def _run_range(
        self, client: prometheus_connect.PrometheusConnect, promql: str, *, at: tuple[float, ...], step: int
    ) -> list[Any] | base.ProviderError:
        """Like `_run`, for a range query with one sample at each of `at`."""
        params = {
            "start": f"{at[0]:.3f}",
            "end": f"{at[-1]:.3f}",
            "step": str(step),
            "timeout": _render_timeout(self.timeout),
        }
        start, end = (datetime.datetime.fromtimestamp(stamp, datetime.UTC) for stamp in (at[0], at[-1]))
        try:
            return await asyncio.to_thread(
                self._answer,
                lambda: client.custom_query_range(
                    promql, start_time=start, end_time=end, step=str(step), params=params
                ),
            )
        except base.ProviderError as error:
            return error

    async def _side(
        self,
        client: prometheus_connect.PrometheusConnect,
        metric: v1alpha1.Metric,
        *,
        selector: label_selector.Selector,
        window: datetime.timedelta,
        at: float,
    ) -> measurement.Side:
        if isinstance(metric, v1alpha1.RatioMetric):
            errors_query = query.render_query(metric.errors, selector=selector, window=window)
            total_query = query.render_query(metric.total, selector=selector, window=window)
            queries = f"errors: {errors_query}\ntotal: {total_query}"
            errors, total = await asyncio.gather(
                self._run(client, errors_query, at=at), self._run(client, total_query, at=at)
            )
            try:
                value, samples = _ratio(errors=errors, total=total)
            except base.ProviderError as error:
                return base.side_from_error(_unusable(error, errors, total), queries=queries)
            return measurement.Side(value=value, samples=samples, detail=queries)

        value_query = query.value_query(metric, selector=selector, window=window)
        queries = f"query: {value_query}"
        answer = await self._run(client, value_query, at=at)
        try:
            value = _gauge(answer)
        except base.ProviderError as error:
            return base.side_from_error(_unusable(error, answer), queries=queries)
        return measurement.Side(value=value, detail=queries)

    async def _run(
        self, client: prometheus_connect.PrometheusConnect, promql: str, *, at: float
    ) -> list[Any] | base.ProviderError:
        """The query's result, or the error it met, returned rather than raised so that `gather` always
        waits for every query and no thread still uses the client once it is closed."""
        try:
            return await asyncio.to_thread(self._query, client, promql, at=at)
        except base.ProviderError as error:
            return error

    def _query(self, client: prometheus_connect.PrometheusConnect, promql: str, *, at: float) -> list[Any]:
        params = {"time": f"{at:.3f}", "timeout": _render_timeout(self.timeout)}
        return self._answer(lambda: client.custom_query(promql, params=params))

    def _answer(self, ask: Callable[[], object]) -> list[Any]:
        """The result list of one API call, its failures mapped to the provider's errors; timed and
        counted in the operator's metrics."""
        started = time.monotonic()
        try:
            result = self._result(ask)
        except base.ProviderError as error:
            telemetry.observe_query(time.monotonic() - started, error=error)
            raise
        telemetry.observe_query(time.monotonic() - started)
        return result

    def _result(self, ask: Callable[[], object]) -> list[Any]:
        if self.credentials_error is not None:
            raise base.ProviderUnavailable(self.credentials_error)
        try:
            result = ask()
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise base.ProviderUnavailable(
                f"Prometheus at {self.url} did not answer within {_render_timeout(self.timeout)}"
            ) from None
        except requests.ConnectionError as error:
            raise base.ProviderUnavailable(
                f"cannot reach Prometheus at {self.url}: {_cause(error)}"
            ) from None
        except urllib3.exceptions.HTTPError as error:  # raised by the adapter while it reads the answer
            raise base.ProviderUnavailable(
                f"Prometheus at {self.url} broke off its answer: {_cause(error)}"
            ) from None
        except (requests.JSONDecodeError, KeyError, TypeError):
            # The client reads data.result out of the body without looking at it first.
            raise base.ProviderUnavailable(f"{self.url} did not answer as a Prometheus API") from None
        except (requests.RequestException, client_exceptions.PrometheusApiClientException) as error:
            raise base.ProviderUnavailable(f"Prometheus at {self.url}: {error}") from None
        if not isinstance(result, list):
            raise base.ProviderUnavailable(f"{self.url} did not answer as a Prometheus API")
        return result

    def _client(self) -> prometheus_connect.PrometheusConnect:
        return _shared_client(
            self.url, self.timeout, self.verify_tls, self.max_response_bytes, self.authorization
        )


@functools.lru_cache(maxsize=64)
def _shared_client(
    url: str,
    timeout: datetime.timedelta,
    verify_tls: bool,
    max_response_bytes: int,
    authorization: str | None,
) -> prometheus_connect.PrometheusConnect:
    """One client, and so one pool of kept-alive connections, per Prometheus and settings: hundreds of
    releases asking the same Prometheus every few seconds would otherwise each open connections anew."""
    session = requests.Session()
    # The environment's proxy and CA bundle settings are read once, here, rather than on every query,
    # where looking them up cost more than the rest of the request.
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(url)
    session.verify = (os.environ.get("REQUESTS_CA_BUNDLE") or True) if verify_tls else False
    session.hooks["response"] = [_raise_for_status]
    if authorization is not None:
        session.headers["Authorization"] = authorization
    client = prometheus_connect.PrometheusConnect(url=url, session=session)
    # Mounted after the client is built, in place of the adapter it mounts for its URL, whose retries
    # would ask again three times with backoff after a refused connection or a 503.
    session.mount(url, _BoundedAdapter(within=timeout, max_bytes=max_response_bytes))
    return client


class _BoundedAdapter(requests.adapters.HTTPAdapter):
    """Reads every answer whole before the client sees it, within one deadline and a size cap.

    The deadline runs from sending the query to the answer's last byte; the caller's `timeout`, which
    requests applies to each wait on the network alone, and its `stream` are not used. A plain adapter
    retries nothing.
    """

    def __init__(self, *, within: datetime.timedelta, max_bytes: int) -> None:
        # As many kept-alive connections as queries can run at once (the operator's worker threads).
        super().__init__(pool_maxsize=CONNECTIONS)
        self.within = within
        self.max_bytes = max_bytes

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: object = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        seconds = self.within.total_seconds()
        deadline = time.monotonic() + seconds
        response = super().send(
            request,
            stream=True,
            # One limit for connecting and the headers together: requests takes urllib3's Timeout as its
            # documentation says, though its type stubs do not.
            timeout=typing.cast(float, urllib3.Timeout(total=seconds)),
            verify=verify,
            cert=cert,
            proxies=proxies,
        )
        limit = self.max_bytes if response.status_code == 200 else _MAX_ERROR_BYTES
        with contextlib.closing(response):
            body = _read(response.raw, limit=limit, deadline=deadline)
        if len(body) > limit:
            if response.status_code == 200:
                raise base.QueryError(
                    f"Prometheus answered more than {_render_size(limit)}: the query selects far too many "
                    "series; aggregate it with sum(...), max(...) or similar"
                )
            body = body[:limit]  # the start of an error answer is enough for Prometheus' words
        # What `Response.content` returns, and so what the client and the status hook read.
        response._content = body
        return response


def _read(raw: urllib3.HTTPResponse, *, limit: int, deadline: float) -> bytes:
    """The decoded body as far as one byte past `limit`, as it arrives until `deadline`.

    `read1` returns whatever has arrived, and each wait for more is made no longer than the time left,
    so a server that trickles bytes is cut off at the deadline like one that sends nothing.
    """
    body = bytearray()
    while len(body) <= limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise requests.ReadTimeout("the answer was still coming at the deadline")
        _wait_at_most(raw, seconds=remaining)
        piece = raw.read1(min(_PIECE_BYTES, limit + 1 - len(body)), decode_content=True)
        if not piece:
            break
        body += piece
    return bytes(body)


def _wait_at_most(raw: urllib3.HTTPResponse, *, seconds: float) -> None:
    """Bound the next wait for bytes of the answer; urllib3 sets the socket's timeout once per request."""
    connection = raw.connection
    if connection is not None and connection.sock is not None:
        connection.sock.settimeout(seconds)


def _unusable(error: base.ProviderError, *answers: list[Any] | base.ProviderError) -> base.ProviderError:
    """`error`, counted as a query error unless it is one of the `answers`: a query that failed was counted
    when it failed, one whose answer cannot be used (no data, the wrong shape) is counted here."""
    if not any(answer is error for answer in answers):
        telemetry.count_query_error(error)
    return error


def _raised(result: list[Any] | base.ProviderError) -> list[Any]:
    if isinstance(result, base.ProviderError):
        raise result
    return result


def _raise_for_status(response: requests.Response, **kwargs: object) -> None:
    """A requests response hook: tell a refused query from a server in trouble.

    The client folds every non-200 answer into one exception with the body in its message; the hook sees
    the status and Prometheus' JSON error first.
    """
    if response.status_code == 200 or response.is_redirect:
        return
    message = _error_message(response)
    # 400: the query does not parse or a parameter is wrong; 422: the query cannot be executed as written.
    if response.status_code in (400, 422):
        raise base.QueryError(f"Prometheus refused the query: {message}")
    raise base.ProviderUnavailable(f"Prometheus answered HTTP {response.status_code}: {message}")


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
        return f"{body['errorType']}: {body['error']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:_MAX_BODY_IN_MESSAGE].strip() or response.reason


def _ratio(
    *, errors: list[Any] | base.ProviderError, total: list[Any] | base.ProviderError
) -> tuple[float, float]:
    """errors/total and total; no errors series at all means no errors, as when nothing failed yet."""
    if isinstance(errors, base.ProviderError):
        raise errors
    if isinstance(total, base.ProviderError):
        raise total
    total_value = _one_value(total, what="the total query")
    if total_value is None or math.isnan(total_value):
        raise base.NoDataError("the total query found no series: no traffic in the window")
    if total_value == 0:
        raise base.NoDataError("the total query is 0: no traffic in the window")
    if total_value < 0 or math.isinf(total_value):
        raise base.QueryError(f"the total query gave {total_value}; it must count events in the window")
    errors_value = _one_value(errors, what="the errors query")
    if errors_value is None:
        errors_value = 0.0
    if math.isnan(errors_value):
        raise base.NoDataError("the errors query gave NaN")
    return errors_value / total_value, total_value


def _by_segment(result: list[Any], *, label: str) -> dict[str, float]:
    """An instant vector as label value to sample; NaN samples (no traffic) are left out."""
    values: dict[str, float] = {}
    for sample in result:
        if not (isinstance(sample, dict) and "value" in sample):
            raise base.QueryError("a segment query must return an instant vector")
        try:
            value = float(sample["value"][1])
        except (TypeError, ValueError, IndexError):
            raise base.QueryError(f"a segment query returned {sample['value']!r}, not a number") from None
        if not math.isnan(value):
            key = str((sample.get("metric") or {}).get(label, ""))
            values[key] = values.get(key, 0.0) + value
    return values


def _gauge(result: list[Any] | base.ProviderError) -> float:
    """The query's one value; NaN (e.g. a quantile of empty buckets) is no data, +Inf a real reading."""
    if isinstance(result, base.ProviderError):
        raise result
    value = _one_value(result, what="the query")
    if value is None:
        raise base.NoDataError("the query found no series")
    if math.isnan(value):
        raise base.NoDataError("the query gave NaN: no samples in the window")
    return value


def _one_value(result: list[Any], *, what: str) -> float | None:
    """The value of a scalar or a one-series instant vector, None for an empty vector."""
    if not result:
        return None
    if len(result) == 2 and isinstance(result[0], int | float):  # a scalar (or string): [time, "value"]
        sample = result[1]
    elif all(isinstance(series, dict) and "value" in series for series in result):
        if len(result) > 1:
            raise base.QueryError(
                f"{what} must return one series, got {len(result)} ({_some_series(result)}); "
                "aggregate with sum(...), max(...) or similar"
            )
        sample = result[0]["value"][1]
    elif all(isinstance(series, dict) and "values" in series for series in result):
        raise base.QueryError(f"{what} returns a range vector; wrap it in rate(), increase() or similar")
    else:
        raise base.QueryError(f"{what} returned a result of unknown shape")
    try:
        return float(sample)
    except (TypeError, ValueError):
        raise base.QueryError(f"{what} returned {sample!r}, not a number") from None


def _some_series(result: list[dict[str, Any]]) -> str:
    shown = [
        "{" + ",".join(f"{name}={label_selector.quote(str(value))}" for name, value in labels.items()) + "}"
        for labels in (series.get("metric", {}) for series in result[:_MAX_SERIES_IN_MESSAGE])
    ]
    return ", ".join(shown) + (", ..." if len(result) > _MAX_SERIES_IN_MESSAGE else "")


def _render_size(size: int) -> str:
    for unit, name in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


def _render_timeout(timeout: datetime.timedelta) -> str:
    return duration.render(datetime.timedelta(milliseconds=max(1, round(timeout.total_seconds() * 1000))))


def _cause(error: BaseException) -> str:
    """The innermost error, e.g. `[Errno 111] Connection refused`, not the wrappers' repeated URL."""
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    return str(error)
