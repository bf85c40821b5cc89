"""Synthetic HTTP checks: the same request sent to every canary pod and every baseline pod, scored as a ratio.

Metrics only see the traffic users happen to send; a check asks each pod directly for the one thing that
must keep working, so a canary that answers 500, times out or refuses connections fails it even when no user
has reached it yet. Calling the pods rather than the Service keeps the two groups apart and makes every pod
count. The success ratio of each group is returned as a measurement like any metric's, for a judge to read.

An unanswered call is a failed call here, not missing data: a pod that refuses connections is broken, and
treating it as Inconclusive would let it hold a release open instead of rolling it back. Only a group without
Ready pods has nothing to measure. Nothing is retried and redirects are not followed, so every call reaches
exactly the pod it was meant for and counts once.

Deciding whether one answer meets the expectation (`evaluate`), reading a field out of JSON (`json_field`)
and wording a group's result (`summarize`) are plain functions, so their cases are tested without a server.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import enum
import errno
import json
from collections.abc import Sequence
from typing import Final

import aiohttp
import multidict
import yarl

from releaseguard.analysis import measurement
from releaseguard.models import duration, v1alpha1

DEFAULT_REQUESTS_PER_POD: Final = 5
DEFAULT_CONCURRENCY: Final = 10
DEFAULT_TIMEOUT: Final = datetime.timedelta(seconds=5)
MAX_BODY_BYTES: Final = 1024 * 1024
"""Bodies are read up to this size; a longer one cannot satisfy `bodyContains` or `jsonField`."""
USER_AGENT: Final = "releaseguard-synthetic-check"
"""Sent unless the check sets its own User-Agent, so the pods' logs can tell checks from users."""

_MAX_CAUSES_SHOWN = 3
_MAX_TEXT_IN_CAUSE = 40
_CHUNK_BYTES = 64 * 1024


class Missing(enum.Enum):
    """The one value `json_field` returns for a path that is not in the document."""

    MISSING = "missing"


MISSING: Final = Missing.MISSING


async def measure_check(
    check: v1alpha1.SyntheticCheck,
    *,
    canary: Sequence[str],
    baseline: Sequence[str],
    requests_per_pod: int = DEFAULT_REQUESTS_PER_POD,
    concurrency: int = DEFAULT_CONCURRENCY,
    default_timeout: datetime.timedelta = DEFAULT_TIMEOUT,
    session: aiohttp.ClientSession | None = None,
) -> measurement.Measurement:
    """Send the check `requests_per_pod` times to each `host:port` in `canary` and `baseline`.

    Both groups are called in one interleaved pass, at most `concurrency` calls in flight in all, so that
    neither group is measured at a quieter moment than the other. Each call has the check's timeout, or
    `default_timeout`. A `session` passed in is used and left open; otherwise one is made and closed here.

    Failed calls are results, never exceptions; a ValueError means the arguments themselves are wrong.
    """
    if requests_per_pod < 1:
        raise ValueError(f"requests_per_pod must be at least 1, not {requests_per_pod}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    if default_timeout <= datetime.timedelta(0):
        raise ValueError(f"default_timeout must be positive, not {default_timeout}")
    for address in (*canary, *baseline):
        _check_address(address)

    request = _Request.of(check.http, default_timeout=default_timeout)
    calls = _interleave(canary=canary, baseline=baseline, requests_per_pod=requests_per_pod)
    if not calls:
        outcomes: list[str | None] = []
    elif session is not None:
        outcomes = await _run_all(session, request, calls=calls, concurrency=concurrency)
    else:
        async with _session(concurrency=concurrency) as owned:
            outcomes = await _run_all(owned, request, calls=calls, concurrency=concurrency)

    results: dict[bool, list[str | None]] = {True: [], False: []}
    for (is_canary, _), outcome in zip(calls, outcomes, strict=True):
        results[is_canary].append(outcome)
    return measurement.Measurement(
        name=check.name, canary=_side(results[True]), baseline=_side(results[False])
    )


def evaluate(
    expect: v1alpha1.HttpExpectation, *, status: int, body: str | None, latency: datetime.timedelta
) -> str | None:
    """Why one answer fails the expectation, or None when it meets it.

    `body` is the decoded body, or None when it was longer than MAX_BODY_BYTES and so not kept. The first
    unmet condition is reported, in the order status, body text, JSON field, latency; the words are short
    and, but for a JSON value, the same for every failing answer, so that failures can be counted by cause.
    """
    if status != expect.status:
        return f"status {status} (want {expect.status})"
    needs_body = expect.body_contains is not None or expect.json_field is not None
    if needs_body and body is None:
        return f"body over {MAX_BODY_BYTES // (1024 * 1024)} MiB"
    if expect.body_contains is not None and expect.body_contains not in (body or ""):
        return f"body lacks {_shorten(expect.body_contains)!r}"
    if expect.json_field is not None:
        cause = _json_cause(expect.json_field, body or "")
        if cause is not None:
            return cause
    if expect.max_latency is not None and latency > expect.max_latency.value:
        return f"slower than {expect.max_latency}"
    return None


def json_field(document: object, path: str) -> object:
    """The value at a dotted `path` in parsed JSON, or MISSING.

    Each part names an object's key; on an array it must be a decimal index from 0 without leading zeros
    (`items.0.id`); there is no counting from the end, so `items.-1` is MISSING. A path through a string,
    number, boolean or null is MISSING. A field whose value is null is found: its value is None.
    """
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list):
            if not (part.isdecimal() and str(int(part)) == part and int(part) < len(value)):
                return MISSING
            value = value[int(part)]
        else:
            return MISSING
    return value


