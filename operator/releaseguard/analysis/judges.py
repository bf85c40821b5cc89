"""Judges: one metric's measurement becomes Pass, Fail or Inconclusive, with a reason and the evidence.

Every decision the operator takes (advance a step, pause, roll back) rests on these verdicts, so a judge is
a pure function of the judge from the spec and a `measurement.Measurement`: it can be tested with literal
numbers, and the operator, the CLI and a report all reach the same verdict from the same numbers. Each
verdict carries the values and the rule applied, so nobody has to re-run a query to see why.

Rules shared by every judge:

- Higher is worse, for every metric kind: error ratios, latencies and gauges alike. A metric where lower is
  worse (a success ratio, throughput) is judged with a threshold judge's `min`.
- A side with no value, or with a value that is not a finite number (NaN from 0/0, ±Inf from a quantile
  that fell in the +Inf bucket), is never judged: the verdict is Inconclusive with the provider's reason
  (NoData, ProviderUnavailable, QueryError; a non-finite value counts as QueryError). Never Pass.

threshold: the canary alone. Below `min` is Fail (BelowMinimum), above `max` is Fail (AboveMaximum), and a
value exactly at a bound passes (WithinThreshold).

compare: the canary against the baseline (stable) pods over the same window. The first rule that decides
wins:

1. The canary has no usable value: Inconclusive.
2. `minSamples` is set and either side is known to rest on fewer samples: Inconclusive (TooFewSamples).
3. `maxAbsolute` is set and the canary exceeds it: Fail (AbsoluteLimitExceeded), whatever the baseline,
   even an unavailable one. It is a ceiling for the canary alone.
4. `maxRelativeIncrease` is set. The baseline has no usable value: Inconclusive with the baseline's reason.
   Otherwise the canary may exceed the baseline by

       allowed = max(maxRelativeIncrease * |baseline|, noise floor),   noise floor = maxAbsolute / 10

   (no noise floor without `maxAbsolute`), and `canary - baseline > allowed` is Fail
   (RelativeIncreaseExceeded).
5. Otherwise Pass (WithinTolerance).

Why a noise floor: a relative rule on a near-zero baseline judges noise. An error ratio going from 0.0001 to
0.0003 is +200%, yet it is a couple of requests and harmless. `maxAbsolute` is the user's own statement of
the level that hurts; an increase an order of magnitude below it is not evidence of a regression, so it does
not fail on the relative rule alone. Once the increase is larger than that, the relative rule applies in
full: 0.001 to 0.005 is still well under a ceiling of 0.01 but fails with `maxRelativeIncrease: 0.5`.
Without `maxAbsolute` the rule is purely relative, as asked; `minSamples` then guards against thin data.
The tolerance scales with the baseline's magnitude, so it also reads right for gauges below zero.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from typing import Any

from releaseguard.analysis import measurement
from releaseguard.models import v1alpha1

NOISE_FLOOR_FRACTION = 0.1
"""The share of `maxAbsolute` under which a compare judge's relative excess alone is not a failure."""

_PASS, _FAIL, _INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE


class Reason(enum.StrEnum):
    """Why a judge gave its verdict, as one CamelCase word that alerts and reports can match on."""

    WITHIN_THRESHOLD = "WithinThreshold"
    BELOW_MINIMUM = "BelowMinimum"
    ABOVE_MAXIMUM = "AboveMaximum"
    WITHIN_TOLERANCE = "WithinTolerance"
    RELATIVE_INCREASE_EXCEEDED = "RelativeIncreaseExceeded"
    ABSOLUTE_LIMIT_EXCEEDED = "AbsoluteLimitExceeded"
    TOO_FEW_SAMPLES = "TooFewSamples"
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
    """The baseline's value, for compare judges; None otherwise, or when it had no usable value."""
    threshold: str
    """The rule applied, rendered, e.g. "max 0.01" or "maxRelativeIncrease 0.5, maxAbsolute 0.01"."""


def judge(
    judge: v1alpha1.ThresholdJudge | v1alpha1.CompareJudge, measurement: measurement.Measurement
) -> Judgement:
    """Judge `measurement` by the rule of `judge`; see the module docstring for the rules."""
    return _JUDGES[type(judge)](judge, measurement)


# --- threshold ------------------------------------------------------------------------------------------


def _threshold(judge: v1alpha1.ThresholdJudge, measured: measurement.Measurement) -> Judgement:
    rule = _render(("min", judge.min), ("max", judge.max))
    canary = _value(measured.canary)
    # The baseline never sways a threshold verdict; it is reported so the evidence shows the contrast.
    baseline = _value(measured.baseline)

    def result(verdict: v1alpha1.Verdict, reason: Reason, message: str) -> Judgement:
        return Judgement(
            verdict=verdict, reason=reason, message=message, canary=canary, baseline=baseline, threshold=rule
        )

    problem = _nan_bound(("min", judge.min), ("max", judge.max)) or _unusable(measured.canary, name="canary")
    if problem is not None:
        return result(_INCONCLUSIVE, *problem)
    assert canary is not None  # _unusable said so
    if judge.min is not None and canary < judge.min:
        return result(_FAIL, Reason.BELOW_MINIMUM, f"canary {_n(canary)} < min {_n(judge.min)}")
    if judge.max is not None and canary > judge.max:
        return result(_FAIL, Reason.ABOVE_MAXIMUM, f"canary {_n(canary)} > max {_n(judge.max)}")
    lower = "" if judge.min is None else f"min {_n(judge.min)} ≤ "
    upper = "" if judge.max is None else f" ≤ max {_n(judge.max)}"
    return result(_PASS, Reason.WITHIN_THRESHOLD, f"{lower}canary {_n(canary)}{upper}")


