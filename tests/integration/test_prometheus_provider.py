"""The Prometheus provider against the local cluster's real Prometheus, on the series it scrapes of itself.

Prometheus scrapes its own /metrics (job="prometheus"), so these tests need no demo workload; they prove the
rendered PromQL is what a real server parses, and that its answers map to the values and reasons expected.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import math
import urllib.parse
import urllib.request
from typing import Any

import pytest

from releaseguard.analysis import measurement
from releaseguard.models import v1alpha1
from releaseguard.providers import prometheus, query, selector

SELF = (selector.Matcher(label="job", op="=", value="prometheus"),)
NOBODY = (selector.Matcher(label="job", op="=", value="releaseguard-no-such-job"),)
WINDOW = datetime.timedelta(minutes=5)
THRESHOLD = {"type": "threshold", "max": 1}


def metric(**raw: Any) -> v1alpha1.RatioMetric | v1alpha1.LatencyMetric | v1alpha1.GaugeMetric:
    return v1alpha1.Analysis.model_validate(
        {"prometheus": {"url": "http://p:9090"}, "metrics": [{"name": "m", "judge": THRESHOLD, **raw}]}
    ).metrics[0]


def measure(
    url: str, subject: Any, *, canary: selector.Selector, baseline: selector.Selector = SELF
) -> measurement.Measurement:
    provider = prometheus.PrometheusProvider(url, timeout=datetime.timedelta(seconds=10))
    return asyncio.run(provider.measure(subject, canary=canary, baseline=baseline, window=WINDOW))


@pytest.fixture(scope="module")
def prometheus_url(cluster_env: dict[str, str]) -> str:
    return cluster_env["RG_PROMETHEUS_URL"]


def test_gauge_of_prometheus_scraping_itself(prometheus_url: str) -> None:
    gauge = metric(kind="gauge", query="max(up{{{ selector }}})")

    result = measure(prometheus_url, gauge, canary=SELF)

    assert result.canary == measurement.Side(value=1.0, detail='query: max(up{job="prometheus"})')
    assert result.baseline == result.canary


def test_ratio_over_prometheus_own_requests(prometheus_url: str) -> None:
    ratio = metric(
        kind="ratio",
        errors='sum(increase(prometheus_http_requests_total{code=~"5..",{{ selector }}}[{{ window }}]))',
        total="sum(increase(prometheus_http_requests_total{{{ selector }}}[{{ window }}]))",
    )

    canary = measure(prometheus_url, ratio, canary=SELF).canary

    assert canary.unavailable is None, canary.detail
    assert canary.value is not None
    assert 0 <= canary.value <= 1
    assert canary.samples is not None
    assert canary.samples > 0
    assert canary.detail == (
        'errors: sum(increase(prometheus_http_requests_total{code=~"5..",job="prometheus"}[5m]))\n'
        'total: sum(increase(prometheus_http_requests_total{job="prometheus"}[5m]))'
    )


def test_latency_quantile_of_prometheus_own_requests(prometheus_url: str) -> None:
    latency = metric(
        kind="latency",
        quantile=0.9,
        query="sum by (le) (rate(prometheus_http_request_duration_seconds_bucket"
        "{{{ selector }}}[{{ window }}]))",
    )

    canary = measure(prometheus_url, latency, canary=SELF).canary

    assert canary.unavailable is None, canary.detail
    assert canary.value is not None
    assert 0 < canary.value < math.inf


def test_syntax_error_is_a_query_error(prometheus_url: str) -> None:
    broken = metric(kind="gauge", query="max(up{{{ selector }}}")

    canary = measure(prometheus_url, broken, canary=SELF).canary

    assert canary.unavailable == measurement.Unavailable.QUERY_ERROR
    assert canary.detail.startswith("Prometheus refused the query: bad_data: ")
    assert "parse error" in canary.detail
    assert canary.detail.endswith('\nquery: max(up{job="prometheus"}')


def test_several_series_are_a_query_error(prometheus_url: str) -> None:
    unaggregated = metric(kind="gauge", query="prometheus_http_requests_total{{{ selector }}}")

    canary = measure(prometheus_url, unaggregated, canary=SELF).canary

    assert canary.unavailable == measurement.Unavailable.QUERY_ERROR
    assert "must return one series" in canary.detail


def test_selector_matching_nothing_is_no_data(prometheus_url: str) -> None:
    gauge = metric(kind="gauge", query="max(up{{{ selector }}})")
    ratio = metric(
        kind="ratio",
        errors='sum(increase(prometheus_http_requests_total{code=~"5..",{{ selector }}}[{{ window }}]))',
        total="sum(increase(prometheus_http_requests_total{{{ selector }}}[{{ window }}]))",
    )

    for subject in (gauge, ratio):
        result = measure(prometheus_url, subject, canary=NOBODY)
        assert result.canary.unavailable == measurement.Unavailable.NO_DATA, result.canary.detail
        assert result.baseline.unavailable is None, result.baseline.detail


HOSTILE = [
    '"}',
    "\\",
    '"} or vector(1) #',
    '") or vector(1) or up{job="',
    "line\nbreak",
    "tab\tand\x1bescape",
    "{{ window }}",
    "ünïcødé",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_match_nothing_rather_than_inject(prometheus_url: str, value: str) -> None:
    gauge = metric(kind="gauge", query="max(up{{{ selector }}})")
    hostile = (
        selector.Matcher(label="job", op="=", value=value),
        selector.Matcher(label="instance", op="=~", value=selector.regex_escape(value)),
    )

    result = measure(prometheus_url, gauge, canary=hostile)

    assert result.canary.unavailable == measurement.Unavailable.NO_DATA, result.canary.detail


def test_an_unescaped_regex_fails_inside_its_literal(prometheus_url: str) -> None:
    gauge = metric(kind="gauge", query="max(up{{{ selector }}})")
    raw = (selector.Matcher(label="instance", op="=~", value='") or vector(1) or up{job="'),)

    canary = measure(prometheus_url, gauge, canary=raw).canary

    assert canary.unavailable == measurement.Unavailable.QUERY_ERROR
    assert "error parsing regexp" in canary.detail


@pytest.mark.parametrize("value", HOSTILE)
def test_prometheus_reads_back_exactly_the_value_given(prometheus_url: str, value: str) -> None:
    # absent() answers with the labels of its equality matchers: Prometheus' own reading of the literal.
    matchers = (selector.Matcher(label="x", op="=", value=value),)
    promql = query.render_query(
        "absent(releaseguard_no_such_metric{{{ selector }}})", selector=matchers, window=WINDOW
    )

    result = instant_query(prometheus_url, promql)

    assert [series["metric"] for series in result] == [{"x": value}]


@pytest.mark.parametrize("text", ["a.b", "a+b*", "(x|y)", "[z]", "^$", "\\d", "{1,2}", "?", 'q"\n\\'])
def test_regex_escaped_text_matches_exactly_itself_in_prometheus(prometheus_url: str, text: str) -> None:
    # label_replace sets `matched` only when its (anchored, RE2) regex matches the source label: Prometheus'
    # own regex engine judging the escaped pattern. `$` is doubled because the replacement expands `$1`.
    pattern = selector.quote(selector.regex_escape(text))
    labelled = f'label_replace(vector(1), "x", {selector.quote(text.replace("$", "$$"))}, "", "")'
    for subject, matched in ((labelled, True), (labelled.replace('"x", "', '"x", "other'), False)):
        promql = f'label_replace({subject}, "matched", "yes", "x", {pattern})'

        [series] = instant_query(prometheus_url, promql)

        assert series["metric"].get("matched") == ("yes" if matched else None), series


def instant_query(url: str, promql: str) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result
