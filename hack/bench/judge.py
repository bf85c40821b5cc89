"""Decision quality of the compare judge against two peers, on labelled scenarios, without a cluster.

The compare judge decides rollbacks, so what it is worth is how rarely it stops a healthy release, how often
and how soon it catches a bad one, and what a look costs. Those figures mean something only beside what
teams run today, so two peers judge the same scenarios (`scenarios.py`). Ours is reached only through
`releaseguard.analysis.replay`, the code path of the operator and of `releaseguard judge`, with
`{"type": "compare"}` and its defaults (maxRelativeIncrease 0.2, confidence 0.95). A judge has one look per
10 s interval on the data so far and the analysis stops at its first Fail, as a rollback would.

The peers are our reading of their published behaviour, written here, not their code.

Flagger-style (fluxcd/flagger, the built-in request-success-rate and request-duration checks): each look
reads the canary alone over Flagger's default metric interval of 1 m (the last 6 intervals): the error
ratio, or histogram_quantile(0.99) of the summed buckets. A value beyond the bound, or no value at all
(Flagger halts on "no values found" too), is a failed check; failed checks add up over the analysis and are
not reset by passing ones, and the canary is rolled back when they reach `threshold`: 5, the value of
Flagger's documented examples (its default, 1, would roll back on any single bad minute). Flagger's built-in
bounds (success rate ≥ 99 %, p99 ≤ 500 ms) would fail every healthy service above 1 % errors, so the bounds
are set the way a Flagger user sets them from their service's SLO: 1.5 times the baseline's usual error ratio
and 1.25 times its usual p99, halfway between healthy and the regressions the targets name (errors x2,
latency +50 %). A static bound cannot follow drift or an incident: that is the design being measured.

Kayenta-style (spinnaker/kayenta, NetflixACAJudge with its MannWhitneyClassifier): each look compares the
canary's per-interval values with the baseline's since the start of the analysis (the error ratio; for
latency the interval's p90, the quantile ours judges besides the median). Missing or empty intervals are
dropped (nanStrategy remove, the default) and so are outliers beyond max(p99, Q3 + 3 IQR) and below
min(p1, Q1 - 3 IQR) (IQRDetector(3.0, reduceSensitivity)). With direction "increase" the metric is High when
the lower bound of the two-sided 98 % interval (NetflixACAJudge's confLevel; the classifier's own default is
95 %) of the Hodges-Lehmann shift exceeds 25 % of the shift estimate, and mean(canary) / mean(baseline) is
at least effectSize.allowedIncrease, which we set to 1.2 to match our tolerance. The interval's lower bound
exceeds d exactly when the one-sided Mann-Whitney U test of canary - d against baseline rejects at 1 %,
which is how scipy.stats.mannwhitneyu computes it here. The analysis fails at the first High look:
Spinnaker's canary stage stops at a failing interval and corrects for none of its repeated looks.

Error regressions also get two reference rows that are not judges, since each is told what no judge knows.
Wald's SPRT told where the regression starts and how large it is (`told`): where it misses, the scenario
holds too few errors for any always-valid test at our confidence (one free to stop at any look). The exact
test told the onset, looking once at the analysis' end (`told_fixed`), bounds the rest: a test that knows
the analysis' length and spends its alpha at the end. Where it misses, the errors since the onset are too
few for any test at our confidence, so its detection rate is the ceiling of every judge.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import json
import math
import multiprocessing
import pathlib
import statistics
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scenarios
import scipy.stats

from releaseguard.analysis import replay, series
from releaseguard.models import v1alpha1

JUDGES = ("ours", "flagger", "kayenta")
TOLD = "told"
TOLD_FIXED = "told-fixed"
REFERENCES = (TOLD, TOLD_FIXED)
"""The references on error regressions (see `told` and `told_fixed`): not judges anyone can run, bounds on
what one can do."""
DEFAULT_JUDGE = v1alpha1.CompareJudge.model_validate({"type": "compare"})
"""Ours as the bench runs it: the references test at its tolerance and confidence."""
TOLERATED_RATIO = 1 + DEFAULT_JUDGE.max_relative_increase
"""θ0: the canary's error ratio over the baseline's that the default judge tolerates."""
TITLES = {
    "ours": "ours (compare)",
    "flagger": "Flagger-style",
    "kayenta": "Kayenta-style",
    TOLD: "reference: SPRT told the onset and size",
    TOLD_FIXED: "reference: exact test told the onset, at the end",
}

FLAGGER_WINDOW = 6
"""Flagger's default metric interval, 1 m, in 10 s intervals."""
FLAGGER_THRESHOLD = 5
FLAGGER_QUANTILE = 0.99
FLAGGER_HEADROOM = {"ratio": 1.5, "latency": 1.25}
"""The bound as a multiple of the baseline's usual error ratio or p99 latency."""

