"""The anomaly judge: during the bake there is no baseline left, so the new revision meets the metric's past.

After promotion every pod runs the new revision; a regression that the canary's small share of traffic
hid (a slow leak, a path only heavy traffic takes) can only be seen against what the metric was before.
Traffic is periodic, though: the evening peak looks anomalous against the quiet hour before an afternoon
release but normal against yesterday evening. So the reference is the same stretch of time one season ago
(`seasonal`, aligned with the bake: yesterday, last week) when the source has it, and the recent history
before the release (`baseline`) only when it does not: a new service, or retention shorter than a season.
A season is read only as far as the bake has come, and counts when it has a usable value for at least half
of those intervals; several that count are pooled. Seasons that count but hold fewer than 5 values so far
(the bake's first minutes) make the verdict wait rather than fall back to the history, which misses the
daily pattern they are there for.

Each interval is reduced to one number: an error ratio (intervals without traffic skipped), the metric's
quantile of a latency histogram (0.9 unless the metric names one), a gauge's reading. Then, robustly,
because the history holds the very incidents and spikes a plain mean and standard deviation would absorb:

    centre = median(reference)          scale = max(1.4826 * MAD(reference), 1% of |centre|, 1e-12)
    level  = median(new revision)       z = (level - centre) / scale, signed so that worse is positive

1.4826 * MAD estimates the standard deviation of normal data, so maxDeviation reads as "standard deviations",
while one outlier moves neither the median nor the MAD. The level is a median too, so one bad interval of the
new revision does not fail the bake; a shift in most of them does. The floor on the scale is for a flat
reference (an error ratio of 0 all hour, a gauge pinned at a value) whose MAD is 0 and would make any change
infinitely many deviations: with the floor, a change of 1% of the level is at most one deviation. 1e-12
only keeps a reference flat at 0 from dividing by zero; there the tolerance is 0 too, so any rise in the
level of the new revision past 1e-12 times maxDeviation fails.

Fail (AnomalyDetected) needs both: z > maxDeviation, the change is unusual for this metric, and the level
is beyond the tolerance, centre + maxRelativeIncrease * |centre| (mirrored for lowerIsWorse), the change
matters. A very steady metric moving 5% is unusual but harmless; a noisy one moving 50% may be its normal.
Otherwise Pass (WithinHistory). Fewer than 3 values of the new revision is Inconclusive (TooFewSamples);
a history of fewer than 5 values is Inconclusive (NoHistory). Like every series judge it is recomputed
from the data at every look.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt

from releaseguard.analysis import judgement, series
from releaseguard.models import v1alpha1

MIN_CURRENT = 3
"""Values of the new revision before its level is judged: the median of three survives one spike."""
MIN_REFERENCE = 5
"""Reference values before a centre and a scale mean anything."""
DEFAULT_QUANTILE = 0.9
"""The quantile of a latency histogram when the metric names none."""
MAD_TO_SIGMA = 1.4826
RELATIVE_SCALE_FLOOR = 0.01
ABSOLUTE_SCALE_FLOOR = 1e-12

_PASS, _FAIL, _INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE
_Floats = npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Reference:
    values: _Floats
    name: str
    """Which reference, for the evidence: "history" or the seasons it pools."""
    seasonal: bool


def judge(judge: v1alpha1.AnomalyJudge, measured: series.SeriesMeasurement) -> judgement.Judgement:
    """Judge the new revision's intervals against the metric's past; see the module docstring."""
    rule = (
        f"maxDeviation {_n(judge.max_deviation)}, maxRelativeIncrease {_n(judge.max_relative_increase)},"
        f" {judge.direction}"
    )
    # result() reports the level and the centre as far as they are known when it is called.
    level: float | None = None
    centre: float | None = None

    def result(verdict: v1alpha1.Verdict, reason: judgement.Reason, message: str) -> judgement.Judgement:
        return judgement.Judgement(
            verdict=verdict, reason=reason, message=message, canary=level, baseline=centre, threshold=rule
        )

    canary = measured.canary
    if canary.unavailable is not None:
        return result(_INCONCLUSIVE, *_unavailable(canary, name="new revision"))
    q = DEFAULT_QUANTILE if measured.quantile is None else measured.quantile
    if not 0 <= q <= 1:  # NaN included
        return result(_INCONCLUSIVE, judgement.Reason.QUERY_ERROR, f"quantile {q} is not between 0 and 1")

    current = _values(canary, q=q)
    level = _median(current)
    if current.size < MIN_CURRENT:
        more = MIN_CURRENT - current.size
        return result(
            _INCONCLUSIVE,
            judgement.Reason.TOO_FEW_SAMPLES,
            f"{current.size} usable intervals of the new revision, {MIN_CURRENT} needed: {more} more",
        )

    reference = _reference(judge, measured, q=q)
    if isinstance(reference, tuple):
        return result(_INCONCLUSIVE, *reference)
    centre = _median(reference.values)
    if reference.values.size < MIN_REFERENCE:
        count = f"{reference.values.size} usable values in the {reference.name}, {MIN_REFERENCE} needed"
        if reference.seasonal:  # it grows with the bake
            return result(
                _INCONCLUSIVE, judgement.Reason.TOO_FEW_SAMPLES, f"{count}: wait for more intervals"
            )
        return result(_INCONCLUSIVE, judgement.Reason.NO_HISTORY, count)

    mad = None if centre is None else _median(np.abs(reference.values - centre))
    if level is None or centre is None or mad is None:
        return result(
            _INCONCLUSIVE, judgement.Reason.QUERY_ERROR, "the values exceed the range of floating point"
        )

    scale = max(MAD_TO_SIGMA * mad, RELATIVE_SCALE_FLOOR * abs(centre), ABSOLUTE_SCALE_FLOOR)
    tolerance = judge.max_relative_increase * abs(centre)
    if judge.direction == v1alpha1.Direction.HIGHER_IS_WORSE:
        z, limit = (level - centre) / scale, centre + tolerance
        beyond = level > limit
    else:
        z, limit = (centre - level) / scale, centre - tolerance
        beyond = level < limit
    unusual = z > judge.max_deviation

    change = _percent((level - centre) / abs(centre)) if centre else f"{level - centre:+.6g}"
    evidence = (
        f"level {_n(level)} vs {reference.name} centre {_n(centre)} ({change}), scale {_n(scale)}:"
        f" z {z:+.3g} {'>' if unusual else '≤'} {_n(judge.max_deviation)},"
        f" {'beyond' if beyond else 'within'} the tolerance {_n(limit)}"
    )
    if unusual and beyond:
        return result(_FAIL, judgement.Reason.ANOMALY_DETECTED, evidence)
    return result(_PASS, judgement.Reason.WITHIN_HISTORY, evidence)


def _reference(
    judge: v1alpha1.AnomalyJudge, measured: series.SeriesMeasurement, *, q: float
) -> _Reference | tuple[judgement.Reason, str]:
    """The seasons that count, pooled, else the history; or why there is no reference."""
    seasons: list[_Floats] = []
    names: list[str] = []
    for index, side in enumerate(measured.seasonal):
        if side.unavailable is not None:
            continue  # a season the source lacks is no reason to wait: the history stands in
        aligned = side.upto(len(measured.canary.points))
        values = _values(aligned, q=q)
        if values.size and 2 * values.size >= len(aligned.points):
            seasons.append(values)
            # The provider fetches one side per season of the spec, in order.
            names.append(str(judge.seasons[index]) if index < len(judge.seasons) else f"season {index + 1}")
    if seasons:
        return _Reference(
            values=np.concatenate(seasons), name=f"same time {', '.join(names)} ago", seasonal=True
        )
    if measured.baseline.unavailable is not None:
        return _unavailable(measured.baseline, name="history")
    return _Reference(values=_values(measured.baseline, q=q), name="history", seasonal=False)


def _values(side: series.Side, *, q: float) -> _Floats:
    """One number per usable interval: an error ratio, the histogram's `q` quantile, or the reading."""
    values: list[float] = []
    for point in side.points:
        value = None if point is None else series.value(point, q=q)
        # A quantile interpolated between bounds near the floating point limit can overflow.
        if value is not None and math.isfinite(value):
            values.append(value)
    return np.array(values, dtype=float)


def _unavailable(side: series.Side, *, name: str) -> tuple[judgement.Reason, str]:
    cause = side.unavailable
    assert cause is not None  # callers check
    detail = f" ({side.detail})" if side.detail else ""
    return judgement.Reason(cause.value), f"{name} unavailable: {cause}{detail}"


def _median(values: _Floats) -> float | None:
    """The median; None without values, or when it is not a finite number."""
    if not values.size:
        return None
    # Values near the floating point limit overflow (the two middle ones are averaged, a deviation from the
    # centre may exceed the range): the caller then refuses to judge rather than compare infinities.
    with np.errstate(over="ignore"):
        median = float(np.median(values))
    return median if math.isfinite(median) else None


def _n(value: float) -> str:
    return f"{value:.6g}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:+.3g}%"