def render_json_value(value: object) -> str:
    """A JSON value as `equals` is written: a string as itself, anything else as compact JSON.

    So `true`, `null`, `42` and `1.5` read as JSON writes them; a number is rendered from the value Python
    parsed, so `1.0` in the answer stays `1.0` and `1e2` becomes `100.0`.
    """
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def summarize(outcomes: Sequence[str | None]) -> str:
    """`8/10 ok; 2 status 500 (want 200)`: successes, then failures counted by cause, most frequent first."""
    causes = collections.Counter(outcome for outcome in outcomes if outcome is not None)
    ok = len(outcomes) - causes.total()
    ranked = sorted(causes.items(), key=lambda item: (-item[1], item[0]))
    parts = [f"{ok}/{len(outcomes)} ok"]
    parts.extend(f"{count} {cause}" for cause, count in ranked[:_MAX_CAUSES_SHOWN])
    rest = ranked[_MAX_CAUSES_SHOWN:]
    if rest:
        parts.append(f"{sum(count for _, count in rest)} other ({len(rest)} causes)")
    return "; ".join(parts)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Request:
    """What every call of one check sends, worked out once."""

    method: str
    path: str
    headers: multidict.CIMultiDict[str]
    body: str | None
    timeout: datetime.timedelta
    expect: v1alpha1.HttpExpectation

    @classmethod
    def of(cls, http: v1alpha1.HttpCheck, *, default_timeout: datetime.timedelta) -> _Request:
        headers = multidict.CIMultiDict({"User-Agent": USER_AGENT})
        headers.update(http.headers)
        return cls(
            method=http.method.value,
            path=http.path,
            headers=headers,
            body=http.body,
            timeout=http.timeout.value if http.timeout is not None else default_timeout,
            expect=http.expect,
        )


def _interleave(
    *, canary: Sequence[str], baseline: Sequence[str], requests_per_pod: int
) -> list[tuple[bool, str]]:
    """Every call as (is it the canary's, address), in the order they start: round by round, pod by pod,
    alternating the groups, so that a limit on calls in flight delays both groups alike."""
    canary_round = [(True, address) for address in canary]
    baseline_round = [(False, address) for address in baseline]
    one_round: list[tuple[bool, str]] = []
    for index in range(max(len(canary_round), len(baseline_round))):
        one_round.extend(group[index] for group in (canary_round, baseline_round) if index < len(group))
    return one_round * requests_per_pod