KAYENTA_CONFIDENCE = 0.98
KAYENTA_TOLERANCE = 0.25
KAYENTA_ALLOWED_INCREASE = 1.2
KAYENTA_IQR_FACTOR = 3.0
KAYENTA_QUANTILE = 0.9

FAST_RPS = 5.0
"""The canary traffic from which the detection targets apply."""
TARGETS = (("error", 2.0), ("latency", 0.5))
"""The regressions the detection targets name; "equal or better detection" than a peer is measured on them,
at ≥ 5 req/s, because a peer that fails half the healthy releases also "detects" small regressions."""
TIMING_INTERVALS = 360
"""One hour of 10 s intervals: the longest analysis the CPU target is set for."""
ROUND_GAP_S = 3.0
ROUNDS = 8
"""Rounds of timing, ROUND_GAP_S apart: the noisy stretches of this machine last several seconds, so the
quietest of rounds spread over half a minute is the judge's own cost (see `time_long_analysis`)."""

Floats = npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Task:
    seed: int
    healthy: bool
    number: int

    def generate(self) -> scenarios.Generated:
        draw = scenarios.healthy if self.healthy else scenarios.regressed
        return draw(seed=self.seed, number=self.number)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    """One judge's run over one scenario."""

    decided_at: int | None
    """The interval of the Fail, None if the analysis ran to its end."""
    verdict: str
    """fail, pass or inconclusive at the end; error if the judge raised."""
    reason: str
    """Ours: the reason of the last judgement; empty for the peers."""
    evaluations: int
    cpu_seconds: float
    error: str | None = None
    """The exception the judge raised, if it did: reported, and the scenario counts as not failed."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result:
    task: Task
    label: scenarios.Label
    outcomes: dict[str, Outcome]


# --- the judges -----------------------------------------------------------------------------------------


def ours(generated: scenarios.Generated) -> Outcome:
    scenario = replay.Scenario.model_validate(generated.scenario)
    started = time.process_time()
    try:
        replayed = replay.replay(scenario)
    except Exception as error:  # one crash is a finding to report, not a reason to lose the whole run
        return Outcome(
            decided_at=None,
            verdict="error",
            reason="",
            evaluations=0,
            cpu_seconds=time.process_time() - started,
            error=f"{type(error).__name__}: {error}",
        )
    elapsed = time.process_time() - started
    last = replayed.evaluations[-1].judgement.reason.value if replayed.evaluations else ""
    return Outcome(
        decided_at=replayed.decided_at,
        verdict=replayed.verdict.value.lower(),
        reason=last,
        evaluations=len(replayed.evaluations),
        cpu_seconds=elapsed,
    )


def flagger(generated: scenarios.Generated) -> Outcome:
    started = time.process_time()
    label = generated.label
    bound = flagger_bound(label)
    canary = _counts(generated.scenario["canary"], kind=label.kind)
    failed = 0
    for look in range(len(canary)):
        window = canary[max(0, look - FLAGGER_WINDOW + 1) : look + 1].sum(axis=0)
        value = _value(window, kind=label.kind, quantile=FLAGGER_QUANTILE)
        if value is None or value > bound:
            failed += 1
            if failed >= FLAGGER_THRESHOLD:
                return _peer(decided_at=look, evaluations=look + 1, started=started)
    return _peer(decided_at=None, evaluations=len(canary), started=started)


def flagger_bound(label: scenarios.Label) -> float:
    """The bound a Flagger user would set from the service's usual level (the baseline before any drift)."""
    if label.kind == "ratio":
        return FLAGGER_HEADROOM["ratio"] * label.level
    assert label.sigma is not None  # a latency scenario always has its spread
    usual = scenarios.cumulative_probabilities(np.array([label.level]), sigma=label.sigma)[0] * 1e6
    p99 = _value(usual, kind="latency", quantile=FLAGGER_QUANTILE)
    assert p99 is not None  # a million requests have a p99
    return FLAGGER_HEADROOM["latency"] * p99


