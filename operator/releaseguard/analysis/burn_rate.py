"""The burnRate judge: is the canary spending the SLO's error budget so fast that the release must stop?

A threshold on the error ratio asks "is it bad?"; an SLO asks "at this pace, how soon is the budget gone?".
The burn rate is the error ratio divided by the budget, 1 - objective: at 1 the budget lasts exactly the SLO
period, at 14.4 a 30-day budget loses 2% in an hour. The rules are the multiwindow, multi-burn-rate alerts
of the SRE workbook (ch. 5, "Alerting on SLOs"): a rule fires when the burn over its long window and the
burn over its short window both exceed its factor. The long window shows the burn is sustained, so one bad
minute does not page; the short window shows it is still going on, so a burn that has stopped no longer
counts once the short window has moved past it.

Every window ends at the latest interval and reads ceil(window / interval) intervals; a window longer than
the data so far reads all of it, so the rules apply from the first look (then the long and short windows of
a rule may read the same intervals). Missing intervals count as no traffic.

Low traffic. The workbook's rules assume enough events that the error ratio seen is the error rate; a canary
taking 5% of a quiet service may see ten requests in an hour, and one error among ten is a burn of 100 at
99.9%. So a rule also needs evidence: the one-sided 95% Clopper-Pearson lower bound of the long window's
error ratio must exceed factor * budget, i.e. what was seen would be unlikely (< 5%) were the true ratio at
the rule's limit. One error in ten requests has a lower bound of 0.0051, under the 0.0144 of the 1h/5m rule
at 99.9%: it does not page. Five in ten has a lower bound of 0.22 and does. With thousands of requests the
bound is close to the ratio and the rules are the workbook's. Clopper-Pearson rather than Jeffreys because
it is the conservative one: a false page rolls a release back, so the guard errs toward waiting for
traffic. The short window is not guarded: it only confirms the burn has not stopped, and a bound on its
fewer requests would keep a real, sustained burn on a quiet service from ever firing. The guard is against
noise, not a minimum of traffic: one error in three requests still pages on the 1h/5m rule (eight on
6h/30m), because at the rule's limit even one error among so few would be rare.

Verdicts: a page rule firing is Fail (BurnRateExceeded). A ticket rule firing alone is Pass
(WithinErrorBudget) whose message names the burn: a slow burn is for a human to look into, not a reason to
roll back. No traffic in any rule's window is Inconclusive (NoData), and so is a canary the source could not
measure. The judge reads the series alone and is recomputed at every look, so it is a pure function of data
Prometheus keeps.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.special

from releaseguard.analysis import judgement, series
from releaseguard.models import duration, v1alpha1

CONFIDENCE = 0.95
"""How sure the low-traffic guard must be that the long window's error ratio is above the rule's limit."""

_PASS, _FAIL, _INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE
_NOT_COUNTS = "burnRate needs error and total counts"
_Floats = npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RuleBurn:
    """One burn-rate rule at one look: the figures it fired (or did not) on."""

    window: v1alpha1.BurnRateWindow
    long_burn: float | None
    """The burn rate over the long window; None when the window saw no traffic."""
    short_burn: float | None
    """The burn rate over the short window; None when the window saw no traffic."""
    long_burn_lower: float | None
    """The burn rate at the lower confidence bound of the long window's ratio (the low-traffic guard)."""
    long_requests: float
    """The events (requests) the long window's ratio rests on."""
    fired: bool
    """Both burns exceed the factor, and so does the guard's lower bound."""

    @property
    def severity(self) -> Literal["page", "ticket"]:
        return self.window.severity

    @property
    def name(self) -> str:
        return f"{self.window.long}/{self.window.short}"

    @property
    def held_by_traffic(self) -> bool:
        """Both burns exceed the factor, but the long window has too few requests to be sure of it."""
        factor = self.window.factor
        return (
            not self.fired
            and self.long_burn is not None
            and self.short_burn is not None
            and self.long_burn > factor
            and self.short_burn > factor
        )


