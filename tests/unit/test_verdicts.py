"""Aggregation, consecutive counters and the outcome they lead to."""

from __future__ import annotations

import datetime
import random

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.analysis import judgement, verdicts
from releaseguard.models import v1alpha1

PASS, FAIL, INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE
CONTINUE, ROLL_BACK, PAUSE = verdicts.Outcome.CONTINUE, verdicts.Outcome.ROLL_BACK, verdicts.Outcome.PAUSE
T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
REASONS = {
    PASS: judgement.Reason.WITHIN_THRESHOLD,
    FAIL: judgement.Reason.ABOVE_MAXIMUM,
    INCONCLUSIVE: judgement.Reason.NO_DATA,
}


def judged(
    verdict: v1alpha1.Verdict, *, name: str = "error-rate", critical: bool = False
) -> verdicts.MetricJudgement:
    return verdicts.MetricJudgement(
        name=name,
        critical=critical,
        judgement=judgement.Judgement(
            verdict=verdict,
            reason=REASONS[verdict],
            message=f"a {verdict} judgement",
            canary=0.5,
            baseline=None,
            threshold="max 1",
        ),
    )


def summary(
    failures: int = 0, inconclusive: int = 0, verdict: v1alpha1.Verdict = PASS
) -> v1alpha1.AnalysisSummary:
    return v1alpha1.AnalysisSummary(
        time=T0, verdict=verdict, consecutive_failures=failures, consecutive_inconclusive=inconclusive
    )


def aggregate_of(*verdicts_: v1alpha1.Verdict) -> verdicts.Aggregate:
    return verdicts.aggregate([judged(verdict, name=f"m{index}") for index, verdict in enumerate(verdicts_)])


# --- aggregate ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "verdict"),
    [
        pytest.param((), INCONCLUSIVE, id="nothing-judged"),
        pytest.param((PASS,), PASS, id="pass"),
        pytest.param((PASS, PASS, PASS), PASS, id="all-pass"),
        pytest.param((PASS, INCONCLUSIVE), INCONCLUSIVE, id="one-inconclusive"),
        pytest.param((INCONCLUSIVE, INCONCLUSIVE), INCONCLUSIVE, id="all-inconclusive"),
        pytest.param((PASS, FAIL), FAIL, id="one-fail"),
        pytest.param((INCONCLUSIVE, FAIL, PASS), FAIL, id="fail-beats-inconclusive"),
        pytest.param((FAIL, FAIL), FAIL, id="all-fail"),
    ],
)
def test_aggregate_verdict(results: tuple[v1alpha1.Verdict, ...], verdict: v1alpha1.Verdict) -> None:
    aggregate = aggregate_of(*results)
    assert aggregate.verdict == verdict
    assert [result.judgement.verdict for result in aggregate.results] == list(results)


@pytest.mark.parametrize(
    ("results", "critical_failure"),
    [
        pytest.param([judged(FAIL, critical=True)], True, id="critical-fails"),
        pytest.param([judged(PASS), judged(FAIL, name="b", critical=True)], True, id="one-critical-fails"),
        pytest.param([judged(FAIL), judged(PASS, name="b", critical=True)], False, id="non-critical-fails"),
        pytest.param([judged(INCONCLUSIVE, critical=True)], False, id="critical-inconclusive"),
        pytest.param([judged(PASS, critical=True)], False, id="critical-passes"),
        pytest.param([], False, id="nothing-judged"),
    ],
)
def test_aggregate_critical_failure(results: list[verdicts.MetricJudgement], critical_failure: bool) -> None:
    assert verdicts.aggregate(results).critical_failure is critical_failure