def kayenta(generated: scenarios.Generated) -> Outcome:
    started = time.process_time()
    kind = generated.label.kind
    canary = _per_interval(_counts(generated.scenario["canary"], kind=kind), kind=kind)
    baseline = _per_interval(_counts(generated.scenario["baseline"], kind=kind), kind=kind)
    for look in range(len(canary)):
        if _kayenta_high(canary[: look + 1], baseline[: look + 1]):
            return _peer(decided_at=look, evaluations=look + 1, started=started)
    return _peer(decided_at=None, evaluations=len(canary), started=started)


def _kayenta_high(canary: Floats, baseline: Floats) -> bool:
    experiment = _without_outliers(canary[~np.isnan(canary)])
    control = _without_outliers(baseline[~np.isnan(baseline)])
    if not experiment.size or not control.size:
        return False  # Nodata, which does not fail a canary that is not marked mustHaveData
    if (
        np.array_equal(np.sort(experiment), np.sort(control))
        or np.unique(np.r_[experiment, control]).size == 1
    ):
        return False
    control_mean = float(control.mean())
    deviation = 1.0 if control_mean == 0 else float(experiment.mean()) / control_mean
    if deviation < KAYENTA_ALLOWED_INCREASE:
        return False  # High needs the effect size and the test; the effect size is the cheap half
    # Kayenta jitters two constant samples so that R's test runs; the ranks, and the verdict, are the same.
    shift = float(np.median(np.subtract.outer(experiment, control)))
    margin = KAYENTA_TOLERANCE * abs(shift)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # tiny samples: scipy warns, the p-value is right
        test = scipy.stats.mannwhitneyu(experiment - margin, control, alternative="greater")
    return float(test.pvalue) < (1 - KAYENTA_CONFIDENCE) / 2


def _without_outliers(values: Floats) -> Floats:
    if values.size == 0:
        return values
    # Commons Math's default percentile is numpy's "weibull": position p(n + 1), clamped to the ends.
    p1, q1, q3, p99 = np.percentile(values, [1, 25, 75, 99], method="weibull")
    spread = KAYENTA_IQR_FACTOR * (q3 - q1)
    low, high = min(p1, q1 - spread), max(p99, q3 + spread)
    kept: Floats = values[(values >= low) & (values <= high)]
    return kept


def _counts(entries: Sequence[dict[str, Any] | None], *, kind: scenarios.Kind) -> Floats:
    """One row per interval: (errors, total), or the cumulative bucket counts; zeros when missing."""
    width = 2 if kind == "ratio" else len(scenarios.BOUND_LABELS)
    rows = np.zeros((len(entries), width))
    for row, entry in zip(rows, entries, strict=True):
        if entry is None:
            continue
        if kind == "ratio":
            row[:] = entry["errors"], entry["total"]
        else:
            row[:] = [entry["buckets"][bound] for bound in scenarios.BOUND_LABELS]
    return rows


def _value(row: Floats, *, kind: scenarios.Kind, quantile: float) -> float | None:
    """An interval's (or a window's) error ratio or latency quantile, as PromQL computes it."""
    if kind == "ratio":
        errors, total = row
        return float(errors / total) if total > 0 else None
    histogram = series.Histogram(buckets=tuple(zip(scenarios.BOUNDS, map(float, row), strict=True)))
    return series.quantile(histogram, quantile)


def _per_interval(rows: Floats, *, kind: scenarios.Kind) -> Floats:
    values = [_value(row, kind=kind, quantile=KAYENTA_QUANTILE) for row in rows]
    return np.array([np.nan if value is None else value for value in values])


def _peer(*, decided_at: int | None, evaluations: int, started: float) -> Outcome:
    return Outcome(
        decided_at=decided_at,
        verdict="pass" if decided_at is None else "fail",
        reason="",
        evaluations=evaluations,
        cpu_seconds=time.process_time() - started,
    )


