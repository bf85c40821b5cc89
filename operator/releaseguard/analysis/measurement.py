"""What a provider measured for one metric or check over one window, for the canary and the baseline.

Providers produce these; judges read them. Keeping them plain values is what lets the judges be tested
with literal numbers and lets a provider error become a verdict instead of an exception.
"""

from __future__ import annotations

import dataclasses
import enum


class Unavailable(enum.StrEnum):
    """Why a side has no value; each becomes the reason of an Inconclusive result, never a Pass."""

    NO_DATA = "NoData"
    """The query ran and returned nothing (no series, or no traffic in the window)."""
    PROVIDER_UNAVAILABLE = "ProviderUnavailable"
    """The metric source could not be reached or answered with a server error."""
    QUERY_ERROR = "QueryError"
    """The source refused the query (bad PromQL, a result of the wrong shape)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Side:
    """One group of pods (canary or baseline) in one window."""

    value: float | None = None
    """The metric's value (a ratio, seconds, a gauge reading, a success ratio), None when unavailable."""
    samples: float | None = None
    """How much traffic the value rests on (requests for ratio metrics and checks), None when unknown."""
    unavailable: Unavailable | None = None
    """Set exactly when `value` is None."""
    detail: str = ""
    """The provider's words about a failure, or the rendered query, for the evidence."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Measurement:
    name: str
    """The metric or synthetic check, as named in the spec."""
    canary: Side
    baseline: Side