def burn_rates(judge: v1alpha1.BurnRateJudge, measured: series.SeriesMeasurement) -> tuple[RuleBurn, ...]:
    """The figures of each of the judge's rules, in the judge's order, on the canary's series.

    Raises ValueError when the canary cannot be read (unavailable, not counts, an interval that is not a
    positive number); `judge` turns the same cases into Inconclusive.
    """
    read = _read(measured)
    if isinstance(read, _Unreadable):
        raise ValueError(read.message)
    return _rules(judge, read, interval_seconds=measured.interval_seconds)


def judge(judge: v1alpha1.BurnRateJudge, measured: series.SeriesMeasurement) -> judgement.Judgement:
    """Judge the canary's error budget burn by the judge's rules; see the module docstring."""
    rules_text = f"objective {_n(judge.objective)}: " + ", ".join(
        f"{window.long}/{window.short} > {_n(window.factor)} {window.severity}" for window in judge.windows
    )

    def result(
        verdict: v1alpha1.Verdict, reason: judgement.Reason, message: str, burn: float | None = None
    ) -> judgement.Judgement:
        return judgement.Judgement(
            verdict=verdict, reason=reason, message=message, canary=burn, baseline=None, threshold=rules_text
        )

    read = _read(measured)
    if isinstance(read, _Unreadable):
        return result(_INCONCLUSIVE, read.reason, read.message)
    rules = _rules(judge, read, interval_seconds=measured.interval_seconds)
    requests = float(read.totals.sum())
    overall = _burn(float(read.errors.sum()), requests, budget=1 - judge.objective)

    if all(rule.long_burn is None and rule.short_burn is None for rule in rules):
        seen = "none at all so far" if overall is None else f"burn {_b(overall)} before them"
        return result(
            _INCONCLUSIVE,
            judgement.Reason.NO_DATA,
            f"no canary traffic in any rule's window ({seen})",
            overall,
        )

    evidence = "; ".join(_describe(rule) for rule in rules)
    if overall is not None:
        evidence = f"burn {_b(overall)} over all {_n(requests)} requests; {evidence}"
    pages = [rule.name for rule in rules if rule.fired and rule.severity == "page"]
    if pages:
        message = f"page-level burn on {', '.join(pages)}: {evidence}"
        return result(_FAIL, judgement.Reason.BURN_RATE_EXCEEDED, message, overall)
    tickets = [rule.name for rule in rules if rule.fired]
    headline = f"ticket-level burn on {', '.join(tickets)}" if tickets else "within the error budget"
    return result(_PASS, judgement.Reason.WITHIN_ERROR_BUDGET, f"{headline}: {evidence}", overall)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Counts:
    """Errors and totals per interval, oldest first; a missing interval is no traffic."""

    errors: _Floats
    totals: _Floats


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Unreadable:
    """Why the canary's series cannot be judged."""

    reason: judgement.Reason
    message: str


def _read(measured: series.SeriesMeasurement) -> _Counts | _Unreadable:
    """The canary's counts as arrays, or why there are none to judge."""
    canary = measured.canary
    if canary.unavailable is not None:
        detail = f" ({canary.detail})" if canary.detail else ""
        return _Unreadable(
            reason=judgement.Reason(canary.unavailable.value),
            message=f"canary unavailable: {canary.unavailable}{detail}",
        )
    counts = [point for point in canary.points if isinstance(point, series.Counts)]
    if len(counts) < len(canary.points) - canary.points.count(None):
        return _Unreadable(reason=judgement.Reason.QUERY_ERROR, message=_NOT_COUNTS)
    interval = measured.interval_seconds
    if not (math.isfinite(interval) and interval > 0):
        return _Unreadable(
            reason=judgement.Reason.QUERY_ERROR, message=f"an interval of {interval} s cannot hold a window"
        )
    errors = np.zeros(len(canary.points))
    totals = np.zeros(len(canary.points))
    present = np.array([point is not None for point in canary.points], dtype=bool)
    errors[present] = [point.errors for point in counts]
    totals[present] = [point.total for point in counts]
    # Each count is finite but their sum need not be; no window's sum exceeds the whole one.
    with np.errstate(over="ignore"):
        if not math.isfinite(float(totals.sum())):
            return _Unreadable(
                reason=judgement.Reason.QUERY_ERROR, message="the counts add up beyond floating point range"
            )
    return _Counts(errors=errors, totals=totals)


