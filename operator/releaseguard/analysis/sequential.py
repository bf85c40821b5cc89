"""An always-valid test for "more than a share p0 of events are bad", for judges that look again and again.

The compare judge is called at every interval on the data accumulated so far, and stops the release the
first time the evidence is strong enough. A classical test at level alpha, repeated at every look, fails
a healthy canary far more often than alpha: with 60 looks, a 1% test fires on pure noise several times as
often. What stays valid however often one looks, and whenever one stops, is a test martingale, so every
test of the compare judge goes through the one primitive here.

The primitive is the mixture sequential probability ratio test (mSPRT, Robbins 1970; Johari et al. 2017)
for a binomial proportion. Among `trials` events, `bad` were bad; the null hypothesis is p ≤ p0. Mixing the
likelihood ratio p^k (1-p)^(n-k) / (p0^k (1-p0)^(n-k)) over alternatives p ∈ [p0, 1] with a Beta(a, b)
prior truncated to [p0, 1] has a closed form:

    Λ = B(a+k, b+n-k) · Ī_p0(a+k, b+n-k)  /  ( B(a, b) · Ī_p0(a, b) · p0^k (1-p0)^(n-k) )

where B is the beta function and Ī the upper regularised incomplete beta (the prior's, and the posterior's,
mass above p0). Each alternative p ≥ p0 gives a ratio whose expectation under any p' ≤ p0 is at most 1, so
Λ is a nonnegative supermartingale under the whole null, and by Ville's inequality
P(Λ ever ≥ 1/alpha) ≤ alpha. That truncation is what makes the test one-sided and composite: a canary
better than p0 only makes failing it less likely. Everything is computed in logs (counts of millions of
requests overflow anything else), and counts may be fractional, because the latency judge counts requests
by interpolating inside buckets.

The prior decides where the test is powerful. A mixture spreads its bet over alternatives; weight put on
alternatives that never happen is wasted, and a prior too narrow is slow on what lies outside it. The
regressions that matter lie above p0, around a clear regression p1 = min(2·p0, (1+p0)/2) (a doubled error
ratio; halfway to certainty when p0 is already large): subtle ones a little above p0 must be seen
eventually, gross ones far above p1 must stop the release within a look or two. So the prior's mean is
halfway from p0 to p1 and its standard deviation is p1 - p0: a strength of about 1.5/p0 pseudo-trials for
small p0 (60 at p0 = 2.4%). We compared the trials each prior needs before a true share of 1.3, 1.5, 2, 3
or 5 times p0 crosses the bar, for p0 from 1% to 30%, against priors centred at p0, halfway or at p1 with
standard deviations of a half, one or one and a half times p1 - p0, and Beta priors of fixed strength 20,
100 or 500 centred at p1. This one is never more than 19% (9% on average) slower than the best of them in
each case. The prior tuned for subtle regressions (standard deviation half as wide) is 35% slower on a
fivefold one, and the fixed strengths lose up to 21%, 94% and 463%.
"""

from __future__ import annotations

import dataclasses
import math

from scipy import optimize, special

MAX_TRIALS = 10_000_000
"""Where `trials_needed` stops looking: beyond this no analysis will accrue the traffic anyway."""
SMALLEST_P0 = 1e-12
"""A smaller positive p0 is tested as this one: the prior's strength (about 1.5/p0) would leave floating
point, and a larger p0 is only more cautious; no analysis sees the 10^12 requests where it matters."""


def clear_regression(p0: float) -> float:
    """The bad share that plainly regresses from p0: double it, or halfway to 1 when doubling overshoots."""
    return min(2 * p0, (1 + p0) / 2)


def prior(p0: float) -> tuple[float, float]:
    """The mixing Beta(a, b), before truncation to [p0, 1], for SMALLEST_P0 ≤ p0 < 1.

    Its mean is halfway from p0 to the clear regression and its standard deviation their distance; see
    the module docstring for why.
    """
    gap = clear_regression(p0) - p0
    mean = p0 + gap / 2
    strength = mean * (1 - mean) / gap**2 - 1  # at least 1.25 for every p0 in (0, 1)
    return mean * strength, (1 - mean) * strength