def told(generated: scenarios.Generated) -> Outcome:
    """Wald's SPRT of an error regression's true size against the tolerance, from its onset on.

    Given what no judge knows, where the regression starts and how large it is, the likelihood ratio of
    that one alternative against the tolerated ratio θ0, failing when it reaches 1/alpha at our default
    confidence, is the always-valid test that needs the least data: where it misses, the scenario holds too
    few errors for any always-valid judge at that confidence to tell, and ours, which must mix over onsets
    and sizes, misses too. A test that knows the analysis' length can spend part of its alpha at the end,
    where no bar for stopping early is paid: `told_fixed` bounds that. It reads the same
    per-interval split of errors as ours (`sequential`'s ratio test).
    """
    started = time.process_time()
    size = generated.label.size
    assert size is not None
    bar = math.log(1 / (1 - DEFAULT_JUDGE.confidence))
    log_ratio = 0.0
    for look, canary, baseline in _served_since_onset(generated):
        share = canary["total"] / baseline["total"]
        log_ratio += canary["errors"] * math.log(size / TOLERATED_RATIO) - (
            canary["errors"] + baseline["errors"]
        ) * (math.log1p(share * size) - math.log1p(share * TOLERATED_RATIO))
        if log_ratio >= bar:
            return _peer(decided_at=look, evaluations=look + 1, started=started)
    return _peer(decided_at=None, evaluations=len(generated.scenario["canary"]), started=started)


def told_fixed(generated: scenarios.Generated) -> Outcome:
    """The exact one-sided test of the canary's errors since an error regression's onset, at the end.

    Given each interval's errors of both sides, E_t, the canary's are Binomial(E_t, π_t) at the tolerance,
    π_t = s_t·θ0 / (1 + s_t·θ0) with s_t its requests over the baseline's (`sequential`'s ratio test). Their
    sum is what the most powerful test against a larger θ counts when the split is the same in every
    interval, as it is in these regressions but for its Poisson noise. The test fails at the last interval
    when the sum's exact upper tail is at most our default alpha. It pays neither a bar for stopping early
    nor a mixture over onsets and sizes, as every judge must: its misses are regressions whose errors since
    the onset are too few for a judge at our confidence to tell.
    """
    started = time.process_time()
    observed, errors, chances = 0, [], []
    for _, canary, baseline in _served_since_onset(generated):
        share = canary["total"] / baseline["total"] * TOLERATED_RATIO
        observed += canary["errors"]
        errors.append(canary["errors"] + baseline["errors"])
        chances.append(share / (1 + share))
    intervals = len(generated.scenario["canary"])
    tail = binomial_sum_tail(observed=observed, trials=np.array(errors), chances=np.array(chances))
    failed = tail <= 1 - DEFAULT_JUDGE.confidence
    return _peer(decided_at=intervals - 1 if failed else None, evaluations=1, started=started)


def _served_since_onset(
    generated: scenarios.Generated,
) -> Iterator[tuple[int, dict[str, Any], dict[str, Any]]]:
    """The intervals of an error regression from its onset on where both sides served requests, numbered
    from the analysis' start: the references read the same split of errors as ours, which skips the rest."""
    label = generated.label
    assert label.regression == "error", "the references judge error regressions only"
    assert label.onset is not None
    pairs = enumerate(zip(generated.scenario["canary"], generated.scenario["baseline"], strict=True))
    for look, (canary, baseline) in itertools.islice(pairs, label.onset, None):
        if canary and baseline and canary["total"] and baseline["total"]:
            yield look, canary, baseline


def binomial_sum_tail(*, observed: int, trials: npt.NDArray[np.int64], chances: Floats) -> float:
    """P(Σ Binomial(trials_t, chances_t) ≥ observed), exactly up to rounding: the sum's probabilities are
    the discrete Fourier transform of the product of the binomials' characteristic functions, which costs
    one pass over the intervals at every possible count rather than a convolution per interval."""
    if observed <= 0:
        return 1.0
    counts = int(trials.sum()) + 1
    if observed >= counts:
        return 0.0
    frequencies = np.exp(2j * np.pi * np.arange(counts) / counts)
    log_characteristic = np.zeros(counts, dtype=np.complex128)
    for size, chance in zip(trials, chances, strict=True):
        log_characteristic += size * np.log(1 - chance + chance * frequencies)
    probabilities = np.fft.fft(np.exp(log_characteristic)).real / counts
    return float(min(max(probabilities[observed:].sum(), 0.0), 1.0))


def run(task: Task) -> Result:
    """Draw one scenario and let every judge decide it (a worker process runs this)."""
    generated = task.generate()
    outcomes = {"ours": ours(generated), "flagger": flagger(generated), "kayenta": kayenta(generated)}
    if generated.label.regression == "error":
        outcomes[TOLD] = told(generated)
        outcomes[TOLD_FIXED] = told_fixed(generated)
    return Result(task=task, label=generated.label, outcomes=outcomes)


