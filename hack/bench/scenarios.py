"""Labelled scenarios for the judge benchmark: healthy releases a judge must pass, regressions it must fail.

What a judge is worth is two error rates, how often it stops a healthy release and how often (and how soon)
it catches a bad one, and both can only be counted on data whose truth is known. Recorded production data
carries no such labels, so the benchmark draws its own. Each scenario is one metric of one analysis in the
replay format (`releaseguard.analysis.replay`), so the judge under test reads it through the code the
operator runs.

The healthy families are the ways real traffic fools a judge while the release is fine: counting noise,
diurnal drift, a canary with almost no traffic, bursts, scrape gaps, incidents that hit every pod, and a
canary whose share of traffic grows over the steps. The regressions are the sizes a release guard is asked
to catch, on the canary only, from the first interval or from mid-way; their traffic is otherwise plain
noise, so a detection rate measures the size and the traffic, not a nuisance stacked on top.

Requests are Poisson, errors binomial among them. A latency interval is the increment of a Prometheus
histogram: request latencies are log-normal and binned by the usual `le` bounds, drawn as one multinomial
over the bins, which is the same distribution as drawing each request and binning it, at a fraction of the
cost. Scenario `number` of each role is drawn from `numpy.random.default_rng([seed, role, number])`, so it is
the same whichever process draws it and however many scenarios the run has: `--quick` runs the first ones
of the full run.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.special

Kind = Literal["ratio", "latency"]
Regression = Literal["error", "latency"]
Floats = npt.NDArray[np.float64]

INTERVAL_S = 10.0
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))
"""The `le` bounds of the latency histograms: the Prometheus client's defaults and +Inf."""
BOUND_LABELS = tuple("+Inf" if bound == float("inf") else f"{bound:g}" for bound in BOUNDS)

INTERVALS = (30, 90)
"""Analyses of 5 to 15 minutes of 10 s intervals, both ends included."""
HEALTHY_FAMILIES = ("noise", "diurnal", "low-traffic", "bursts", "missing", "incident", "shifting-share")
REGRESSIONS: tuple[tuple[Regression, float], ...] = (
    ("error", 1.5),
    ("error", 2.0),
    ("error", 5.0),
    ("latency", 0.3),
    ("latency", 0.5),
    ("latency", 1.0),
)
"""The error ratio multiplied by the size, or every request's latency by 1 + size, on the canary only."""

