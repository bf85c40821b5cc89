"""Which code serves which metric source: one table, so adding a source is one module and one row.

A source is named in the spec by its settings (today `analysis.prometheus`); the table maps the settings'
type to the factory that builds a provider from them.
"""

from __future__ import annotations

import collections.abc
import dataclasses
from typing import Any, Final

from releaseguard.models import v1alpha1
from releaseguard.providers import base
from releaseguard.providers import prometheus as prometheus_provider


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What the source's settings name in Secrets, read by the caller: the value, or why it is missing."""

    value: str | None = dataclasses.field(default=None, repr=False)
    error: str | None = None


def _prometheus(settings: v1alpha1.Prometheus, credentials: Credentials) -> base.MetricProvider:
    timeout = settings.timeout.value if settings.timeout is not None else prometheus_provider.DEFAULT_TIMEOUT
    scheme = settings.authorization.type if settings.authorization is not None else None
    return prometheus_provider.PrometheusProvider(
        settings.url,
        timeout=timeout,
        authorization=f"{scheme} {credentials.value}" if scheme and credentials.value is not None else None,
        credentials_error=credentials.error,
    )


_Factory = collections.abc.Callable[[Any, Credentials], base.MetricProvider]

_FACTORIES: Final[collections.abc.Mapping[type[Any], _Factory]] = {
    v1alpha1.Prometheus: _prometheus,
}


def metric_provider(
    prometheus: v1alpha1.Prometheus, credentials: Credentials = Credentials()
) -> base.MetricProvider:
    """A provider for the source these settings describe; building one does no I/O."""
    return _FACTORIES[type(prometheus)](prometheus, credentials)