def run_all(tasks: Sequence[Task], *, workers: int) -> list[Result]:
    results: list[Result] = []
    started = time.monotonic()
    every = max(1, len(tasks) // 20)

    def collect(finished: Iterable[Result]) -> None:
        for result in finished:
            results.append(result)
            if len(results) % every == 0 or len(results) == len(tasks):
                print(
                    f"bench-judge: {len(results)}/{len(tasks)} scenarios, {time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )

    if workers == 1:
        collect(map(run, tasks))
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            collect(pool.imap_unordered(run, tasks, chunksize=8))
    order = {task: position for position, task in enumerate(tasks)}
    return sorted(results, key=lambda result: order[result.task])


def time_long_analysis(*, seed: int, repeats: int, rounds: int = ROUNDS) -> dict[str, float]:
    """CPU ms of one look of ours at 360 intervals, for a ratio and a latency metric: the median of
    `repeats` looks, in the quietest of `rounds` rounds a few seconds apart.

    Run alone in the parent, so no worker competes for the core it measures. The machine still has
    moments when the same looks take 1.6 times the CPU, from work outside this process, for seconds at a
    time (pinning to a core does not escape them): as timeit advises, the least disturbed round is the
    judge's own cost, and spreading the rounds over time is what finds one.
    """
    kinds: tuple[scenarios.Kind, ...] = ("ratio", "latency")
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    looks = {}
    for kind in kinds:
        scenario = replay.Scenario.model_validate(
            scenarios.steady(kind=kind, intervals=TIMING_INTERVALS, canary_rps=10.0, share=0.1, seed=seed)
        )
        looks[kind] = (scenario.metric, scenario.measurement())
        replay.judge_at(*looks[kind], looks=TIMING_INTERVALS)  # the first call fills caches
    for round_number in range(rounds):
        if round_number:
            time.sleep(ROUND_GAP_S)
        for kind, (metric, measured) in looks.items():
            samples = []
            for _ in range(repeats):
                started = time.process_time()
                replay.judge_at(metric, measured, looks=TIMING_INTERVALS)
                samples.append(time.process_time() - started)
            timings[kind].append(statistics.median(samples))
    return {kind: min(medians) * 1000 for kind, medians in timings.items()}


# --- the report -----------------------------------------------------------------------------------------


def wilson(successes: int, trials: int, *, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion: honest near 0, where the false-positive rates live."""
    if trials == 0:
        return 0.0, 1.0
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def regression_name(regression: str, size: float) -> str:
    return f"error x{size:g}" if regression == "error" else f"latency +{size * 100:.0f}%"


def detection_delay(result: Result, judge: str) -> int | None:
    """Intervals from the onset to the Fail; None if the judge did not fail, or failed before the onset (it
    then stopped a release that was still healthy, which is luck, not detection)."""
    decided, onset = result.outcomes[judge].decided_at, result.label.onset
    if decided is None or onset is None or decided < onset:
        return None
    return decided - onset


def summarize(results: Sequence[Result], *, seed: int, timing: dict[str, float]) -> dict[str, Any]:
    healthy = [result for result in results if result.label.healthy]
    regressed = [result for result in results if not result.label.healthy]
    targets = [
        result
        for result in regressed
        if (result.label.regression, result.label.size) in TARGETS and result.label.canary_rps >= FAST_RPS
    ]
    summary: dict[str, Any] = {
        "seed": seed,
        "healthy": len(healthy),
        "regressed": len(regressed),
        "false_positives": {judge: _false_positives(healthy, judge) for judge in JUDGES},
        "detection": [
            _detection(
                [result for result in regressed if (result.label.regression, result.label.size) == cell],
                judge,
                name=regression_name(*cell),
            )
            for cell in scenarios.REGRESSIONS
            for judge in (*JUDGES, *REFERENCES)
            if cell[0] == "error" or judge not in REFERENCES
        ],
        "overall_tpr": {judge: _tpr(regressed, judge) for judge in JUDGES},
        "target_tpr": {judge: _tpr(targets, judge) for judge in JUDGES},
        "cpu": {judge: _cpu(results, judge) for judge in JUDGES},
        "timing_360_ms": timing,
        "errors": {judge: _errors(results, judge) for judge in JUDGES},
        "our_mistakes": _mistakes(results),
    }
    summary["acceptance"] = _acceptance(summary)
    return summary


def _tpr(regressed: Sequence[Result], judge: str) -> float:
    return sum(detection_delay(result, judge) is not None for result in regressed) / max(1, len(regressed))


def _false_positives(healthy: Sequence[Result], judge: str) -> dict[str, Any]:
    failed = sum(result.outcomes[judge].decided_at is not None for result in healthy)
    families = {}
    for family in scenarios.HEALTHY_FAMILIES:
        members = [result for result in healthy if result.label.family == family]
        families[family] = {
            "failed": sum(result.outcomes[judge].decided_at is not None for result in members),
            "inconclusive": sum(result.outcomes[judge].verdict == "inconclusive" for result in members),
            "n": len(members),
        }
    return {
        "failed": failed,
        "n": len(healthy),
        "rate": failed / max(1, len(healthy)),
        "wilson": wilson(failed, len(healthy)),
        "families": families,
    }


def _detection(cell: Sequence[Result], judge: str, *, name: str) -> dict[str, Any]:
    fast = [result for result in cell if result.label.canary_rps >= FAST_RPS]
    delays = [delay for result in cell if (delay := detection_delay(result, judge)) is not None]
    fast_delays = [delay for result in fast if (delay := detection_delay(result, judge)) is not None]
    return {
        "regression": name,
        "judge": judge,
        "n": len(cell),
        "tpr": len(delays) / max(1, len(cell)),
        "n_fast": len(fast),
        "tpr_fast": len(fast_delays) / max(1, len(fast)),
        "delay_median": _percentile(delays, 50),
        "delay_p90": _percentile(delays, 90),
        "delay_median_fast": _percentile(fast_delays, 50),
        "before_onset": sum(
            result.outcomes[judge].decided_at is not None and detection_delay(result, judge) is None
            for result in cell
        ),
    }


def _percentile(values: Sequence[int], q: float) -> float | None:
    # inverted_cdf: an interval count that was observed, not an interpolation between two.
    return float(np.percentile(values, q, method="inverted_cdf")) if values else None


def _cpu(results: Sequence[Result], judge: str) -> dict[str, Any]:
    evaluations = sum(result.outcomes[judge].evaluations for result in results)
    seconds = sum(result.outcomes[judge].cpu_seconds for result in results)
    return {"evaluations": evaluations, "ms_per_evaluation": seconds * 1000 / max(1, evaluations)}


def _errors(results: Sequence[Result], judge: str) -> dict[str, Any]:
    failures = [(result.label.name, result.outcomes[judge].error) for result in results]
    failures = [(name, error) for name, error in failures if error is not None]
    return {"count": len(failures), "first": f"{failures[0][0]}: {failures[0][1]}" if failures else None}


def _mistakes(results: Sequence[Result], *, per_group: int = 3) -> list[dict[str, Any]]:
    """Our first crashes, false positives by healthy family, and misses by regression at ≥ 5 req/s."""
    taken: collections.Counter[str] = collections.Counter()
    examples = []
    for result in results:
        label, outcome = result.label, result.outcomes["ours"]
        if outcome.error is not None:
            group = f"raised ({label.family})"
        elif label.healthy and outcome.decided_at is not None:
            group = label.family
        elif not label.healthy and label.canary_rps >= FAST_RPS and detection_delay(result, "ours") is None:
            group = regression_name(label.regression or "", label.size or 0)
        else:
            continue
        if taken[group] >= per_group:
            continue
        taken[group] += 1
        examples.append(
            {"group": group, "healthy": result.task.healthy, "number": result.task.number}
            | dataclasses.asdict(label)
            | {
                "decided_at": outcome.decided_at,
                "verdict": outcome.verdict,
                "reason": outcome.error or outcome.reason,
            }
        )
    return examples


def _acceptance(summary: dict[str, Any]) -> list[dict[str, Any]]:
    fp = summary["false_positives"]
    cells = {(row["regression"], row["judge"]): row for row in summary["detection"]}
    checks = []

    def check(target: str, passed: bool, detail: str) -> None:
        checks.append({"target": target, "passed": passed, "detail": detail})

    ours_fp = fp["ours"]
    check(
        "ours FPR ≤ 1 % with upper 95 % bound ≤ 1.5 %",
        ours_fp["rate"] <= 0.01 and ours_fp["wilson"][1] <= 0.015,
        f"FPR {_pct(ours_fp['rate'])}, 95 % CI {_pct(ours_fp['wilson'][0])}-{_pct(ours_fp['wilson'][1])}",
    )
    for name in ("error x2", "latency +50%"):
        row, told_row, fixed_row = (
            cells[(name, "ours")],
            cells.get((name, TOLD)),
            cells.get((name, TOLD_FIXED)),
        )
        told_tpr = (
            ""
            if told_row is None or fixed_row is None
            else f" (SPRT told onset and size: {_pct(told_row['tpr_fast'])}; "
            f"exact test told the onset, at the end: {_pct(fixed_row['tpr_fast'])})"
        )
        check(
            f"ours TPR ≥ 95 % for {name} at ≥ {FAST_RPS:g} req/s",
            row["n_fast"] > 0 and row["tpr_fast"] >= 0.95,
            f"TPR {_pct(row['tpr_fast'])} of {row['n_fast']}{told_tpr}",
        )
    row, told_row = cells[("error x5", "ours")], cells[("error x5", TOLD)]
    check(
        "ours median detection ≤ 3 intervals for error x5",
        row["delay_median"] is not None and row["delay_median"] <= 3,
        f"median {_number(row['delay_median'])} (all traffic), {_number(row['delay_median_fast'])} at ≥ "
        f"{FAST_RPS:g} req/s (SPRT told the onset and size: {_number(told_row['delay_median'])}, "
        f"{_number(told_row['delay_median_fast'])})",
    )
    tpr, overall = summary["target_tpr"], summary["overall_tpr"]
    for peer in ("flagger", "kayenta"):
        check(
            f"ours ahead of {TITLES[peer]} on false positives at equal or better detection",
            fp["ours"]["rate"] < fp[peer]["rate"] and tpr["ours"] >= tpr[peer],
            f"FPR {_pct(fp['ours']['rate'])} vs {_pct(fp[peer]['rate'])}; TPR for error x2 and latency +50% "
            f"at ≥ {FAST_RPS:g} req/s {_pct(tpr['ours'])} vs {_pct(tpr[peer])} "
            f"(over all regressions {_pct(overall['ours'])} vs {_pct(overall[peer])})",
        )
    timing = summary["timing_360_ms"]
    check(
        f"ours CPU per evaluation < 2 ms at {TIMING_INTERVALS} intervals",
        max(timing.values()) < 2,
        ", ".join(f"{kind} {ms:.2f} ms" for kind, ms in timing.items()),
    )
    return checks


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Judge benchmark: {summary['healthy']} healthy + {summary['regressed']} regressed scenarios, "
        f"seed {summary['seed']}",
        "",
        "## False positives on healthy scenarios (Fail anywhere in the analysis)",
        "",
        "| judge | FPR | 95 % Wilson | " + " | ".join(scenarios.HEALTHY_FAMILIES) + " |",
        "|---|---|---|" + "---|" * len(scenarios.HEALTHY_FAMILIES),
    ]
    for judge in JUDGES:
        fp = summary["false_positives"][judge]
        families = [fp["families"][family] for family in scenarios.HEALTHY_FAMILIES]
        lines.append(
            f"| {TITLES[judge]} | {_pct(fp['rate'])} ({fp['failed']}/{fp['n']}) "
            f"| {_pct(fp['wilson'][0])}-{_pct(fp['wilson'][1])} | "
            + " | ".join(f"{_pct(f['failed'] / max(1, f['n']))} ({f['failed']}/{f['n']})" for f in families)
            + " |"
        )
    ours_families = [
        summary["false_positives"]["ours"]["families"][family] for family in scenarios.HEALTHY_FAMILIES
    ]
    lines += [
        "| ours: Inconclusive at the end | | | "
        + " | ".join(f"{_pct(f['inconclusive'] / max(1, f['n']))}" for f in ours_families)
        + " |",
        "",
        "## Detection of regressions (a Fail at or after the onset; delays in 10 s intervals from the onset)",
        "",
        f"| regression | judge | TPR | TPR ≥ {FAST_RPS:g} req/s | delay median | delay p90 "
        f"| delay median ≥ {FAST_RPS:g} req/s | Fail before onset |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in summary["detection"]:
        lines.append(
            f"| {row['regression']} | {TITLES[row['judge']]} | {_pct(row['tpr'])} (n {row['n']}) "
            f"| {_pct(row['tpr_fast'])} (n {row['n_fast']}) | {_number(row['delay_median'])} "
            f"| {_number(row['delay_p90'])} | {_number(row['delay_median_fast'])} | {row['before_onset']} |"
        )
    lines += [
        "",
        f"| judge | TPR, all regressions | TPR, error x2 and latency +50% at ≥ {FAST_RPS:g} req/s "
        "| evaluations | CPU per evaluation | errors |",
        "|---|---|---|---|---|---|",
    ]
    for judge in JUDGES:
        cpu, errors, target = summary["cpu"][judge], summary["errors"][judge], summary["target_tpr"][judge]
        lines.append(
            f"| {TITLES[judge]} | {_pct(summary['overall_tpr'][judge])} | {_pct(target)} "
            f"| {cpu['evaluations']} | {cpu['ms_per_evaluation']:.3f} ms | {errors['count']} |"
        )
    timing = summary["timing_360_ms"]
    lines += [
        "",
        f"Ours, one evaluation at {TIMING_INTERVALS} intervals (1 h), "
        f"median CPU (quietest of {ROUNDS} rounds): "
        + ", ".join(f"{kind} {ms:.3f} ms" for kind, ms in timing.items()),
    ]
    for judge in JUDGES:
        if summary["errors"][judge]["first"]:
            lines.append(f"First error of {TITLES[judge]}: {summary['errors'][judge]['first']}")
    if summary["our_mistakes"]:
        lines += [
            "",
            "## Where ours erred (first examples; `--dump DIR` writes them in the replay format)",
            "",
            "| group | scenario | kind | canary req/s | intervals | onset | decided at | reason or error |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for example in summary["our_mistakes"]:
            lines.append(
                f"| {example['group']} | {example['name']} | {example['kind']} | {example['canary_rps']:.2f} "
                f"| {example['intervals']} | {_number(example['onset'])} | {_number(example['decided_at'])} "
                f"| {example['reason']} |"
            )
    lines += ["", "## Acceptance", ""]
    lines += [
        f"- {'PASS' if check['passed'] else 'FAIL'} {check['target']}: {check['detail']}"
        for check in summary["acceptance"]
    ]
    return "\n".join(lines)


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def dump(summary: dict[str, Any], *, seed: int, directory: pathlib.Path) -> None:
    """Write our mistakes as replay scenarios (`releaseguard judge FILE` replays one) and their labels."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "labels.jsonl").open("w") as labels:
        for example in summary["our_mistakes"]:
            generated = Task(seed=seed, healthy=example["healthy"], number=example["number"]).generate()
            (directory / f"{example['name']}.json").write_text(json.dumps(generated.scenario) + "\n")
            labels.write(json.dumps(example) + "\n")


def write_results(results: Sequence[Result], *, path: pathlib.Path) -> None:
    """One JSON line per scenario, its label and every judge's outcome, for slicing beyond the report."""
    with path.open("w") as lines:
        for result in results:
            outcomes = {judge: dataclasses.asdict(outcome) for judge, outcome in result.outcomes.items()}
            lines.write(json.dumps(dataclasses.asdict(result.label) | {"outcomes": outcomes}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--healthy", type=int, default=2000)
    parser.add_argument("--regressed", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 healthy + 200 regressed, for a smoke run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON, not Markdown")
    parser.add_argument(
        "--dump", type=pathlib.Path, help="write the scenarios ours got wrong to this directory"
    )
    parser.add_argument(
        "--results", type=pathlib.Path, help="write every scenario's outcomes here (JSON lines)"
    )
    args = parser.parse_args()
    healthy, regressed = (200, 200) if args.quick else (args.healthy, args.regressed)
    tasks = [Task(seed=args.seed, healthy=True, number=number) for number in range(healthy)]
    tasks += [Task(seed=args.seed, healthy=False, number=number) for number in range(regressed)]
    results = run_all(tasks, workers=args.workers)
    print(f"bench-judge: timing one look at {TIMING_INTERVALS} intervals", file=sys.stderr, flush=True)
    timing = time_long_analysis(seed=args.seed, repeats=30)
    summary = summarize(results, seed=args.seed, timing=timing)
    if args.results is not None:
        write_results(results, path=args.results)
    if args.dump is not None:
        dump(summary, seed=args.seed, directory=args.dump)
    print(json.dumps(summary, indent=2) if args.json else markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