def log_evidence(*, bad: float, trials: float, p0: float) -> float:
    """log Λ against "at most a share p0 of the trials are bad"; failing at log(1/alpha) errs at most alpha.

    0 (no evidence either way) without trials or when p0 ≥ 1, which no share can exceed; +∞ when p0 ≤ 0
    and any trial was bad, since then a single bad event refutes the null. -∞ when the data lie so far
    below p0 that the posterior has no mass above it in floating point.
    """
    if not (trials > 0 and math.isfinite(trials)) or math.isnan(bad) or not p0 < 1:  # NaN p0: no evidence
        return 0.0
    bad = min(max(bad, 0.0), trials)
    if p0 <= 0:
        return math.inf if bad > 0 else 0.0
    p0 = max(p0, SMALLEST_P0)
    return _log_evidence(bad=bad, trials=trials, p0=p0, prior=_Prior.of(p0))


def log_evidence_below(*, bad: float, trials: float, p0: float) -> float:
    """log Λ against "at least a share p0 of the trials are bad": the lower tail, through the complements.

    For a metric where lower is worse (a success ratio falling), the good events of one are the bad ones of
    the other, so this is `log_evidence` of the good events against 1 - p0.
    """
    return log_evidence(bad=trials - bad, trials=trials, p0=1 - p0)


def trials_needed(*, p0: float, alpha: float) -> float:
    """How many trials it takes before a clear regression from p0 (see `clear_regression`) would fail.

    The smallest n with log Λ(p1·n, n, p0) ≥ log(1/alpha): what a judge must see before a pass means
    anything. 1 when p0 ≤ 0 (one bad event is conclusive); ∞ when p0 ≥ 1, or beyond `MAX_TRIALS`.
    """
    if p0 <= 0:
        return 1.0
    if not p0 < 1:
        return math.inf
    p0 = max(p0, SMALLEST_P0)
    p1, bar, prior = clear_regression(p0), math.log(1 / alpha), _Prior.of(p0)

    def excess(trials: float) -> float:
        return _log_evidence(bad=p1 * trials, trials=trials, p0=p0, prior=prior) - bar

    # A single alternative at p1 gives n·KL(p1 ‖ p0) after n trials, and the mixture never beats the best
    # single alternative: n = log(1/alpha) / KL is a lower bound. Double from there until past the bar,
    # then let Brent's method find the crossing: about ten evaluations rather than a scan.
    divergence = p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    low, high = 0.0, float(min(max(math.ceil(bar / divergence), 1), MAX_TRIALS))
    while excess(high) < 0:
        if high >= MAX_TRIALS:
            return math.inf
        low, high = high, float(min(2 * high, MAX_TRIALS))
    if low > 0:
        high = float(math.ceil(optimize.brentq(excess, low, high, xtol=0.25)))
        while excess(high) < 0:  # Brent stops within xtol of the root, possibly just short of it
            high += 1
    return high


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Prior:
    """The mixing Beta(a, b) truncated to [p0, 1], with the log of its normalising constant."""

    a: float
    b: float
    log_mass: float
    """log(B(a, b) · Ī_p0(a, b)): the prior's unnormalised mass above p0."""

    @classmethod
    def of(cls, p0: float) -> _Prior:
        a, b = prior(p0)
        return cls(a=a, b=b, log_mass=_log_beta(a, b) + math.log(float(special.betaincc(a, b, p0))))


def _log_evidence(*, bad: float, trials: float, p0: float, prior: _Prior) -> float:
    good = trials - bad
    a, b = prior.a + bad, prior.b + good
    upper_mass = float(special.betaincc(a, b, p0))
    if upper_mass <= 0:
        return -math.inf
    log_null = bad * math.log(p0) + good * math.log1p(-p0)
    result = _log_beta(a, b) + math.log(upper_mass) - prior.log_mass - log_null
    # At or below p0 every alternative fits worse than the null, so Λ ≤ 1: this only removes rounding.
    return min(result, 0.0) if bad <= p0 * trials else result


def _log_beta(a: float, b: float) -> float:
    # math.lgamma rather than scipy's betaln: a tenth of the cost on scalars, and ample precision here.
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