# --- advance --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "verdict", "failures", "inconclusive"),
    [
        pytest.param(None, PASS, 0, 0, id="first-pass"),
        pytest.param(None, FAIL, 1, 0, id="first-fail"),
        pytest.param(None, INCONCLUSIVE, 0, 1, id="first-inconclusive"),
        pytest.param(summary(1, 0, FAIL), FAIL, 2, 0, id="fail-again"),
        pytest.param(summary(1, 2, INCONCLUSIVE), FAIL, 2, 0, id="fail-ends-inconclusive-run"),
        pytest.param(summary(1, 2, INCONCLUSIVE), INCONCLUSIVE, 1, 3, id="outage-keeps-failures"),
        pytest.param(summary(3, 0, FAIL), INCONCLUSIVE, 3, 1, id="inconclusive-after-fail"),
        pytest.param(summary(3, 4, INCONCLUSIVE), PASS, 0, 0, id="pass-resets-both"),
        pytest.param(summary(0, 0, PASS), PASS, 0, 0, id="pass-again"),
    ],
)
def test_advance_counters(
    previous: v1alpha1.AnalysisSummary | None, verdict: v1alpha1.Verdict, failures: int, inconclusive: int
) -> None:
    later = T0 + datetime.timedelta(seconds=30)
    advanced = verdicts.advance(previous, aggregate_of(verdict), now=later)
    assert advanced.verdict == verdict
    assert (advanced.consecutive_failures, advanced.consecutive_inconclusive) == (failures, inconclusive)
    assert advanced.time == later


def test_advance_records_the_evidence_of_each_result() -> None:
    compare = judgement.Judgement(
        verdict=FAIL,
        reason=judgement.Reason.SIGNIFICANT_REGRESSION,
        message="canary 0.102 vs baseline 0.001: +10100% > +50% allowed",
        canary=0.102,
        baseline=0.001,
        threshold="maxRelativeIncrease 0.5",
    )
    aggregate = verdicts.aggregate(
        [
            verdicts.MetricJudgement(name="error-rate", critical=True, judgement=compare),
            judged(INCONCLUSIVE, name="latency"),
        ]
    )
    advanced = verdicts.advance(None, aggregate, now=T0)
    assert advanced.results == (
        v1alpha1.Result(
            name="error-rate",
            verdict=FAIL,
            reason="SignificantRegression",
            canary=0.102,
            baseline=0.001,
            message="canary 0.102 vs baseline 0.001: +10100% > +50% allowed (judge: maxRelativeIncrease 0.5)",
        ),
        v1alpha1.Result(
            name="latency",
            verdict=INCONCLUSIVE,
            reason="NoData",
            canary=0.5,
            baseline=None,
            message="a Inconclusive judgement (judge: max 1)",
        ),
    )
    assert advanced.model_dump(mode="json", by_alias=True)["results"][0]["reason"] == "SignificantRegression"


def test_advance_keeps_a_long_message_within_the_status_limit() -> None:
    long = judgement.Judgement(
        verdict=INCONCLUSIVE,
        reason=judgement.Reason.QUERY_ERROR,
        message="canary unavailable: QueryError (" + "x" * 5000 + ")",
        canary=None,
        baseline=None,
        threshold="max 1",
    )
    aggregate = verdicts.aggregate([verdicts.MetricJudgement(name="m", critical=False, judgement=long)])
    (result,) = verdicts.advance(None, aggregate, now=T0).results
    assert result.message is not None
    assert len(result.message) == 1024
    assert result.message.endswith("x…")


def test_advance_stores_time_in_utc() -> None:
    cest = datetime.timezone(datetime.timedelta(hours=2))
    advanced = verdicts.advance(None, aggregate_of(PASS), now=datetime.datetime(2026, 1, 1, 14, tzinfo=cest))
    assert advanced.time == T0
    assert advanced.time.tzinfo == datetime.UTC


def test_advance_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verdicts.advance(None, aggregate_of(PASS), now=datetime.datetime(2026, 1, 1))


# --- outcome --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "critical_failure", "expected"),
    [
        pytest.param(summary(0, 0, PASS), False, CONTINUE, id="pass"),
        pytest.param(summary(1, 0, FAIL), False, CONTINUE, id="one-fail-under-limit"),
        pytest.param(summary(2, 0, FAIL), False, ROLL_BACK, id="failure-limit-reached"),
        pytest.param(summary(5, 0, FAIL), False, ROLL_BACK, id="beyond-failure-limit"),
        pytest.param(summary(1, 0, FAIL), True, ROLL_BACK, id="critical-failure-at-once"),
        pytest.param(summary(0, 3, INCONCLUSIVE), False, CONTINUE, id="inconclusive-under-limit"),
        pytest.param(summary(0, 4, INCONCLUSIVE), False, PAUSE, id="inconclusive-limit-reached"),
        pytest.param(summary(1, 4, INCONCLUSIVE), False, PAUSE, id="pause-with-a-failure-on-record"),
        pytest.param(summary(2, 4, INCONCLUSIVE), False, ROLL_BACK, id="roll-back-wins-over-pause"),
    ],
)
def test_outcome(
    current: v1alpha1.AnalysisSummary, critical_failure: bool, expected: verdicts.Outcome
) -> None:
    assert (
        verdicts.outcome(current, failure_limit=2, inconclusive_limit=4, critical_failure=critical_failure)
        == expected
    )