HEALTHY_RPS = (1.0, 50.0)
LOW_TRAFFIC_RPS = (0.1, 1.0)
REGRESSED_RPS = (0.3, 60.0)
"""Canary request rates, drawn log-uniformly; the regressions' range spans the low-traffic and ≥ 5 req/s."""
SHARES = (0.05, 0.1, 0.25, 0.5)
"""The canary's share of the service's traffic: the baseline receives the rest."""
STEP_SHARES = (0.1, 0.25, 0.5)
"""The shifting-share family's three steps of equal length."""
ERROR_RATIOS = (0.005, 0.05)
LATENCY_MEDIANS_S = (0.02, 0.2)
LATENCY_SIGMAS = (0.4, 0.9)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Label:
    """The truth about one scenario, and what the report breaks results down by."""

    name: str
    """`healthy-00042` or `regressed-00042`: with the seed, enough to draw the scenario again."""
    family: str
    """A healthy family, or "regression"."""
    kind: Kind
    regression: Regression | None
    size: float | None
    onset: int | None
    """The first regressed interval."""
    canary_rps: float
    """The canary's mean expected request rate over the analysis."""
    intervals: int
    level: float
    """The baseline's usual value before any drift or incident: its error ratio, or its median latency (s)."""
    sigma: float | None
    """The spread of the log-normal latencies (the standard deviation of their logarithm)."""

    @property
    def healthy(self) -> bool:
        return self.regression is None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Generated:
    label: Label
    scenario: dict[str, Any]
    """The scenario in the replay format, judged by `{"type": "compare"}` with its defaults."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Plan:
    """What is expected of each side, interval by interval, before the counting noise; row 0 is the
    baseline, row 1 the canary."""

    requests: Floats
    levels: Floats
    missing: npt.NDArray[np.bool_]


def healthy(*, seed: int, number: int) -> Generated:
    """Healthy scenario `number`: the families and the two metric kinds take turns."""
    rng = np.random.default_rng([seed, 0, number])
    family = HEALTHY_FAMILIES[number % len(HEALTHY_FAMILIES)]
    kind: Kind = "ratio" if number // len(HEALTHY_FAMILIES) % 2 == 0 else "latency"
    intervals = int(rng.integers(INTERVALS[0], INTERVALS[1] + 1))
    canary_rps = _log_uniform(rng, LOW_TRAFFIC_RPS if family == "low-traffic" else HEALTHY_RPS)
    level, sigma = _level(rng, kind)
    position = np.arange(intervals) / intervals
    share = np.full(intervals, float(rng.choice(SHARES)))
    # Multipliers that hit both sides alike: what the service lives through, not what the release did.
    traffic = np.ones(intervals)
    drift = np.ones(intervals)
    missing = np.zeros((2, intervals), dtype=np.bool_)
    match family:
        case "diurnal":
            # Minutes of a daily cycle look like a trend: traffic and level rising or falling together.
            traffic = np.exp(rng.uniform(-0.5, 0.5) * position)
            drift = np.exp(rng.uniform(-0.4, 0.4) * position)
        case "bursts":
            for _ in range(int(rng.integers(1, 4))):
                start = int(rng.integers(0, intervals))
                stretch = slice(start, start + int(rng.integers(1, 4)))
                traffic[stretch] *= rng.uniform(3, 8)
                drift[stretch] *= rng.uniform(1.0, 1.3)  # load raises errors and latency on every pod
        case "missing":
            for side in ((0,), (1,), (0, 1))[int(rng.integers(3))]:
                missing[side] |= rng.random(intervals) < rng.uniform(0.05, 0.2)
                if rng.random() < 0.5:
                    start = int(rng.integers(0, intervals - 6))
                    missing[side, start : start + int(rng.integers(3, 7))] = True
        case "incident":
            start = int(rng.integers(intervals // 3, 2 * intervals // 3))
            end = int(rng.integers(start + 5, intervals + 1))
            drift[start:end] *= rng.uniform(3, 10) if kind == "ratio" else 2.0
        case "shifting-share":
            step = np.minimum(np.arange(intervals) * len(STEP_SHARES) // intervals, len(STEP_SHARES) - 1)
            share = np.asarray(STEP_SHARES)[step]
    plan = _plan(
        canary_rps=canary_rps,
        share=share,
        traffic=traffic,
        drift=drift,
        level=level,
        kind=kind,
        missing=missing,
    )
    return Generated(
        scenario=_scenario(rng, plan=plan, kind=kind, sigma=sigma),
        label=Label(
            name=f"healthy-{number:05d}",
            family=family,
            kind=kind,
            regression=None,
            size=None,
            onset=None,
            canary_rps=float(plan.requests[1].mean() / INTERVAL_S),
            intervals=intervals,
            level=level,
            sigma=sigma,
        ),
    )


def regressed(*, seed: int, number: int) -> Generated:
    """Regression scenario `number`: the regression sizes, and the onsets (start, mid-way), take turns."""
    rng = np.random.default_rng([seed, 1, number])
    regression, size = REGRESSIONS[number % len(REGRESSIONS)]
    kind: Kind = "ratio" if regression == "error" else "latency"
    intervals = int(rng.integers(INTERVALS[0], INTERVALS[1] + 1))
    at_start = number // len(REGRESSIONS) % 2 == 0
    onset = 0 if at_start else int(rng.integers(intervals // 3, intervals // 2 + 1))
    canary_rps = _log_uniform(rng, REGRESSED_RPS)
    level, sigma = _level(rng, kind)
    ones = np.ones(intervals)
    regressed = np.ones(intervals)
    regressed[onset:] = size if regression == "error" else 1 + size
    plan = _plan(
        canary_rps=canary_rps,
        share=np.full(intervals, float(rng.choice(SHARES))),
        traffic=ones,
        drift=ones,
        canary_drift=regressed,
        level=level,
        kind=kind,
        missing=np.zeros((2, intervals), dtype=np.bool_),
    )
    return Generated(
        scenario=_scenario(rng, plan=plan, kind=kind, sigma=sigma),
        label=Label(
            name=f"regressed-{number:05d}",
            family="regression",
            kind=kind,
            regression=regression,
            size=size,
            onset=onset,
            canary_rps=float(plan.requests[1].mean() / INTERVAL_S),
            intervals=intervals,
            level=level,
            sigma=sigma,
        ),
    )


def steady(*, kind: Kind, intervals: int, canary_rps: float, share: float, seed: int) -> dict[str, Any]:
    """A healthy scenario of plain noise with fixed parameters, for timing the judge at a given length."""
    rng = np.random.default_rng([seed, 2])
    level, sigma = (0.01, None) if kind == "ratio" else (0.05, 0.6)
    ones = np.ones(intervals)
    plan = _plan(
        canary_rps=canary_rps,
        share=np.full(intervals, share),
        traffic=ones,
        drift=ones,
        level=level,
        kind=kind,
        missing=np.zeros((2, intervals), dtype=np.bool_),
    )
    return _scenario(rng, plan=plan, kind=kind, sigma=sigma)


def cumulative_probabilities(medians: Floats, *, sigma: float) -> Floats:
    """P(latency ≤ le) for every bound, one row per median: a log-normal's CDF, 1 at +Inf."""
    with np.errstate(divide="ignore"):
        z = (np.log(np.asarray(BOUNDS))[None, :] - np.log(medians)[:, None]) / sigma
    probabilities: Floats = scipy.special.ndtr(z)
    return probabilities


