"""What every judge returns: a verdict, one word saying why, and the evidence in numbers.

Every decision the operator takes (advance a step, pause, roll back) rests on these, so each carries the
values and the rule applied: nobody has to re-run a query to see why.
"""

from __future__ import annotations

import dataclasses
import enum

from releaseguard.analysis import measurement
from releaseguard.models import v1alpha1


class Reason(enum.StrEnum):
    """Why a judge gave its verdict, as one CamelCase word that alerts and reports can match on."""

    # threshold
    WITHIN_THRESHOLD = "WithinThreshold"
    BELOW_MINIMUM = "BelowMinimum"
    ABOVE_MAXIMUM = "AboveMaximum"
    # compare
    WITHIN_TOLERANCE = "WithinTolerance"
    """No evidence, at the judge's confidence, that the canary is worse than the baseline beyond tolerance."""
    SIGNIFICANT_REGRESSION = "SignificantRegression"
    """The canary is worse than the baseline beyond tolerance, at the judge's confidence."""
    ABSOLUTE_LIMIT_EXCEEDED = "AbsoluteLimitExceeded"
    """The canary exceeds the judge's maxAbsolute ceiling, at the judge's confidence."""
    GLOBAL_ANOMALY = "GlobalAnomaly"
    """The baseline degraded as much as the canary: an incident that hits every pod, not the release."""
    TOO_FEW_SAMPLES = "TooFewSamples"
    # burnRate
    BURN_RATE_EXCEEDED = "BurnRateExceeded"
    WITHIN_ERROR_BUDGET = "WithinErrorBudget"
    # anomaly
    ANOMALY_DETECTED = "AnomalyDetected"
    WITHIN_HISTORY = "WithinHistory"
    NO_HISTORY = "NoHistory"
    """Nothing before the release to compare with."""
    INVALID_JUDGE = "InvalidJudge"
    """A bound of the judge is NaN, which no value can be compared with."""
    # A side without a usable value; the same words as measurement.Unavailable.
    NO_DATA = measurement.Unavailable.NO_DATA.value
    PROVIDER_UNAVAILABLE = measurement.Unavailable.PROVIDER_UNAVAILABLE.value
    QUERY_ERROR = measurement.Unavailable.QUERY_ERROR.value


@dataclasses.dataclass(frozen=True, kw_only=True)
class Judgement:
    """One metric's verdict with its evidence."""

    verdict: v1alpha1.Verdict
    reason: Reason
    """Why, in one word of the module's vocabulary; for an unavailable side, the provider's reason."""
    message: str
    """The evidence in words, naming the numbers and the bound they met, e.g. "canary 0.102 > max 0.01"."""
    canary: float | None
    """The canary's value; None when it had none or it was not a finite number."""
    baseline: float | None
    """The baseline's value, for judges that compare; None otherwise, or when it had no usable value."""
    threshold: str
    """The rule applied, rendered, e.g. "max 0.01" or "maxRelativeIncrease 0.2, confidence 0.99"."""