# --- compare --------------------------------------------------------------------------------------------


def _compare(judge: v1alpha1.CompareJudge, measured: measurement.Measurement) -> Judgement:
    relative, ceiling = judge.max_relative_increase, judge.max_absolute
    rule = _render(
        ("maxRelativeIncrease", relative), ("maxAbsolute", ceiling), ("minSamples", judge.min_samples)
    )
    canary, baseline = _value(measured.canary), _value(measured.baseline)

    def result(verdict: v1alpha1.Verdict, reason: Reason, message: str) -> Judgement:
        return Judgement(
            verdict=verdict, reason=reason, message=message, canary=canary, baseline=baseline, threshold=rule
        )

    problem = _nan_bound(("maxRelativeIncrease", relative), ("maxAbsolute", ceiling)) or _unusable(
        measured.canary, name="canary"
    )
    if problem is not None:
        return result(_INCONCLUSIVE, *problem)
    assert canary is not None  # _unusable said so

    if judge.min_samples is not None:
        few = [
            f"{name} {_n(side.samples)} samples < minSamples {judge.min_samples}"
            for name, side in (("canary", measured.canary), ("baseline", measured.baseline))
            if side.samples is not None and side.samples < judge.min_samples
        ]
        if few:
            return result(_INCONCLUSIVE, Reason.TOO_FEW_SAMPLES, "; ".join(few))

    if ceiling is not None and canary > ceiling:
        return result(
            _FAIL, Reason.ABSOLUTE_LIMIT_EXCEEDED, f"canary {_n(canary)} > maxAbsolute {_n(ceiling)}"
        )
    under_ceiling = "" if ceiling is None else f"canary {_n(canary)} ≤ maxAbsolute {_n(ceiling)}"
    if relative is None:
        return result(_PASS, Reason.WITHIN_TOLERANCE, under_ceiling)

    problem = _unusable(measured.baseline, name="baseline")
    if problem is not None:
        reason, message = problem
        return result(_INCONCLUSIVE, reason, f"{message}, so the relative increase cannot be judged")
    assert baseline is not None  # _unusable said so

    noise_floor = 0.0 if ceiling is None else ceiling * NOISE_FLOOR_FRACTION
    proportional = relative * abs(baseline)
    increase = canary - baseline
    allowed = max(proportional, noise_floor)
    failed = increase > allowed

    evidence = f"canary {_n(canary)} vs baseline {_n(baseline)}: "
    if baseline == 0:  # no percentage to speak of
        evidence += f"{_signed(increase)} {_cmp(failed)} {_signed(allowed)} allowed"
        evidence += " (the noise floor, maxAbsolute / 10)" if noise_floor > 0 else ""
    else:
        beyond = increase > proportional
        evidence += f"{_percent(increase / abs(baseline))} {_cmp(beyond)} {_percent(relative)} allowed"
        if beyond and noise_floor > proportional:
            evidence += (
                f", {'and' if failed else 'but'} the increase {_signed(increase)} {_cmp(failed)}"
                f" the noise floor {_n(noise_floor)} (maxAbsolute / 10)"
            )
    if failed:
        return result(_FAIL, Reason.RELATIVE_INCREASE_EXCEEDED, evidence)
    return result(
        _PASS, Reason.WITHIN_TOLERANCE, f"{evidence}; {under_ceiling}" if under_ceiling else evidence
    )


# --- the table ------------------------------------------------------------------------------------------

_JudgeFunction = Callable[[Any, measurement.Measurement], Judgement]  # Any: the judge model of its key
_JUDGES: Mapping[type[v1alpha1.ThresholdJudge | v1alpha1.CompareJudge], _JudgeFunction] = {
    v1alpha1.ThresholdJudge: _threshold,
    v1alpha1.CompareJudge: _compare,
}
"""One entry per judge type of the API: adding a judge is one function and one line here."""


# --- helpers --------------------------------------------------------------------------------------------


def _value(side: measurement.Side) -> float | None:
    """The side's value if a judge may use it."""
    if side.unavailable is not None or side.value is None or not math.isfinite(side.value):
        return None
    return side.value


def _unusable(side: measurement.Side, *, name: str) -> tuple[Reason, str] | None:
    """Why a judge may not use the side's value, or None if it may."""
    if side.unavailable is not None or side.value is None:
        cause = side.unavailable or measurement.Unavailable.NO_DATA
        detail = f" ({side.detail})" if side.detail else ""
        return Reason(cause.value), f"{name} unavailable: {cause}{detail}"
    if not math.isfinite(side.value):
        return Reason.QUERY_ERROR, f"{name} value is {side.value}, not a finite number"
    return None


def _nan_bound(*bounds: tuple[str, float | None]) -> tuple[Reason, str] | None:
    """Every comparison with NaN is false, so a NaN bound would let any value pass."""
    nan = [name for name, bound in bounds if bound is not None and math.isnan(bound)]
    if not nan:
        return None
    return (
        Reason.INVALID_JUDGE,
        f"the judge's {' and '.join(nan)} is NaN, which no value can be compared with",
    )


def _render(*bounds: tuple[str, float | None]) -> str:
    return ", ".join(f"{name} {_n(bound)}" for name, bound in bounds if bound is not None)


def _cmp(greater: bool) -> str:
    return ">" if greater else "≤"


def _n(value: float) -> str:
    return f"{value:.6g}"


def _signed(value: float) -> str:
    return f"{value:+.6g}"


def _percent(fraction: float) -> str:
    percent = fraction * 100
    return f"{percent:+.0f}%" if abs(percent) >= 100 else f"{percent:+.3g}%"
