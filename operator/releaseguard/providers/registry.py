"""Which code serves which metric source: one table, so adding a source is one module and one row.

A source is named in the spec by its settings (today `analysis.prometheus`); the table maps the settings'
type to the factory that builds a provider from them.
"""

from __future__ import annotations

import collections.abc
from typing import Any, Final

from releaseguard.models import v1alpha1
from releaseguard.providers import base
from releaseguard.providers import prometheus as prometheus_provider


def _prometheus(settings: v1alpha1.Prometheus) -> base.MetricProvider:
    timeout = settings.timeout.value if settings.timeout is not None else prometheus_provider.DEFAULT_TIMEOUT
    return prometheus_provider.PrometheusProvider(settings.url, timeout=timeout)


_Factory = collections.abc.Callable[[Any], base.MetricProvider]

_FACTORIES: Final[collections.abc.Mapping[type[Any], _Factory]] = {
    v1alpha1.Prometheus: _prometheus,
}


def metric_provider(prometheus: v1alpha1.Prometheus) -> base.MetricProvider:
    """A provider for the source these settings describe; building one does no I/O."""
    return _FACTORIES[type(prometheus)](prometheus)