def _session(*, concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        # Pods are called directly: no proxy from the environment, no cookies carried from one pod to another.
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def _run_all(
    session: aiohttp.ClientSession, request: _Request, *, calls: Sequence[tuple[bool, str]], concurrency: int
) -> list[str | None]:
    limit = asyncio.Semaphore(concurrency)

    async def call(address: str) -> str | None:
        async with limit:
            return await _call(session, request, address=address)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(call(address)) for _, address in calls]
    return [task.result() for task in tasks]


async def _call(session: aiohttp.ClientSession, request: _Request, *, address: str) -> str | None:
    """One call: None when it met the expectation, else the cause of its failure."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with session.request(
            request.method,
            f"http://{address}{request.path}",
            headers=request.headers,
            data=request.body,
            timeout=aiohttp.ClientTimeout(total=request.timeout.total_seconds()),
            allow_redirects=False,
            raise_for_status=False,
        ) as response:
            body = await _read_body(response)
            latency = datetime.timedelta(seconds=loop.time() - started)
            status = response.status
    except TimeoutError:
        return f"timed out after {_render(request.timeout)}"
    except aiohttp.ClientError as error:
        return _error_cause(error)
    return evaluate(request.expect, status=status, body=body, latency=latency)


async def _read_body(response: aiohttp.ClientResponse) -> str | None:
    """The decoded body, or None when it is longer than MAX_BODY_BYTES; the rest is then not read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return raw.decode(response.charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


def _error_cause(error: aiohttp.ClientError) -> str:
    """A call that got no usable answer, in words that are the same for every pod, so they count up."""
    if isinstance(error, aiohttp.ClientConnectorError):
        if isinstance(error.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"cannot connect ({error.os_error.strerror or type(error.os_error).__name__})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "connection closed by the pod"
    if isinstance(error, aiohttp.ClientOSError):
        if isinstance(error, ConnectionResetError) or error.errno == errno.ECONNRESET:
            return "connection reset"
        return f"connection failed ({error.strerror or type(error).__name__})"
    if isinstance(error, aiohttp.ClientPayloadError):
        return "body cut short"
    if isinstance(error, aiohttp.ClientResponseError):
        return "invalid HTTP answer"
    return f"request failed ({type(error).__name__})"


def _json_cause(expected: v1alpha1.JsonFieldExpectation, body: str) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return "body is not JSON"
    value = json_field(document, expected.path)
    if value is MISSING:
        return f"no JSON field {expected.path}"
    if expected.equals is not None:
        rendered = render_json_value(value)
        if rendered != expected.equals:
            return f"{expected.path} is {_shorten(rendered)!r} (want {_shorten(expected.equals)!r})"
    return None


def _side(outcomes: Sequence[str | None]) -> measurement.Side:
    if not outcomes:
        return measurement.Side(unavailable=measurement.Unavailable.NO_DATA, detail="no Ready pods")
    ok = sum(outcome is None for outcome in outcomes)
    return measurement.Side(value=ok / len(outcomes), samples=len(outcomes), detail=summarize(outcomes))


def _check_address(address: str) -> None:
    """Refuse anything but `host:port`, so that a call can only ever reach the pod it names."""
    try:
        url = yarl.URL(f"http://{address}")
    except ValueError:
        url = None
    if (
        url is None
        or not url.raw_host
        or url.explicit_port is None
        or url.raw_path not in ("", "/")
        or url.raw_query_string
        or url.raw_fragment
        or url.raw_user is not None
        or address.endswith("/")
    ):
        raise ValueError(f"{address!r} is not a pod address of the form host:port")


def _render(timeout: datetime.timedelta) -> str:
    return duration.render(datetime.timedelta(milliseconds=max(1, round(timeout.total_seconds() * 1000))))


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_TEXT_IN_CAUSE else text[: _MAX_TEXT_IN_CAUSE - 3] + "..."