def _rules(
    judge: v1alpha1.BurnRateJudge, counts: _Counts, *, interval_seconds: float
) -> tuple[RuleBurn, ...]:
    return tuple(
        _rule(window, counts, budget=1 - judge.objective, interval_seconds=interval_seconds)
        for window in judge.windows
    )


def _rule(
    window: v1alpha1.BurnRateWindow, counts: _Counts, *, budget: float, interval_seconds: float
) -> RuleBurn:
    size = len(counts.totals)
    long = size - _intervals(window.long, interval_seconds=interval_seconds, available=size)
    short = size - _intervals(window.short, interval_seconds=interval_seconds, available=size)
    # Each window is summed afresh rather than as a difference of cumulative sums: floating point addition
    # is monotonic, so more errors can never round into a lower burn.
    long_errors, long_requests = float(counts.errors[long:].sum()), float(counts.totals[long:].sum())
    short_errors, short_requests = float(counts.errors[short:].sum()), float(counts.totals[short:].sum())
    long_burn = _burn(long_errors, long_requests, budget=budget)
    short_burn = _burn(short_errors, short_requests, budget=budget)
    long_burn_lower = None if long_burn is None else _lower_bound(long_errors, long_requests) / budget
    fired = (
        long_burn is not None
        and short_burn is not None
        and long_burn_lower is not None
        and min(long_burn, short_burn, long_burn_lower) > window.factor
    )
    return RuleBurn(
        window=window,
        long_burn=long_burn,
        short_burn=short_burn,
        long_burn_lower=long_burn_lower,
        long_requests=long_requests,
        fired=fired,
    )


def _intervals(span: duration.Duration, *, interval_seconds: float, available: int) -> int:
    """How many of the latest intervals a window reads: ceil(span / interval), at most all there are."""
    wanted = span.seconds / interval_seconds
    if wanted >= available:  # also an infinite quotient, which ceil would refuse
        return available
    # 3600 s / 30 s may compute as 120.00000000000001, which must read 120 intervals, not 121.
    return max(1, math.ceil(wanted - 1e-9))


def _burn(errors: float, total: float, *, budget: float) -> float | None:
    return errors / total / budget if total > 0 else None


def _lower_bound(errors: float, total: float) -> float:
    """The one-sided Clopper-Pearson lower confidence bound of the error ratio. The counts may be fractional
    (Prometheus' increase() extrapolates), which the beta distribution takes in its stride."""
    if errors <= 0:
        return 0.0
    return float(scipy.special.betaincinv(errors, total - errors + 1, 1 - CONFIDENCE))


def _describe(rule: RuleBurn) -> str:
    factor = _n(rule.window.factor)
    if rule.long_burn is None:
        return f"{rule.name} no traffic"
    short = "none" if rule.short_burn is None else _b(rule.short_burn)
    burns = f"{rule.name} burn {_b(rule.long_burn)}/{short}"
    if rule.fired:
        return f"{burns} > {factor} {rule.severity}"
    if rule.held_by_traffic:
        assert rule.long_burn_lower is not None  # the long window saw traffic
        return (
            f"{burns} > {factor} {rule.severity}, but {_n(rule.long_requests)} requests only show"
            f" {_b(rule.long_burn_lower)} at {CONFIDENCE:.0%} confidence"
        )
    return f"{burns} vs {factor} {rule.severity}"


def _n(value: float) -> str:
    return f"{value:.6g}"


def _b(burn: float) -> str:
    return f"{burn:.3g}"
