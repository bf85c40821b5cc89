"""Turn a query written once into the query for one group of pods over one window.

A user writes `{{ selector }}` and `{{ window }}` where the pods and the window belong; the operator fills
them for the canary and for the baseline. `{{ segment }}`, inside a `by (...)` clause, is a label to split
the result by for the impact breakdown, and nothing otherwise (`sum by ()` is `sum`). The template is
scanned once: text put in is never scanned again, so a label value that happens to read `{{ window }}`
stays a label value.
"""

from __future__ import annotations

import datetime
import re

from releaseguard.models import duration, v1alpha1
from releaseguard.providers import selector as label_selector

_PLACEHOLDER = re.compile(r"\{\{\s*(selector|window|segment)\s*\}\}")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ONE_SECOND = datetime.timedelta(seconds=1)


def render_query(
    template: str, *, selector: label_selector.Selector, window: datetime.timedelta, segment: str = ""
) -> str:
    """`template` with every `{{ selector }}`, `{{ window }}` and `{{ segment }}` filled, in a single pass.

    `segment` must be a label name (the API allows nothing else): it is written into the query as it is.
    """
    if segment and _LABEL_NAME.fullmatch(segment) is None:
        raise ValueError(f"not a label name: {segment!r}")
    values = {
        "selector": label_selector.render(selector),
        "window": render_window(window),
        "segment": segment,
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def render_window(window: datetime.timedelta) -> str:
    """A PromQL range duration in whole seconds (truncated), at least one: `1m30s`, `45s`, `1h`."""
    seconds = max(1, int(window.total_seconds()))
    return duration.render(seconds * _ONE_SECOND)


def value_query(
    metric: v1alpha1.LatencyMetric | v1alpha1.GaugeMetric,
    *,
    selector: label_selector.Selector,
    window: datetime.timedelta,
) -> str:
    """The rendered query whose one value is the metric; for a latency quantile, over the user's buckets."""
    rendered = render_query(metric.query, selector=selector, window=window)
    if isinstance(metric, v1alpha1.LatencyMetric) and metric.quantile is not None:
        return f"histogram_quantile({metric.quantile!r}, {rendered})"
    return rendered
