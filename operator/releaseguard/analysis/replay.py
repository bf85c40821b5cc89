"""Replay a recorded metric through the judges, one look per interval, as the operator would look.

`releaseguard judge FILE...` and the judge benchmark use this, so the figures they print come from the exact
code the operator runs. A scenario is one metric's canary and baseline data, one entry per interval; at look
`k` the judge sees intervals 0..k, and the replay stops at the first Fail, where the operator would roll back.

Scenario format (JSON):

    {"metric": {"name": "error-rate", "kind": "ratio", "judge": {"type": "compare"}},
     "interval_s": 10,
     "baseline": [{"errors": 3, "total": 450}, null, ...],
     "canary":   [{"errors": 1, "total": 50}, null, ...]}

An entry is `{"errors": n, "total": n}` for ratio metrics, `{"buckets": {"0.05": n, ..., "+Inf": n}}` for
latency histograms (each interval's increments of the cumulative buckets) or `{"value": x}` for gauges and
latencies given as one number; null is a missing interval. `metric.quantile` sets the latency quantile
judged besides the median (default 0.9). For an anomaly judge, `baseline` is the history before the
release (any length) and an optional `seasonal` list holds entry lists aligned with `canary`, one per
season. A threshold judge reads the latest interval's value alone, as the operator's threshold does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import pydantic

from releaseguard.analysis import judgement, judges, measurement, series
from releaseguard.models import v1alpha1


class Metric(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    name: str = pydantic.Field(min_length=1)
    kind: v1alpha1.MetricKind
    judge: v1alpha1.Judge
    quantile: float | None = pydantic.Field(default=None, gt=0, lt=1)


class Scenario(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    metric: Metric
    interval_s: float = pydantic.Field(gt=0, allow_inf_nan=False)
    baseline: tuple[dict[str, Any] | None, ...]
    canary: tuple[dict[str, Any] | None, ...]
    seasonal: tuple[tuple[dict[str, Any] | None, ...], ...] = ()

    @pydantic.model_validator(mode="after")
    def _check(self) -> Scenario:
        ratio = self.metric.kind == v1alpha1.MetricKind.RATIO
        if isinstance(self.metric.judge, v1alpha1.BurnRateJudge) and not ratio:
            raise ValueError("a burnRate judge reads an error ratio: use it on a ratio metric")
        aligned = not isinstance(self.metric.judge, v1alpha1.AnomalyJudge)
        if aligned and len(self.baseline) != len(self.canary):
            raise ValueError(
                f"baseline has {len(self.baseline)} intervals and canary {len(self.canary)}; they must match"
            )
        for number, season in enumerate(self.seasonal):
            if len(season) != len(self.canary):
                raise ValueError(f"seasonal[{number}] has {len(season)} intervals, canary {len(self.canary)}")
        return self

    def measurement(self) -> series.SeriesMeasurement:
        """The whole scenario as the judges read it; raises ValueError naming a malformed entry."""
        kind = self.metric.kind
        return series.SeriesMeasurement(
            name=self.metric.name,
            interval_seconds=self.interval_s,
            canary=series.Side(points=_points(self.canary, kind=kind, where="canary")),
            baseline=series.Side(points=_points(self.baseline, kind=kind, where="baseline")),
            seasonal=tuple(
                series.Side(points=_points(season, kind=kind, where=f"seasonal[{number}]"))
                for number, season in enumerate(self.seasonal)
            ),
            quantile=self.metric.quantile,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Evaluation:
    interval: int
    judgement: judgement.Judgement


@dataclasses.dataclass(frozen=True, kw_only=True)
class Replayed:
    verdict: v1alpha1.Verdict
    """Fail if a look failed; otherwise the last look's verdict (Inconclusive without data)."""
    decided_at: int | None
    """The interval of the first Fail, None if none failed."""
    evaluations: tuple[Evaluation, ...]


def replay(scenario: Scenario) -> Replayed:
    """Judge the scenario at every interval on the data so far, stopping at the first Fail."""
    measured = scenario.measurement()
    evaluations: list[Evaluation] = []
    for look in range(len(measured.canary.points)):
        judged = judge_at(scenario.metric, measured, looks=look + 1)
        evaluations.append(Evaluation(interval=look, judgement=judged))
        if judged.verdict == v1alpha1.Verdict.FAIL:
            return Replayed(verdict=judged.verdict, decided_at=look, evaluations=tuple(evaluations))
    verdict = evaluations[-1].judgement.verdict if evaluations else v1alpha1.Verdict.INCONCLUSIVE
    return Replayed(verdict=verdict, decided_at=None, evaluations=tuple(evaluations))


