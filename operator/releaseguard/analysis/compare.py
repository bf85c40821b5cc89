"""The compare judge: is the canary worse than the baseline beyond tolerance, with the judge's confidence?

The rule from the spec: the canary regresses when canary - baseline > max(maxRelativeIncrease · |baseline|,
maxAbsoluteIncrease) in the bad direction (lowerIsWorse flips it). It is judged at every look on all the
intervals so far.

Looking often must not fail healthy canaries. Every test here is one of the always-valid tests of
`sequential` (a mixture likelihood ratio, failing when it reaches 1/alpha): its false-positive rate stays
below alpha however many looks there are, while a clear regression still stops the release within a few
looks. A ratio is weighed as two rates, the canary's errors against the baseline's; the other kinds become
"a share of bad events above the share tolerated": requests slower than a limit for a latency histogram,
intervals where the canary's reading is worse than the baseline's beyond tolerance for readings.

The baseline is noisy too, and it does not see the same traffic. A global incident (a dependency failing)
raises both sides, and it may start mid-analysis just as a step moves the canary from 10% to 50% of the
traffic: the canary then has most of its requests in the bad stretch, the baseline fewer, and comparing
cumulative ratios would blame the release. So a ratio is weighed interval by interval, by the two-sample
test of `sequential`: of the errors both sides made in an interval, the canary's share is set by its share
of the traffic and by θ, its error ratio over the baseline's, whatever the error ratio of the moment. The
null is θ ≤ 1 + maxRelativeIncrease (θ ≥ 1 - maxRelativeIncrease when lower is worse). Nothing of the
baseline is estimated, so no alpha goes to bounding it, which a test against the baseline's ratio needs
(its point estimate would fail canaries whenever the baseline merely had a lucky stretch). Simulated at
10 s intervals over 60 looks (canary 5 req/s, baseline 45 req/s, baseline error ratio 1-5%), a doubled
error ratio fails 94.5% of 2000 canaries (82.5% at 1-2% baseline errors, where 3000 canary requests hold
too few errors to tell; all from 3%), where the test against a bound on the baseline's ratio that this one
replaced failed 83%; a fivefold one fails at the 2nd look in the median (the 1st with the canary at 25%
of 50 req/s, the 3rd at 5 of 20 req/s). Of 8000 healthy canaries (plain noise; steps from 10% to 25% to
50%, alone and with an incident multiplying every error ratio by 3 to 10 mid-analysis; incidents alone;
bursts; missing intervals; under 1 req/s; error ratios of 10-40%) 4 failed, and 0.3% of those exactly at
the tolerance. Those figures are for the test from the analysis' start alone, where each alternative is
one θ for the whole analysis: a regression that starts mid-analysis is diluted by the healthy stretch
before it, and on hack/bench-judge's scenarios, half of them regressing from mid-way, a doubled error ratio
at 5 req/s or more failed 71% of the time. So the judge mixes that test over start times (`sequential`'s
module docstring has why that stays valid at every look): the test from the analysis' start keeps half
the weight, which costs a regression present from the start a look or two, and tests from later starts
see a mid-way regression undiluted. That raised the bench's figure to 82% (latency 50% slower: from 81% to
100%), and the message names the start that carries most of the evidence ("regression from interval 18",
counted from 0).

The test takes each side's errors to vary as Poisson counts do, right for rare events. Common ones vary
less (a binomial's variance is n·p(1-p)), which keeps the test valid but slows it: a success ratio falling
from 99% to 85%, lower is worse, takes 22 looks of 100 requests to fail, where the same release judged on
its error ratio, higher is worse, fails at the first. Judge the rare side of a ratio.

maxAbsoluteIncrease asks for a regression beyond both margins (the larger one applies), so with it set the
canary must fail a second test too, each at the statistic's whole alpha: an intersection-union test, which
errs only if the test whose null holds errs. The second one sets the canary's cumulative ratio against the
baseline's standardised to the canary's traffic over time (each interval's ratio weighted by the canary's
requests in it: what the baseline would have shown with the canary's traffic, and the baseline value
reported), plus maxAbsoluteIncrease. That reference's sampling error is bounded first, by a Jeffreys bound
on the effective count 1/Σ(w²/n_b), which costs half of the test's alpha; the bound holds at each look
rather than uniformly over looks, which the tolerance absorbs in practice.

Readings (gauges) have no counts to pool, and their level moves with load. They are paired: interval by
interval, is the canary worse than the baseline beyond tolerance? If it is not worse, that happens at most
half the time: a sign test, which needs no model of the readings' spread and makes a load swing that moves
both sides harmless.

Latency histograms are judged at the median and at the user's quantile, each with half the alpha (Bonferroni):
a regression of the tail alone, or of the bulk alone, both count. The reference is the baseline standardised
as above, each interval's histogram scaled to the canary's requests in it; its quantile is bounded by an
order-statistic rank bound on the effective count, which costs half of the statistic's alpha, so by the union
bound a healthy canary still fails with probability at most alpha, and is cheap once the baseline has several
times the canary's traffic. The share test is mixed over start times as the ratio's is, and from each start
the canary meets the reference of the same intervals: the reference of the whole analysis would blame the
canary for an incident that slowed both sides since that start (on the bench's incidents, a third of healthy
latency canaries failed that way). Requests slower than the limit are counted by linear interpolation inside
the limit's bucket, as histogram_quantile reads quantiles; above the last finite bound nothing is known, so
nothing there counts as slower. The tolerance is only as sharp as the buckets: interpolating the reference's
quantile in one bucket and the canary's count in another is off by a few points of share where buckets are
wide, so a canary exactly at the tolerance can fail (12% of such canaries over 60 looks with Prometheus'
default buckets; none with buckets 25% apart, nor of those only 10% worse); a healthy canary does not (none of
500), and one 50% slower fails (all of 500, by the 8th look for half of them).

When the canary did not fail but the baseline's latest intervals are significantly worse than its earlier
ones (a share test as above, its earlier intervals the reference), something outside the release is
happening: Inconclusive (GlobalAnomaly), not a Pass. A Pass also waits until the canary's traffic could
have shown a clear regression (about twice the tolerated error ratio); until then it is Inconclusive
(TooFewSamples) with the number still needed. With maxAbsolute set, the canary alone is also tested
against that ceiling, with half of alpha (mixed over start times too); the comparison gets the other half.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import operator
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import special

from releaseguard.analysis import judgement, sequential, series
from releaseguard.models import v1alpha1

DEFAULT_QUANTILE = 0.9
"""The quantile of a latency histogram judged, besides the median, when the metric names none."""
REFERENCE_SHARE = 0.5
"""The share of a statistic's alpha spent on bounding the baseline's reference; the test gets the rest."""
CEILING_SHARE = 0.5
"""The share of alpha spent on the maxAbsolute ceiling when one is set; the comparison gets the rest."""
DEFAULT_MIN_REQUESTS = 1000
"""Cap on the canary requests a pass waits for when minSamples is unset. Without it a near-zero baseline
error ratio would ask for millions, and a service that never fails could never pass."""
DEFAULT_MIN_INTERVALS = 20
"""Cap on the intervals of readings a pass waits for when minSamples is unset: a sign test needs about 45
to see a canary worse three intervals in four, but one worse in every interval fails within ten."""
RECENT_SHARE = 0.2
"""The share of the baseline's latest intervals set against its earlier ones to tell an incident from a
release, at least `RECENT_MIN`: recent enough to catch an incident early, long enough to be evidence."""
RECENT_MIN = 3

_Array = npt.NDArray[np.float64]
_BOUNDS, _COUNTS = operator.attrgetter("bounds"), operator.attrgetter("counts")
_NO_COUNTS = series.Counts(errors=0.0, total=0.0)
"""A missing interval, or one of another kind: no requests, which every ratio test skips."""
_PASS, _FAIL, _INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE
_Reason = judgement.Reason


def judge(judge: v1alpha1.CompareJudge, measured: series.SeriesMeasurement) -> judgement.Judgement:
    """The canary against the baseline over the intervals both have, from the first to the latest."""
    rule = _render_rule(judge)
    for name, side in (("canary", measured.canary), ("baseline", measured.baseline)):
        if side.unavailable is not None:
            message = f"{name} {side.unavailable.value}" + (f": {side.detail}" if side.detail else "")
            return _judgement(
                verdict=_INCONCLUSIVE,
                reason=_Reason(side.unavailable.value),
                message=message[:300],
                rule=rule,
            )
    quantile = DEFAULT_QUANTILE if measured.quantile is None else measured.quantile
    if not 0 < quantile < 1:
        message = f"quantile {quantile} is not between 0 and 1"
        return _judgement(verdict=_INCONCLUSIVE, reason=_Reason.INVALID_JUDGE, message=message, rule=rule)
    length = min(len(measured.canary.points), len(measured.baseline.points))
    canary, baseline = measured.canary.points[:length], measured.baseline.points[:length]
    kind = next((type(point) for point in (*canary, *baseline) if point is not None), None)
    budget = _Budget.of(judge, statistics=2 if kind is series.Histogram and quantile != 0.5 else 1)
    analysis: _Analysis | None = None
    # Counts may be as large as a float allows; an overflow makes a NaN that the checks below turn into
    # "no usable data", never a warning or an exception.
    with np.errstate(all="ignore"):
        if kind is series.Counts:
            analysis = _ratio(judge, canary=canary, baseline=baseline, budget=budget)
        elif kind is series.Histogram:
            analysis = _latency(judge, canary=canary, baseline=baseline, quantile=quantile, budget=budget)
        elif kind is series.Value:
            analysis = _readings(judge, canary=canary, baseline=baseline, budget=budget)
    if analysis is None:
        message = f"no usable interval where both the canary and the baseline have data (of {length})"
        return _judgement(verdict=_INCONCLUSIVE, reason=_Reason.NO_DATA, message=message, rule=rule)
    return _verdict(judge, analysis, rule=rule)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Budget:
    """How the judge's alpha is spent: Bonferroni over the ceiling and the statistics compared."""

    ceiling: float
    reference: float
    """For bounding one statistic's reference value from the baseline."""
    test: float
    """For one statistic's sequential test, when its reference is estimated."""
    exact: float
    """For one statistic's test when nothing is estimated: readings (paired) and ratios (conditional)."""

    @classmethod
    def of(cls, judge: v1alpha1.CompareJudge, *, statistics: int) -> _Budget:
        alpha = 1 - judge.confidence
        ceiling = alpha * CEILING_SHARE if judge.max_absolute is not None else 0.0
        each = (alpha - ceiling) / statistics
        return cls(
            ceiling=ceiling, reference=each * REFERENCE_SHARE, test=each * (1 - REFERENCE_SHARE), exact=each
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Test:
    """One sequential test against the tolerance, with its numbers."""

    log_evidence: float
    alpha: float
    detail: str
    needed: Callable[[], float]
    """Trials before a clear regression would have failed this test: a root search for most tests, so
    only called when the verdict asks."""
    start: int = 0
    """For a mixture over start times, the interval (from 0) whose test weighs most: where the regression
    began, as far as the evidence tells."""

    @property
    def significant(self) -> bool:
        return self.log_evidence >= math.log(1 / self.alpha)

    @property
    def margin(self) -> float:
        """How far the evidence is from the bar, in logs: positive once significant."""
        return self.log_evidence - math.log(1 / self.alpha)

    def render(self) -> str:
        relation = "≥" if self.significant else "<"
        rendered = f"{self.detail}; evidence {_evidence(self.log_evidence)} {relation} {1 / self.alpha:.3g}"
        if self.start > 0:
            rendered += f" ({'regression' if self.significant else 'most'} from interval {self.start})"
        return rendered


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Regression:
    """A regression of one statistic, shown when every one of its tests is significant.

    One test for most statistics. A ratio with maxAbsoluteIncrease set regresses only when the canary is
    beyond both the relative and the absolute margin, so both tests must reject, each at the statistic's
    whole alpha: an intersection-union test, which errs only when the member whose null holds errs.
    """

    tests: tuple[_Test, ...]

    @property
    def significant(self) -> bool:
        return all(test.significant for test in self.tests)

    @property
    def margin(self) -> float:
        return min(test.margin for test in self.tests)

    def needed(self) -> float:
        return max(test.needed() for test in self.tests)

    def render(self) -> str:
        return "; ".join(test.render() for test in self.tests)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Analysis:
    """What a metric of one kind yields: the values shown and the tests the verdict rests on."""

    canary: float | None
    baseline: float | None
    accrued: float
    """Canary requests, or paired intervals for readings, in the intervals judged."""
    unit: str
    default_needed: float
    regression: tuple[_Regression, ...]
    """Canary against the baseline, one per statistic (Bonferroni); at least one."""
    ceiling: _Test | None
    incident: tuple[_Test, ...]
    """The baseline's latest intervals against its earlier ones; empty with too few intervals."""


def _verdict(judge: v1alpha1.CompareJudge, analysis: _Analysis, *, rule: str) -> judgement.Judgement:
    def result(verdict: v1alpha1.Verdict, reason: judgement.Reason, message: str) -> judgement.Judgement:
        return _judgement(
            verdict=verdict,
            reason=reason,
            message=message,
            rule=rule,
            canary=analysis.canary,
            baseline=analysis.baseline,
        )

    if analysis.ceiling is not None and analysis.ceiling.significant:
        return result(_FAIL, _Reason.ABSOLUTE_LIMIT_EXCEEDED, analysis.ceiling.render())
    failed = [regression.render() for regression in analysis.regression if regression.significant]
    if failed:
        return result(_FAIL, _Reason.SIGNIFICANT_REGRESSION, "; ".join(failed))
    incident = next((test for test in analysis.incident if test.significant), None)
    if incident is not None:
        return result(_INCONCLUSIVE, _Reason.GLOBAL_ANOMALY, f"not the release: {incident.render()}")
    closest = max(analysis.regression, key=lambda regression: regression.margin)
    needed = analysis.default_needed if judge.min_samples is None else judge.min_samples
    if judge.min_samples is None and analysis.accrued < needed:
        # Only now, as it takes a root search: how much the canary's traffic could have shown by now.
        needed = min(needed, max(regression.needed() for regression in analysis.regression))
    if analysis.accrued < needed:
        more = _count(math.ceil(needed - analysis.accrued))
        message = f"{_count(analysis.accrued)} canary {analysis.unit}, {more} more needed: {closest.render()}"
        return result(_INCONCLUSIVE, _Reason.TOO_FEW_SAMPLES, message)
    return result(_PASS, _Reason.WITHIN_TOLERANCE, closest.render())


# --- ratio ---------------------------------------------------------------------------------------------


def _ratio(
    judge: v1alpha1.CompareJudge,
    *,
    canary: Sequence[series.Point | None],
    baseline: Sequence[series.Point | None],
    budget: _Budget,
) -> _Analysis | None:
    canary_errors, canary_totals = _counts(canary)
    baseline_errors, baseline_totals = _counts(baseline)
    both = (canary_totals > 0) & (baseline_totals > 0)
    errors, total = float(canary_errors[both].sum()), float(canary_totals[both].sum())
    if not (both.any() and math.isfinite(total)):
        return None
    weights = canary_totals[both] / total
    baseline_ratios = baseline_errors[both] / baseline_totals[both]
    reference = float(weights @ baseline_ratios)
    effective = 1 / float((weights**2 / baseline_totals[both]).sum())
    if not (math.isfinite(reference) and math.isfinite(effective)):
        return None
    # Intervals keep their places, zeroed where a side is missing: the start mixtures start at fixed ones.
    canary_errors, canary_totals = np.where(both, canary_errors, 0.0), np.where(both, canary_totals, 0.0)
    tests: tuple[_Test, ...] = (
        _conditional_test(
            judge,
            canary_errors=canary_errors,
            canary_totals=canary_totals,
            baseline_errors=np.where(both, baseline_errors, 0.0),
            baseline_totals=np.where(both, baseline_totals, 0.0),
            reference=reference,
            budget=budget,
        ),
    )
    if judge.max_absolute_increase > 0:
        absolute = _absolute_test(
            judge, reference=reference, effective=effective, errors=errors, total=total, budget=budget
        )
        tests = (*tests, absolute)
    ceiling = None
    if judge.max_absolute is not None:
        ceiling = _share_test(
            judge,
            bad=errors,
            trials=total,
            p0=judge.max_absolute,
            alpha=budget.ceiling,
            detail=f"canary ratio {errors / total:.4g} {_beyond(judge)} maxAbsolute {judge.max_absolute:g}"
            f" in {_count(total)} requests",
            since=(_since(canary_errors), _since(canary_totals)),
        )
    return _Analysis(
        canary=errors / total,
        baseline=reference,
        accrued=total,
        unit="requests",
        default_needed=DEFAULT_MIN_REQUESTS,
        regression=(_Regression(tests=tests),),
        ceiling=ceiling,
        incident=_ratio_incident(judge, errors=baseline_errors, totals=baseline_totals, budget=budget),
    )


def _conditional_test(
    judge: v1alpha1.CompareJudge,
    *,
    canary_errors: _Array,
    canary_totals: _Array,
    baseline_errors: _Array,
    baseline_totals: _Array,
    reference: float,
    budget: _Budget,
) -> _Test:
    """The relative margin: the canary's share of each interval's errors, against its share at tolerance."""
    higher = _higher(judge)
    tolerated = 1 + judge.max_relative_increase if higher else 1 - judge.max_relative_increase
    errors, total = float(canary_errors.sum()), float(canary_totals.sum())
    times = f"{errors / total / reference:.3g}x, " if reference > 0 else ""
    since = sequential.mix(
        sequential.log_evidence_ratio_starts(
            canary=canary_errors,
            canary_trials=canary_totals,
            baseline=baseline_errors,
            baseline_trials=baseline_totals,
            theta0=tolerated,
            higher=higher,
        )
    )
    return _Test(
        log_evidence=since.log_evidence,
        start=since.start,
        alpha=budget.exact,
        detail=f"canary {_count(errors)}/{_count(total)} = {errors / total:.4g} vs baseline {reference:.4g}"
        f" ({times}tolerated {tolerated:.3g}x)",
        needed=functools.partial(
            sequential.ratio_trials_needed,
            theta0=tolerated,
            higher=higher,
            rate=reference,
            share=total / float(baseline_totals.sum()),
            alpha=budget.exact,
        ),
    )


def _absolute_test(
    judge: v1alpha1.CompareJudge,
    *,
    reference: float,
    effective: float,
    errors: float,
    total: float,
    budget: _Budget,
) -> _Test:
    """The absolute margin: the canary's ratio against the baseline's bound moved by maxAbsoluteIncrease."""
    bound = _jeffreys(share=reference, effective=effective, level=budget.reference, upper=_higher(judge))
    limit = bound + _direction(judge) * judge.max_absolute_increase
    sign = "+" if _higher(judge) else "-"
    return _share_test(
        judge,
        bad=errors,
        trials=total,
        p0=limit,
        alpha=budget.test,
        detail=f"canary {errors / total:.4g} vs baseline {reference:.4g} {sign} maxAbsoluteIncrease"
        f" {judge.max_absolute_increase:g} (bound {bound:.4g}, limit {limit:.4g})",
    )


def _ratio_incident(
    judge: v1alpha1.CompareJudge, *, errors: _Array, totals: _Array, budget: _Budget
) -> tuple[_Test, ...]:
    present = np.flatnonzero(totals > 0)
    recent = _recent(len(present))
    if recent is None:
        return ()
    earlier, latest = present[:-recent], present[-recent:]
    before_total = float(totals[earlier].sum())
    test = _ratio_test(
        judge,
        reference=float(errors[earlier].sum()) / before_total,
        effective=before_total,
        errors=float(errors[latest].sum()),
        total=float(totals[latest].sum()),
        budget=budget,
        who=f"baseline in its last {recent} intervals",
    )
    return (test,)


def _ratio_test(
    judge: v1alpha1.CompareJudge,
    *,
    reference: float,
    effective: float,
    errors: float,
    total: float,
    budget: _Budget,
    who: str,
) -> _Test:
    bound = _jeffreys(share=reference, effective=effective, level=budget.reference, upper=_higher(judge))
    limit = _tolerate(judge, reference=bound)
    return _share_test(
        judge,
        bad=errors,
        trials=total,
        p0=limit,
        alpha=budget.test,
        detail=f"{who} {_count(errors)}/{_count(total)} = {errors / total:.4g} vs reference {reference:.4g}"
        f" (bound {bound:.4g}, limit {limit:.4g})",
    )


def _counts(points: Sequence[series.Point | None]) -> tuple[_Array, _Array]:
    # Two generators into np.fromiter: a list of pairs into np.array takes three times as long, which at
    # 360 intervals was most of the judge's time.
    counts = [point if isinstance(point, series.Counts) else _NO_COUNTS for point in points]
    errors = np.fromiter((point.errors for point in counts), dtype=np.float64, count=len(counts))
    totals = np.fromiter((point.total for point in counts), dtype=np.float64, count=len(counts))
    return errors, totals


def _jeffreys(*, share: float, effective: float, level: float, upper: bool) -> float:
    """A one-sided Jeffreys bound on a proportion: the Beta(x + ½, n - x + ½) quantile, exact at the edges."""
    bad = min(max(share, 0.0), 1.0) * effective
    if upper:
        return (
            1.0
            if bad >= effective
            else float(special.betaincinv(bad + 0.5, effective - bad + 0.5, 1 - level))
        )
    return 0.0 if bad <= 0 else float(special.betaincinv(bad + 0.5, effective - bad + 0.5, level))


# --- latency -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Cumulative:
    """A cumulative histogram as arrays, for counting requests, and as (bound, count) pairs, for quantiles."""

    bounds: _Array
    counts: _Array
    buckets: tuple[tuple[float, float], ...]

    @classmethod
    def of(cls, *, bounds: _Array, counts: _Array) -> _Cumulative:
        # Sums of cumulative rows are cumulative; this only undoes rounding that could break that.
        counts = np.maximum.accumulate(counts)
        buckets = tuple(zip(bounds.tolist(), counts.tolist(), strict=True))
        return cls(bounds=bounds, counts=counts, buckets=buckets)

    @property
    def total(self) -> float:
        return float(self.counts[-1])

    def quantile(self, rank: float) -> float | None:
        return series.bucket_quantile(self.buckets, rank)

    def slower(self, limit: float, *, higher: bool) -> float:
        """Requests slower than `limit`. Past the last finite bound the count is unknown; take the side
        that cannot fail a canary: none slower when higher is worse, all of the +Inf bucket when lower is."""
        if math.isnan(limit) or (higher and (len(self.bounds) < 2 or limit > self.bounds[-2])):
            return 0.0
        return self.total - self._at_most(limit)

    def _at_most(self, at: float) -> float:
        """`_at_most` of one point, without its arrays: this runs for every statistic at every look."""
        finite_bounds, finite_counts = self.bounds[:-1], self.counts[:-1]
        if math.isinf(at):
            return self.total
        if not finite_bounds.size:
            return 0.0
        first = float(finite_bounds[0])
        if first > 0 and at < first:  # the first bucket starts at 0, as in _at_most
            return float(np.interp(at, (0.0, first), (0.0, float(finite_counts[0])), left=0.0))
        return float(np.interp(at, finite_bounds, finite_counts, left=0.0))


def _latency(
    judge: v1alpha1.CompareJudge,
    *,
    canary: Sequence[series.Point | None],
    baseline: Sequence[series.Point | None],
    quantile: float,
    budget: _Budget,
) -> _Analysis | None:
    layout = _histograms(canary, baseline)
    if layout is None:
        return None
    bounds, canary_rows, baseline_rows = layout
    canary_totals, baseline_totals = canary_rows[:, -1], baseline_rows[:, -1]
    both = (canary_totals > 0) & (baseline_totals > 0)
    # The baseline's histogram of each interval, scaled to the canary's requests in it: what the baseline
    # would have shown with the canary's traffic.
    scaled = (canary_totals[both] / baseline_totals[both]) @ baseline_rows[both]
    tested = canary_rows[both].sum(axis=0)
    squares = float((canary_totals[both] ** 2 / baseline_totals[both]).sum())
    if not (both.any() and np.isfinite(scaled).all() and np.isfinite(tested).all() and squares > 0):
        return None
    effective = float(tested[-1]) * float(tested[-1]) / squares  # ** would raise on overflow; * gives inf
    if not math.isfinite(effective):
        return None
    reference = _Cumulative.of(bounds=bounds, counts=scaled)
    measured = _Cumulative.of(bounds=bounds, counts=tested)
    starts = _Starts.of(both=both, canary_rows=canary_rows, baseline_rows=baseline_rows)
    ranks = (0.5, quantile) if quantile != 0.5 else (0.5,)
    regression = tuple(
        _latency_test(
            judge,
            reference=reference,
            effective=effective,
            tested=measured,
            starts=starts,
            rank=rank,
            budget=budget,
            who="canary",
        )
        for rank in ranks
    )
    canary_quantile = measured.quantile(quantile)
    ceiling = None
    if judge.max_absolute is not None:
        slower = measured.slower(judge.max_absolute, higher=_higher(judge))
        ceiling = _share_test(
            judge,
            bad=slower,
            trials=measured.total,
            p0=1 - quantile,
            alpha=budget.ceiling,
            detail=f"canary p{_percent(quantile)} {_number(canary_quantile)} {_beyond(judge)} maxAbsolute"
            f" {judge.max_absolute:g}: {_count(slower)} of {_count(measured.total)} requests slower",
            since=(
                _slower_rows(
                    bounds=bounds,
                    rows=starts.tested,
                    limits=np.full(len(starts.tested), judge.max_absolute),
                    higher=_higher(judge),
                ),
                starts.tested[:, -1],
            ),
        )
    return _Analysis(
        canary=canary_quantile,
        baseline=reference.quantile(quantile),
        accrued=measured.total,
        unit="requests",
        default_needed=DEFAULT_MIN_REQUESTS,
        regression=tuple(_Regression(tests=(test,)) for test in regression),
        ceiling=ceiling,
        incident=_latency_incident(judge, bounds=bounds, rows=baseline_rows, ranks=ranks, budget=budget),
    )


def _latency_incident(
    judge: v1alpha1.CompareJudge, *, bounds: _Array, rows: _Array, ranks: tuple[float, ...], budget: _Budget
) -> tuple[_Test, ...]:
    present = np.flatnonzero(rows[:, -1] > 0)
    recent = _recent(len(present))
    if recent is None:
        return ()
    earlier_counts, latest_counts = rows[present[:-recent]].sum(axis=0), rows[present[-recent:]].sum(axis=0)
    if not (np.isfinite(earlier_counts).all() and np.isfinite(latest_counts).all()):
        return ()
    earlier = _Cumulative.of(bounds=bounds, counts=earlier_counts)
    latest = _Cumulative.of(bounds=bounds, counts=latest_counts)
    who = f"baseline in its last {recent} intervals"
    return tuple(
        _latency_test(
            judge,
            reference=earlier,
            effective=earlier.total,
            tested=latest,
            rank=rank,
            budget=budget,
            who=who,
        )
        for rank in ranks
    )


def _latency_test(
    judge: v1alpha1.CompareJudge,
    *,
    reference: _Cumulative,
    effective: float,
    tested: _Cumulative,
    starts: _Starts | None = None,
    rank: float,
    budget: _Budget,
    who: str,
) -> _Test:
    """The share of `tested` slower than the reference's bounded quantile allows, pooled over the intervals
    (what the message shows, and the whole test for the baseline's latest intervals against its earlier
    ones). With `starts`, the test is the mixture over start times: from each start, the canary against
    the baseline's reference over the same intervals."""
    # The order statistic's rank moves by about z·sqrt(p(1-p)/n) at the bound's level.
    z = float(special.ndtri(1 - budget.reference))
    spread = z * math.sqrt(rank * (1 - rank) / effective)
    bound_rank = min(max(rank + _direction(judge) * spread, 0.0), 1.0)
    point, bound = reference.quantile(rank), reference.quantile(bound_rank)
    limit = math.nan if bound is None else _tolerate(judge, reference=bound)  # None: no finite bucket
    slower = tested.slower(limit, higher=_higher(judge))
    since = None
    if starts is not None:
        # The same bound and limit as above, from every start at once; NaN where a start has no reference.
        shifted = rank + _direction(judge) * z * np.sqrt(rank * (1 - rank) / starts.effective)
        bound_ranks = np.minimum(np.maximum(shifted, 0.0), 1.0)  # np.clip's wrapper costs more
        bounds_since = _quantiles(bounds=tested.bounds, rows=starts.reference, ranks=bound_ranks)
        margins = np.maximum(judge.max_relative_increase * np.abs(bounds_since), judge.max_absolute_increase)
        limits = bounds_since + _direction(judge) * margins
        rows = starts.tested
        since = (
            _slower_rows(bounds=tested.bounds, rows=rows, limits=limits, higher=_higher(judge)),
            rows[:, -1],
        )
    return _share_test(
        judge,
        bad=slower,
        trials=tested.total,
        p0=1 - rank,
        alpha=budget.test,
        since=since,
        detail=f"{who} p{_percent(rank)} {_number(tested.quantile(rank))} vs reference {_number(point)}"
        f" (bound {_number(bound)}, limit {limit:.4g}): {_count(slower)}/{_count(tested.total)} slower",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Starts:
    """The latency comparison from each of `sequential.starts` on, one row per start.

    A regression test from a start must set the canary's intervals since then against the baseline's over
    the same intervals: against the reference of the whole analysis, an incident that slowed both sides
    since the start would count against the canary.
    """

    reference: _Array
    """The baseline's cumulative histogram scaled to the canary's requests, as in `_latency`."""
    effective: _Array
    """The reference's effective count: the canary's requests squared over Σ n_c²/n_b."""
    tested: _Array
    """The canary's cumulative histogram."""

    @classmethod
    def of(cls, *, both: npt.NDArray[np.bool_], canary_rows: _Array, baseline_rows: _Array) -> _Starts:
        canary_totals, baseline_totals = canary_rows[:, -1], baseline_rows[:, -1]
        scale = np.where(both, canary_totals / np.where(both, baseline_totals, 1.0), 0.0)
        tested = _since(np.where(both[:, np.newaxis], canary_rows, 0.0))
        squares = _since(scale * canary_totals)
        return cls(
            reference=np.maximum.accumulate(_since(scale[:, np.newaxis] * baseline_rows), axis=1),
            effective=tested[:, -1] * tested[:, -1] / squares,
            tested=np.maximum.accumulate(tested, axis=1),
        )


def _since(values: _Array) -> _Array:
    """Sums over the intervals from each of `sequential.starts` on (along the first axis)."""
    result: _Array = np.cumsum(values[::-1], axis=0)[::-1][sequential.starts(len(values))]
    return result


def _quantiles(*, bounds: _Array, rows: _Array, ranks: _Array) -> _Array:
    """`series.quantile` of every row of cumulative counts at its own rank; NaN where it gives None."""
    if len(bounds) < 2 or not len(rows):
        return np.full(len(rows), math.nan)
    totals = rows[:, -1]
    target = ranks * totals
    index = np.argmax(rows >= target[:, np.newaxis], axis=1)  # the first bucket reaching the rank
    every = np.arange(len(rows))
    upper, count = bounds[index], rows[every, index]
    lower = np.where(index > 0, bounds[index - 1], min(0.0, float(bounds[0])))
    lower_count = np.where(index > 0, rows[every, index - 1], 0.0)
    inside = lower + (upper - lower) * (target - lower_count) / (count - lower_count)
    result = np.where(count == lower_count, upper, inside)
    result = np.where(np.isinf(upper), bounds[-2], result)
    return np.where((totals > 0) & np.isfinite(target), result, math.nan)


def _slower_rows(*, bounds: _Array, rows: _Array, limits: _Array, higher: bool) -> _Array:
    """Each row's requests slower than its limit, counted as `_Cumulative.slower` counts them."""
    unknown = np.isnan(limits)
    if higher:
        unknown |= limits > bounds[-2] if len(bounds) >= 2 else True
    result: _Array = np.where(unknown, 0.0, rows[:, -1] - _at_most_rows(bounds=bounds, rows=rows, at=limits))
    return result


def _at_most_rows(*, bounds: _Array, rows: _Array, at: _Array) -> _Array:
    """`_at_most` of every row of cumulative counts at its own point."""
    finite, counts = bounds[:-1], rows[:, :-1]
    if not finite.size:
        return np.where(np.isinf(at), rows[:, -1], 0.0)
    if finite[0] > 0:  # the first bucket starts at 0, as histogram_quantile has it
        finite, counts = np.append(0.0, finite), np.column_stack((np.zeros(len(rows)), counts))
    above = np.searchsorted(finite, at, side="right")
    # searchsorted gives 0..len(finite): each index has one side to clip (np.clip's wrapper costs more).
    low, high = np.maximum(above - 1, 0), np.minimum(above, len(finite) - 1)
    every = np.arange(len(rows))
    width = finite[high] - finite[low]
    share = np.where(width > 0, (at - finite[low]) / np.where(width > 0, width, 1.0), 0.0)
    inside = counts[every, low] + share * (counts[every, high] - counts[every, low])
    result = np.where(above == 0, 0.0, np.where(above >= len(finite), counts[:, -1], inside))
    return np.where(np.isinf(at), rows[:, -1], result)


def _histograms(
    canary: Sequence[series.Point | None], baseline: Sequence[series.Point | None]
) -> tuple[_Array, _Array, _Array] | None:
    """Bucket bounds and one row of cumulative counts per interval (zeros where missing), for each side."""
    points = (*canary, *baseline)
    histograms = [point for point in points if isinstance(point, series.Histogram)]
    if not histograms:
        return None
    bounds = _shared_bounds(histograms)
    if bounds is not None and len(histograms) == len(points):
        rows = _stack(list(map(_COUNTS, histograms)))
    elif bounds is not None:
        missing = np.zeros(len(bounds))
        rows = _stack([point.counts if isinstance(point, series.Histogram) else missing for point in points])
    else:
        bounds, counts = _rebin(histograms)
        rows = np.zeros((len(points), len(bounds)))
        rows[[index for index, point in enumerate(points) if isinstance(point, series.Histogram)]] = counts
    return bounds, rows[: len(canary)], rows[len(canary) :]


def _shared_bounds(histograms: Sequence[series.Histogram]) -> _Array | None:
    """The bounds when every histogram has the same layout, the usual case; else None."""
    first = histograms[0].bounds
    # series shares a layout's array, so one layout is one identity; map is a third of a generator's cost.
    if all(map(operator.is_, map(_BOUNDS, histograms), itertools.repeat(first))):
        return first
    widths = {histogram.bounds.size for histogram in histograms}
    if len(widths) != 1:
        return None
    every = _stack([histogram.bounds for histogram in histograms])
    return first if (every == first).all() else None


def _stack(arrays: Sequence[_Array]) -> _Array:
    """Float arrays of one length as the rows of one read-only array. Each must be contiguous, as the
    arrays series.Histogram holds are.

    This runs at every look on every interval so far. bytes.join copies each array's buffer with less
    overhead per array than numpy: for 720 histograms of 12 buckets it takes a third of np.concatenate's
    time, a fifth of np.array's.
    """
    # numpy's stubs declare no buffer protocol (typing.Buffer) before Python 3.12; arrays do have one.
    joined = b"".join(arrays)  # type: ignore[arg-type]
    stacked: _Array = np.frombuffer(joined, dtype=np.float64).reshape(len(arrays), -1)
    return stacked


def _rebin(histograms: Sequence[series.Histogram]) -> tuple[_Array, _Array]:
    """Histograms of different layouts (a release that added a bucket) onto the union of their bounds.

    Counts at a bound a histogram lacks are interpolated linearly, the assumption histogram_quantile makes
    anyway; above a histogram's last finite bound its count stays at that bound's until +Inf.
    """
    layouts: dict[tuple[float, ...], list[int]] = {}
    for index, histogram in enumerate(histograms):
        layouts.setdefault(tuple(bound for bound, _ in histogram.buckets), []).append(index)
    union = np.array(sorted({bound for layout in layouts for bound in layout}), dtype=np.float64)
    counts = np.empty((len(histograms), len(union)))
    for layout, members in layouts.items():
        own = np.array(layout, dtype=np.float64)
        # Interpolation is linear in the counts: one matrix maps every histogram of this layout at once.
        mapping = np.stack([_at_most(bounds=own, counts=unit, at=union) for unit in np.eye(len(own))])
        table = np.array([histograms[index].counts for index in members])
        counts[members] = np.maximum.accumulate(table @ mapping, axis=1)
    return union, counts


def _at_most(*, bounds: _Array, counts: _Array, at: _Array) -> _Array:
    """Requests taking at most `at`, interpolated inside buckets; past the last finite bound, its count."""
    finite_bounds, finite_counts = bounds[:-1], counts[:-1]
    result = np.where(np.isinf(at), counts[-1], 0.0)
    if finite_bounds.size:
        if finite_bounds[0] > 0:  # the first bucket starts at 0, as histogram_quantile has it
            finite_bounds, finite_counts = np.append(0.0, finite_bounds), np.append(0.0, finite_counts)
        result = np.where(np.isinf(at), result, np.interp(at, finite_bounds, finite_counts, left=0.0))
    return result


# --- readings ------------------------------------------------------------------------------------------


def _readings(
    judge: v1alpha1.CompareJudge,
    *,
    canary: Sequence[series.Point | None],
    baseline: Sequence[series.Point | None],
    budget: _Budget,
) -> _Analysis | None:
    canary_values, baseline_values = _values(canary), _values(baseline)
    both = ~np.isnan(canary_values) & ~np.isnan(baseline_values)
    if not both.any():
        return None
    paired_canary, paired_baseline = canary_values[both], baseline_values[both]
    canary_median, baseline_median = float(np.median(paired_canary)), float(np.median(paired_baseline))
    worse = _worse(judge, values=paired_canary, reference=paired_baseline)
    pairs = len(paired_canary)
    regression = _sign_test(
        bad=worse,
        trials=pairs,
        alpha=budget.exact,
        detail=f"canary median {canary_median:.4g} vs baseline {baseline_median:.4g}: worse beyond tolerance"
        f" in {worse} of {pairs} intervals",
    )
    ceiling = None
    if judge.max_absolute is not None:
        beyond = int((_direction(judge) * (paired_canary - judge.max_absolute) > 0).sum())
        ceiling = _sign_test(
            bad=beyond,
            trials=pairs,
            alpha=budget.ceiling,
            detail=f"canary {_beyond(judge)} maxAbsolute {judge.max_absolute:g} in {beyond} of {pairs}"
            " intervals",
        )
    return _Analysis(
        canary=canary_median,
        baseline=baseline_median,
        accrued=pairs,
        unit="intervals",
        default_needed=DEFAULT_MIN_INTERVALS,
        regression=(_Regression(tests=(regression,)),),
        ceiling=ceiling,
        incident=_readings_incident(judge, values=baseline_values[~np.isnan(baseline_values)], budget=budget),
    )


def _readings_incident(judge: v1alpha1.CompareJudge, *, values: _Array, budget: _Budget) -> tuple[_Test, ...]:
    recent = _recent(len(values))
    if recent is None:
        return ()
    earlier, latest = values[:-recent], values[-recent:]
    # The earlier median, bounded like the latency quantiles: an order statistic's rank moved by z/(2√n).
    spread = float(special.ndtri(1 - budget.reference)) * 0.5 / math.sqrt(len(earlier))
    bound = float(np.quantile(earlier, min(max(0.5 + _direction(judge) * spread, 0.0), 1.0)))
    worse = _worse(judge, values=latest, reference=np.array([bound]))
    test = _sign_test(
        bad=worse,
        trials=recent,
        alpha=budget.test,
        detail=f"baseline median {float(np.median(latest)):.4g} in its last {recent} intervals vs"
        f" {float(np.median(earlier)):.4g} before (bound {bound:.4g}): worse beyond tolerance in {worse}",
    )
    return (test,)


def _values(points: Sequence[series.Point | None]) -> _Array:
    return np.array(
        [point.value if isinstance(point, series.Value) else math.nan for point in points], dtype=np.float64
    )


def _worse(judge: v1alpha1.CompareJudge, *, values: _Array, reference: _Array) -> int:
    """How many values are worse than their reference beyond the tolerance (ties are not worse)."""
    margin = np.maximum(judge.max_relative_increase * np.abs(reference), judge.max_absolute_increase)
    return int((_direction(judge) * (values - reference) > margin).sum())


def _sign_test(*, bad: int, trials: int, alpha: float, detail: str) -> _Test:
    """Worse in more than half the intervals, where "not worse" would make it at most half."""
    return _Test(
        log_evidence=sequential.log_evidence(bad=bad, trials=trials, p0=0.5),
        alpha=alpha,
        detail=detail,
        needed=functools.partial(sequential.trials_needed, p0=0.5, alpha=alpha),
    )


# --- shared --------------------------------------------------------------------------------------------


def _share_test(
    judge: v1alpha1.CompareJudge,
    *,
    bad: float,
    trials: float,
    p0: float,
    alpha: float,
    detail: str,
    since: tuple[_Array, _Array] | None = None,
) -> _Test:
    """`bad` events among `trials` against a share p0 of them: above it when higher is worse, else below.

    With `since`, the bad events and trials from each of `sequential.starts` on, the test is the mixture
    over start times of `sequential`, so a regression from mid-analysis is not diluted.
    """
    tolerated = p0 if _higher(judge) else 1 - p0
    if since is not None:
        bads, trials_since = since
        # Lower is worse: the good events of one test are the bad ones of the other, as in
        # sequential.log_evidence_below.
        mixed = sequential.log_evidence_starts(
            bad=bads if _higher(judge) else trials_since - bads, trials=trials_since, p0=tolerated
        )
        log_evidence, start = mixed.log_evidence, mixed.start
    elif _higher(judge):
        log_evidence, start = sequential.log_evidence(bad=bad, trials=trials, p0=p0), 0
    else:
        log_evidence, start = sequential.log_evidence_below(bad=bad, trials=trials, p0=p0), 0
    return _Test(
        log_evidence=log_evidence,
        start=start,
        alpha=alpha,
        detail=detail,
        needed=functools.partial(sequential.trials_needed, p0=tolerated, alpha=alpha),
    )


def _tolerate(judge: v1alpha1.CompareJudge, *, reference: float) -> float:
    """The worst value within tolerance of `reference`, in the bad direction."""
    margin = max(judge.max_relative_increase * abs(reference), judge.max_absolute_increase)
    return reference + _direction(judge) * margin


def _recent(intervals: int) -> int | None:
    """How many of the baseline's latest intervals to set against its earlier ones; None if too few."""
    recent = max(RECENT_MIN, int(intervals * RECENT_SHARE))
    return recent if intervals > recent else None


def _higher(judge: v1alpha1.CompareJudge) -> bool:
    return judge.direction is v1alpha1.Direction.HIGHER_IS_WORSE


def _direction(judge: v1alpha1.CompareJudge) -> float:
    return 1.0 if _higher(judge) else -1.0


def _beyond(judge: v1alpha1.CompareJudge) -> str:
    return "above" if _higher(judge) else "below"


def _evidence(log_evidence: float) -> str:
    """The likelihood ratio, in powers of ten once a float would overflow."""
    if log_evidence > 700:
        return f"10^{log_evidence / math.log(10):.4g}"
    return f"{math.exp(log_evidence):.3g}"


def _count(value: float) -> str:
    return f"{value:.0f}" if abs(value) < 1e12 else f"{value:.3g}"


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def _percent(rank: float) -> str:
    return f"{rank * 100:g}"


def _render_rule(judge: v1alpha1.CompareJudge) -> str:
    rule = (
        f"maxRelativeIncrease {judge.max_relative_increase:g}, maxAbsoluteIncrease"
        f" {judge.max_absolute_increase:g}, confidence {judge.confidence:g}"
    )
    if judge.max_absolute is not None:
        rule += f", maxAbsolute {judge.max_absolute:g}"
    if not _higher(judge):
        rule += f", {judge.direction.value}"
    return rule


def _judgement(
    *,
    verdict: v1alpha1.Verdict,
    reason: judgement.Reason,
    message: str,
    rule: str,
    canary: float | None = None,
    baseline: float | None = None,
) -> judgement.Judgement:
    def finite(value: float | None) -> float | None:
        return value if value is not None and math.isfinite(value) else None

    return judgement.Judgement(
        verdict=verdict,
        reason=reason,
        message=message,
        canary=finite(canary),
        baseline=finite(baseline),
        threshold=rule,
    )
