"""A query written once renders for one group of pods and one window, in a single pass."""

from __future__ import annotations

import datetime

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.models import v1alpha1
from releaseguard.providers import query, selector
from tests.unit import test_selector

CANARY = (
    selector.Matcher(label="namespace", op="=", value="shop"),
    selector.Matcher(label="pod", op="=~", value="checkout-canary-.*"),
)
MINUTE = datetime.timedelta(minutes=1)
JUDGE = {"type": "threshold", "max": 1}


def seconds(value: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=value)


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        (
            'sum(increase(http_requests_total{code=~"5..",{{ selector }}}[{{ window }}]))',
            'sum(increase(http_requests_total{code=~"5..",namespace="shop",pod=~"checkout-canary-.*"}[1m]))',
        ),
        (
            "sum(increase(http_requests_total{{{ selector }}}[{{ window }}]))",
            'sum(increase(http_requests_total{namespace="shop",pod=~"checkout-canary-.*"}[1m]))',
        ),
        ("up{{{selector}}}", 'up{namespace="shop",pod=~"checkout-canary-.*"}'),
        ("up{{{ \t selector\n }}}[{{window}}]", 'up{namespace="shop",pod=~"checkout-canary-.*"}[1m]'),
        (
            "a{{{ selector }}} / b{{{ selector }}} offset {{ window }}",
            'a{namespace="shop",pod=~"checkout-canary-.*"} / b{namespace="shop",pod=~"checkout-canary-.*"}'
            " offset 1m",
        ),
        ("up{{{ Selector }}}", "up{{{ Selector }}}"),
        ("up{{{ selectors }}}", "up{{{ selectors }}}"),
        ("{{ other }}", "{{ other }}"),
        ("no placeholders", "no placeholders"),
    ],
)
def test_render_query(template, rendered) -> None:
    assert query.render_query(template, selector=CANARY, window=MINUTE) == rendered


@pytest.mark.parametrize(
    ("window", "rendered"),
    [
        (seconds(45), "45s"),
        (seconds(90), "1m30s"),
        (seconds(60), "1m"),
        (seconds(3600), "1h"),
        (seconds(3725), "1h2m5s"),
        (datetime.timedelta(days=2), "48h"),
        (seconds(90.9), "1m30s"),
        (seconds(1), "1s"),
        (seconds(0.4), "1s"),
        (seconds(0), "1s"),
        (seconds(-5), "1s"),
    ],
)
def test_render_window(window, rendered) -> None:
    assert query.render_window(window) == rendered


@pytest.mark.parametrize(
    ("segment", "rendered"),
    [
        ("", 'sum by () (increase(x{namespace="shop",pod=~"checkout-canary-.*"}[1m]))'),
        ("route", 'sum by (route) (increase(x{namespace="shop",pod=~"checkout-canary-.*"}[1m]))'),
    ],
)
def test_render_query_splits_by_the_segment_when_asked(segment: str, rendered: str) -> None:
    template = "sum by ({{ segment }}) (increase(x{{{ selector }}}[{{ window }}]))"
    assert query.render_query(template, selector=CANARY, window=MINUTE, segment=segment) == rendered


@pytest.mark.parametrize("segment", ["route) or vector(1) by (x", "1route", "route-name", 'a"'])
def test_render_query_refuses_a_segment_that_is_not_a_label_name(segment: str) -> None:
    with pytest.raises(ValueError, match="not a label name"):
        query.render_query("sum by ({{ segment }}) (x)", selector=CANARY, window=MINUTE, segment=segment)


def test_inserted_text_is_not_rendered_again() -> None:
    sneaky = (selector.Matcher(label="pod", op="=", value="{{ window }}{{ selector }}"),)
    rendered = query.render_query("x{{{ selector }}}[{{ window }}]", selector=sneaky, window=MINUTE)
    assert rendered == 'x{pod="{{ window }}{{ selector }}"}[1m]'


@pytest.mark.parametrize(
    ("metric", "rendered"),
    [
        (
            {"kind": "gauge", "query": "max(up{{{ selector }}})"},
            'max(up{namespace="shop",pod=~"checkout-canary-.*"})',
        ),
        (
            {"kind": "latency", "query": "avg(x_seconds{{{ selector }}})"},
            'avg(x_seconds{namespace="shop",pod=~"checkout-canary-.*"})',
        ),
        (
            {
                "kind": "latency",
                "quantile": 0.99,
                "query": "sum by (le) (rate(x{{{ selector }}}[{{ window }}]))",
            },
            'histogram_quantile(0.99, sum by (le) (rate(x{namespace="shop",pod=~"checkout-canary-.*"}[1m])))',
        ),
        (
            {"kind": "latency", "quantile": 0.5, "query": "b{{{ selector }}}"},
            'histogram_quantile(0.5, b{namespace="shop",pod=~"checkout-canary-.*"})',
        ),
    ],
)
def test_value_query(metric, rendered) -> None:
    model = pydantic_metric({"name": "m", "judge": JUDGE, **metric})
    assert query.value_query(model, selector=CANARY, window=MINUTE) == rendered


def pydantic_metric(raw: dict[str, object]) -> v1alpha1.LatencyMetric | v1alpha1.GaugeMetric:
    model = v1alpha1.Analysis.model_validate(
        {"prometheus": {"url": "http://p:9090"}, "metrics": [raw]}
    ).metrics[0]
    assert isinstance(model, v1alpha1.LatencyMetric | v1alpha1.GaugeMetric)
    return model


@hypothesis.given(
    value=strategies.text(),
    window=strategies.timedeltas(min_value=datetime.timedelta(0), max_value=datetime.timedelta(days=30)),
)
def test_any_value_and_window_stay_where_they_belong(value, window) -> None:
    matchers = (selector.Matcher(label="pod", op="=", value=value),)
    rendered = query.render_query("x{{{ selector }}}[{{ window }}]", selector=matchers, window=window)

    suffix = f"}}[{query.render_window(window)}]"
    assert rendered.startswith("x{")
    assert rendered.endswith(suffix)
    inside = rendered[len("x{") : -len(suffix)]
    assert test_selector.parse_matchers(inside) == [("pod", "=", value)]