def judge_at(metric: Metric, measured: series.SeriesMeasurement, *, looks: int) -> judgement.Judgement:
    """The judgement after `looks` intervals: what the operator would have judged then."""
    if isinstance(metric.judge, v1alpha1.ThresholdJudge):
        latest = measured.canary.points[looks - 1]
        return judges.judge(
            metric.judge,
            measurement.Measurement(
                name=measured.name,
                canary=_latest_side(latest, quantile=measured.quantile),
                baseline=_latest_side(measured.baseline.points[looks - 1], quantile=measured.quantile)
                if looks <= len(measured.baseline.points)
                else measurement.Side(unavailable=measurement.Unavailable.NO_DATA),
            ),
        )
    history_is_whole = isinstance(metric.judge, v1alpha1.AnomalyJudge)
    seen = dataclasses.replace(
        measured,
        canary=measured.canary.upto(looks),
        baseline=measured.baseline if history_is_whole else measured.baseline.upto(looks),
        seasonal=tuple(season.upto(looks) for season in measured.seasonal),
    )
    return judges.judge_series(metric.judge, seen)


def as_json(file: str, replayed: Replayed) -> dict[str, Any]:
    """The line `releaseguard judge` prints for one scenario."""
    return {
        "file": file,
        "verdict": replayed.verdict.value.lower(),
        "decided_at": replayed.decided_at,
        "evaluations": [
            {
                "interval": evaluation.interval,
                "verdict": evaluation.judgement.verdict.value.lower(),
                "reason": evaluation.judgement.reason.value,
                "canary": evaluation.judgement.canary,
                "baseline": evaluation.judgement.baseline,
                "message": evaluation.judgement.message,
            }
            for evaluation in replayed.evaluations
        ],
    }


def _latest_side(point: series.Point | None, *, quantile: float | None) -> measurement.Side:
    value = None if point is None else series.value(point, q=0.9 if quantile is None else quantile)
    if value is None:
        return measurement.Side(unavailable=measurement.Unavailable.NO_DATA, detail="no data in the interval")
    samples = point.total if isinstance(point, series.Counts | series.Histogram) else None
    return measurement.Side(value=value, samples=samples)


_ENTRY_KEYS: dict[v1alpha1.MetricKind, tuple[frozenset[str], ...]] = {
    v1alpha1.MetricKind.RATIO: (frozenset({"errors", "total"}),),
    v1alpha1.MetricKind.LATENCY: (frozenset({"buckets"}), frozenset({"value"})),
    v1alpha1.MetricKind.GAUGE: (frozenset({"value"}),),
}


def _points(
    entries: Sequence[dict[str, Any] | None], *, kind: v1alpha1.MetricKind, where: str
) -> tuple[series.Point | None, ...]:
    return tuple(
        None if entry is None else _point(entry, kind=kind, where=f"{where}[{index}]")
        for index, entry in enumerate(entries)
    )


def _point(entry: dict[str, Any], *, kind: v1alpha1.MetricKind, where: str) -> series.Point:
    keys = frozenset(entry)
    shapes = _ENTRY_KEYS[kind]
    if keys not in shapes:
        expected = " or ".join("{" + ", ".join(sorted(shape)) + "}" for shape in shapes)
        raise ValueError(f"{where}: a {kind} entry is {expected}, not {{{', '.join(sorted(keys))}}}")
    try:
        if "errors" in keys:
            return series.Counts(errors=_number(entry["errors"]), total=_number(entry["total"]))
        if "value" in keys:
            return series.Value(value=_number(entry["value"]))
        buckets = entry["buckets"]
        if not isinstance(buckets, dict):
            raise ValueError("buckets must map upper bounds to counts")
        return series.Histogram(
            buckets=tuple(sorted((_bound(bound), _number(count)) for bound, count in buckets.items()))
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _bound(text: str) -> float:
    try:
        bound = float(text)
    except ValueError:
        raise ValueError(f"bucket bound {text!r} is not a number or +Inf") from None
    if math.isnan(bound):
        raise ValueError("a bucket bound cannot be NaN")
    return bound