def _plan(
    *,
    canary_rps: float,
    share: Floats,
    traffic: Floats,
    drift: Floats,
    level: float,
    kind: Kind,
    missing: npt.NDArray[np.bool_],
    canary_drift: Floats | None = None,
) -> _Plan:
    """Split the service's traffic by the canary's share (`canary_rps` is the canary's mean rate); `drift`
    moves both sides' level, `canary_drift` the canary's alone."""
    total_rps = canary_rps / float(share.mean())
    requests = np.stack([total_rps * (1 - share), total_rps * share]) * traffic * INTERVAL_S
    canary = drift if canary_drift is None else drift * canary_drift
    levels = np.stack([level * drift, level * canary])
    return _Plan(requests=requests, levels=_cap(levels, kind=kind), missing=missing)


def _cap(levels: Floats, *, kind: Kind) -> Floats:
    # An error ratio x10 during an incident can pass 1; a latency has no such ceiling.
    return np.minimum(levels, 0.9) if kind == "ratio" else levels


def _scenario(rng: np.random.Generator, *, plan: _Plan, kind: Kind, sigma: float | None) -> dict[str, Any]:
    requests = rng.poisson(plan.requests)
    sides: list[list[dict[str, Any] | None]] = []
    for side in (0, 1):
        if kind == "ratio":
            errors = rng.binomial(requests[side], plan.levels[side])
            entries: list[dict[str, Any]] = [
                {"errors": int(bad), "total": int(total)}
                for bad, total in zip(errors, requests[side], strict=True)
            ]
        else:
            assert sigma is not None  # a latency scenario always draws its spread
            bins = np.diff(cumulative_probabilities(plan.levels[side], sigma=sigma), axis=1, prepend=0.0)
            counts = np.cumsum(rng.multinomial(requests[side], bins), axis=1)
            entries = [
                {"buckets": {bound: int(count) for bound, count in zip(BOUND_LABELS, row, strict=True)}}
                for row in counts
            ]
        sides.append(
            [None if gone else entry for entry, gone in zip(entries, plan.missing[side], strict=True)]
        )
    baseline, canary = sides
    metric = "error-ratio" if kind == "ratio" else "latency"
    return {
        "metric": {"name": metric, "kind": kind, "judge": {"type": "compare"}},
        "interval_s": INTERVAL_S,
        "baseline": baseline,
        "canary": canary,
    }


def _level(rng: np.random.Generator, kind: Kind) -> tuple[float, float | None]:
    if kind == "ratio":
        return _log_uniform(rng, ERROR_RATIOS), None
    return _log_uniform(rng, LATENCY_MEDIANS_S), float(rng.uniform(*LATENCY_SIGMAS))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = np.log(bounds)
    return float(np.exp(rng.uniform(low, high)))