def test_an_outage_between_two_failures_still_rolls_back() -> None:
    current = None
    for verdict in (FAIL, INCONCLUSIVE, INCONCLUSIVE, FAIL):
        current = verdicts.advance(current, aggregate_of(verdict), now=T0)
    assert current is not None
    assert (
        verdicts.outcome(current, failure_limit=2, inconclusive_limit=4, critical_failure=False) == ROLL_BACK
    )


# --- properties -----------------------------------------------------------------------------------------

# Enough examples to find a broken rule, few enough to keep the unit suite well under a second each file.
PROPERTY = hypothesis.settings(max_examples=50)

verdict_values = strategies.sampled_from(v1alpha1.Verdict)
RANK = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}


@PROPERTY
@hypothesis.given(history=strategies.lists(verdict_values, max_size=30))
def test_counters_follow_the_history(history: list[v1alpha1.Verdict]) -> None:
    """Failures count every Fail since the last Pass; inconclusive counts the trailing Inconclusive run."""
    current: v1alpha1.AnalysisSummary | None = None
    failures = inconclusive = 0  # a model of the rule, counted from the history
    for verdict in history:
        current = verdicts.advance(current, aggregate_of(verdict), now=T0)
        if verdict == PASS:
            failures = inconclusive = 0
        elif verdict == FAIL:
            failures, inconclusive = failures + 1, 0
        else:
            inconclusive += 1
        assert current.consecutive_failures >= 0
        assert current.consecutive_inconclusive >= 0
        assert (current.consecutive_failures, current.consecutive_inconclusive) == (failures, inconclusive)
    assert failures == history[_last_pass(history) + 1 :].count(FAIL)


def _last_pass(history: list[v1alpha1.Verdict]) -> int:
    return max((index for index, verdict in enumerate(history) if verdict == PASS), default=-1)


@PROPERTY
@hypothesis.given(
    results=strategies.lists(strategies.tuples(verdict_values, strategies.booleans()), max_size=8),
    seed=strategies.randoms(use_true_random=False),
)
def test_aggregate_is_the_worst_verdict_in_any_order(
    results: list[tuple[v1alpha1.Verdict, bool]], seed: random.Random
) -> None:
    judgements = [
        judged(verdict, name=f"m{i}", critical=critical) for i, (verdict, critical) in enumerate(results)
    ]
    aggregate = verdicts.aggregate(judgements)
    expected = max((verdict for verdict, _ in results), key=RANK.__getitem__, default=INCONCLUSIVE)
    assert aggregate.verdict == expected
    assert aggregate.critical_failure == any(verdict == FAIL and critical for verdict, critical in results)
    seed.shuffle(judgements)
    assert verdicts.aggregate(judgements).verdict == expected


@PROPERTY
@hypothesis.given(
    failures=strategies.integers(min_value=0, max_value=200),
    inconclusive=strategies.integers(min_value=0, max_value=200),
    failure_limit=strategies.integers(min_value=1, max_value=100),
    inconclusive_limit=strategies.integers(min_value=1, max_value=100),
    critical_failure=strategies.booleans(),
)
def test_outcome_compares_counters_with_limits(
    failures: int, inconclusive: int, failure_limit: int, inconclusive_limit: int, critical_failure: bool
) -> None:
    result = verdicts.outcome(
        summary(failures, inconclusive),
        failure_limit=failure_limit,
        inconclusive_limit=inconclusive_limit,
        critical_failure=critical_failure,
    )
    if critical_failure or failures >= failure_limit:
        assert result == ROLL_BACK
    elif inconclusive >= inconclusive_limit:
        assert result == PAUSE
    else:
        assert result == CONTINUE
