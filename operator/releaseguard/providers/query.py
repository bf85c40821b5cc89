"""Turn a query written once into the query for one group of pods over one window.

A user writes `{{ selector }}` and `{{ window }}` where the pods and the window belong; the operator fills
them for the canary and for the baseline. The template is scanned once: text put in is never scanned
again, so a label value that happens to read `{{ window }}` stays a label value.
"""

from __future__ import annotations

import datetime
import re

from releaseguard.models import duration, v1alpha1
from releaseguard.providers import selector as label_selector

_PLACEHOLDER = re.compile(r"\{\{\s*(selector|window)\s*\}\}")
_ONE_SECOND = datetime.timedelta(seconds=1)


def render_query(template: str, *, selector: label_selector.Selector, window: datetime.timedelta) -> str:
    """`template` with every `{{ selector }}` and `{{ window }}` filled, in a single pass."""
    values = {"selector": label_selector.render(selector), "window": render_window(window)}
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
