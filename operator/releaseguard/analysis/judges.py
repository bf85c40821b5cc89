"""Judges: one metric's measurement becomes Pass, Fail or Inconclusive, with a reason and the evidence.

A judge is a pure function of the judge from the spec and what was measured: it can be tested with literal
numbers, and the operator, the CLI and a report all reach the same verdict from the same numbers.

Rules shared by every judge:

- For a threshold, `max` bounds what is bad when high (error ratios, latencies), `min` what is bad when low
  (success ratios, throughput).
- A side with no value, or with a value that is not a finite number (NaN from 0/0, ±Inf from a quantile
  that fell in the +Inf bucket), is never judged: the verdict is Inconclusive with the provider's reason
  (NoData, ProviderUnavailable, QueryError; a non-finite value counts as QueryError). Never Pass.

threshold: the canary alone. Below `min` is Fail (BelowMinimum), above `max` is Fail (AboveMaximum), and a
value exactly at a bound passes (WithinThreshold).

A synthetic check is a threshold on the canary's success ratio with the stable pods as a witness: when they
fail it too, the verdict is Inconclusive (GlobalAnomaly) instead of Fail.

compare, burnRate and anomaly read the metric as a series of intervals (`series`) and live in their own
modules; `judge_series` dispatches to them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from releaseguard.analysis import anomaly, burn_rate, compare, judgement, measurement, series
from releaseguard.models import v1alpha1

_PASS, _FAIL, _INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE


def judge(judge: v1alpha1.ThresholdJudge, measured: measurement.Measurement) -> judgement.Judgement:
    """Judge one measured value by a threshold; see the module docstring for the rules."""
    return _threshold(judge, measured)


def judge_series(judge: v1alpha1.SeriesJudge, measured: series.SeriesMeasurement) -> judgement.Judgement:
    """Judge a metric's intervals so far by a compare, burnRate or anomaly judge."""
    return _SERIES_JUDGES[type(judge)](judge, measured)


# --- threshold ------------------------------------------------------------------------------------------


def _threshold(judge: v1alpha1.ThresholdJudge, measured: measurement.Measurement) -> judgement.Judgement:
    rule = _render(("min", judge.min), ("max", judge.max))
    canary = _value(measured.canary)
    # The baseline never sways a threshold verdict; it is reported so the evidence shows the contrast.
    baseline = _value(measured.baseline)

    def result(verdict: v1alpha1.Verdict, reason: judgement.Reason, message: str) -> judgement.Judgement:
        return judgement.Judgement(
            verdict=verdict, reason=reason, message=message, canary=canary, baseline=baseline, threshold=rule
        )

    problem = _nan_bound(("min", judge.min), ("max", judge.max)) or _unusable(measured.canary, name="canary")
    if problem is not None:
        return result(_INCONCLUSIVE, *problem)
    assert canary is not None  # _unusable said so
    if judge.min is not None and canary < judge.min:
        return result(_FAIL, judgement.Reason.BELOW_MINIMUM, f"canary {_n(canary)} < min {_n(judge.min)}")
    if judge.max is not None and canary > judge.max:
        return result(_FAIL, judgement.Reason.ABOVE_MAXIMUM, f"canary {_n(canary)} > max {_n(judge.max)}")
    lower = "" if judge.min is None else f"min {_n(judge.min)} ≤ "
    upper = "" if judge.max is None else f" ≤ max {_n(judge.max)}"
    return result(_PASS, judgement.Reason.WITHIN_THRESHOLD, f"{lower}canary {_n(canary)}{upper}")


def judge_check(min_success_ratio: float, measured: measurement.Measurement) -> judgement.Judgement:
    """Judge a synthetic check's success ratio: a threshold on the canary, unless the stable pods, called at
    the same moment, fail it too. Then something every pod depends on is down, not the release, and
    rolling back would not help: Inconclusive (GlobalAnomaly), as the compare judge says of metrics."""
    verdict = _threshold(v1alpha1.ThresholdJudge(type="threshold", min=min_success_ratio), measured)
    baseline = verdict.baseline
    if verdict.verdict != _FAIL or baseline is None or baseline >= min_success_ratio:
        return verdict
    bound = _n(min_success_ratio)
    message = f"not the release: the stable pods fail it too (baseline {_n(baseline)} < min {bound})"
    return dataclasses.replace(
        verdict, verdict=_INCONCLUSIVE, reason=judgement.Reason.GLOBAL_ANOMALY, message=message
    )


# --- the table ------------------------------------------------------------------------------------------

# Any: the judge model of its key.
_SeriesJudgeFunction = Callable[[Any, series.SeriesMeasurement], judgement.Judgement]
_SERIES_JUDGES: Mapping[type[v1alpha1.SeriesJudge], _SeriesJudgeFunction] = {
    v1alpha1.CompareJudge: compare.judge,
    v1alpha1.BurnRateJudge: burn_rate.judge,
    v1alpha1.AnomalyJudge: anomaly.judge,
}
"""One entry per series judge of the API: adding one is a module and one line here."""


# --- helpers --------------------------------------------------------------------------------------------


def _value(side: measurement.Side) -> float | None:
    """The side's value if a judge may use it."""
    if side.unavailable is not None or side.value is None or not math.isfinite(side.value):
        return None
    return side.value


def _unusable(side: measurement.Side, *, name: str) -> tuple[judgement.Reason, str] | None:
    """Why a judge may not use the side's value, or None if it may."""
    if side.unavailable is not None or side.value is None:
        cause = side.unavailable or measurement.Unavailable.NO_DATA
        detail = f" ({side.detail})" if side.detail else ""
        return judgement.Reason(cause.value), f"{name} unavailable: {cause}{detail}"
    if not math.isfinite(side.value):
        return judgement.Reason.QUERY_ERROR, f"{name} value is {side.value}, not a finite number"
    return None


def _nan_bound(*bounds: tuple[str, float | None]) -> tuple[judgement.Reason, str] | None:
    """Every comparison with NaN is false, so a NaN bound would let any value pass."""
    nan = [name for name, bound in bounds if bound is not None and math.isnan(bound)]
    if not nan:
        return None
    return (
        judgement.Reason.INVALID_JUDGE,
        f"the judge's {' and '.join(nan)} is NaN, which no value can be compared with",
    )


def _render(*bounds: tuple[str, float | None]) -> str:
    return ", ".join(f"{name} {_n(bound)}" for name, bound in bounds if bound is not None)


def _n(value: float) -> str:
    return f"{value:.6g}"
