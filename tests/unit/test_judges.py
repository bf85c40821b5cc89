"""Judges: literal measurements in, a verdict with its reason and evidence out."""

from __future__ import annotations

import math
import typing

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.analysis import judgement, judges, measurement
from releaseguard.models import v1alpha1

PASS, FAIL, INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE
R = judgement.Reason
NO_DATA = measurement.Unavailable.NO_DATA
PROVIDER_UNAVAILABLE = measurement.Unavailable.PROVIDER_UNAVAILABLE
QUERY_ERROR = measurement.Unavailable.QUERY_ERROR


def ok(value: float, samples: float | None = None) -> measurement.Side:
    return measurement.Side(value=value, samples=samples)


def gone(reason: measurement.Unavailable = NO_DATA, detail: str = "") -> measurement.Side:
    return measurement.Side(unavailable=reason, detail=detail)


def threshold(min_: float | None = None, max_: float | None = None) -> v1alpha1.ThresholdJudge:
    return v1alpha1.ThresholdJudge(type="threshold", min=min_, max=max_)


def run(
    judge: v1alpha1.ThresholdJudge, canary: measurement.Side, baseline: measurement.Side | None = None
) -> judgement.Judgement:
    measured = measurement.Measurement(name="error-rate", canary=canary, baseline=baseline or gone())
    return judges.judge(judge, measured)


# --- threshold ------------------------------------------------------------------------------------------

MAX = threshold(max_=0.01)
MIN = threshold(min_=0.99)
BAND = threshold(min_=0.1, max_=1)


@pytest.mark.parametrize(
    ("judge", "canary", "verdict", "reason", "message"),
    [
        pytest.param(MAX, ok(0.005), PASS, R.WITHIN_THRESHOLD, "canary 0.005 ≤ max 0.01", id="under-max"),
        pytest.param(MAX, ok(0.01), PASS, R.WITHIN_THRESHOLD, "canary 0.01 ≤ max 0.01", id="exactly-max"),
        pytest.param(MAX, ok(0.102), FAIL, R.ABOVE_MAXIMUM, "canary 0.102 > max 0.01", id="over-max"),
        pytest.param(
            MAX, ok(0.0100001), FAIL, R.ABOVE_MAXIMUM, "canary 0.0100001 > max 0.01", id="just-over"
        ),
        pytest.param(MAX, ok(-3), PASS, R.WITHIN_THRESHOLD, "canary -3 ≤ max 0.01", id="negative"),
        pytest.param(MIN, ok(0.999), PASS, R.WITHIN_THRESHOLD, "min 0.99 ≤ canary 0.999", id="over-min"),
        pytest.param(MIN, ok(0.99), PASS, R.WITHIN_THRESHOLD, "min 0.99 ≤ canary 0.99", id="exactly-min"),
        pytest.param(MIN, ok(0.95), FAIL, R.BELOW_MINIMUM, "canary 0.95 < min 0.99", id="under-min"),
        pytest.param(BAND, ok(0.5), PASS, R.WITHIN_THRESHOLD, "min 0.1 ≤ canary 0.5 ≤ max 1", id="in-band"),
        pytest.param(BAND, ok(0.05), FAIL, R.BELOW_MINIMUM, "canary 0.05 < min 0.1", id="below-band"),
        pytest.param(BAND, ok(2), FAIL, R.ABOVE_MAXIMUM, "canary 2 > max 1", id="above-band"),
        pytest.param(
            threshold(min_=-5), ok(-6), FAIL, R.BELOW_MINIMUM, "canary -6 < min -5", id="negative-gauge"
        ),
        pytest.param(
            MAX,
            gone(NO_DATA, "no series"),
            INCONCLUSIVE,
            R.NO_DATA,
            "canary unavailable: NoData (no series)",
            id="no-data",
        ),
        pytest.param(
            MAX,
            gone(PROVIDER_UNAVAILABLE),
            INCONCLUSIVE,
            R.PROVIDER_UNAVAILABLE,
            "canary unavailable: ProviderUnavailable",
            id="provider-unavailable",
        ),
        pytest.param(
            MIN,
            gone(QUERY_ERROR, "parse error"),
            INCONCLUSIVE,
            R.QUERY_ERROR,
            "canary unavailable: QueryError (parse error)",
            id="query-error",
        ),
        pytest.param(
            MAX,
            measurement.Side(),
            INCONCLUSIVE,
            R.NO_DATA,
            "canary unavailable: NoData",
            id="no-value-no-reason",
        ),
        pytest.param(
            MAX,
            measurement.Side(value=0.001, unavailable=PROVIDER_UNAVAILABLE),
            INCONCLUSIVE,
            R.PROVIDER_UNAVAILABLE,
            "canary unavailable: ProviderUnavailable",
            id="value-but-flagged-unavailable",
        ),
        pytest.param(
            MAX,
            ok(math.nan),
            INCONCLUSIVE,
            R.QUERY_ERROR,
            "canary value is nan, not a finite number",
            id="nan",
        ),
        pytest.param(
            MAX,
            ok(math.inf),
            INCONCLUSIVE,
            R.QUERY_ERROR,
            "canary value is inf, not a finite number",
            id="inf",
        ),
        pytest.param(
            MIN,
            ok(-math.inf),
            INCONCLUSIVE,
            R.QUERY_ERROR,
            "canary value is -inf, not a finite number",
            id="minus-inf",
        ),
        pytest.param(
            threshold(max_=math.nan),
            ok(0.5),
            INCONCLUSIVE,
            R.INVALID_JUDGE,
            "the judge's max is NaN, which no value can be compared with",
            id="nan-bound",
        ),
    ],
)
def test_threshold(
    judge: v1alpha1.ThresholdJudge,
    canary: measurement.Side,
    verdict: v1alpha1.Verdict,
    reason: judgement.Reason,
    message: str,
) -> None:
    judged = run(judge, canary, ok(123))
    assert (judged.verdict, judged.reason, judged.message) == (verdict, reason, message)
    assert judged.baseline == 123  # reported for contrast; the verdict looks at the canary alone


def test_threshold_evidence_carries_the_value_and_the_rule() -> None:
    assert run(BAND, ok(2)) == judgement.Judgement(
        verdict=FAIL,
        reason=R.ABOVE_MAXIMUM,
        message="canary 2 > max 1",
        canary=2,
        baseline=None,
        threshold="min 0.1, max 1",
    )
    assert run(BAND, ok(2), ok(0.5)).baseline == 0.5
    assert run(BAND, ok(0.5), ok(7)).verdict == PASS


def test_a_value_that_is_not_finite_is_not_reported_as_a_number() -> None:
    judged = run(MAX, ok(math.nan))
    assert judged.canary is None
    assert judged.threshold == "max 0.01"


def test_every_unavailable_reason_is_a_judge_reason() -> None:
    for unavailable in measurement.Unavailable:
        judged = run(MAX, gone(unavailable))
        assert judged.reason == unavailable.value
        assert isinstance(judged.reason, judgement.Reason)


def test_every_judge_type_of_the_api_has_a_judge() -> None:
    (union, *_) = typing.get_args(v1alpha1.Judge)
    assert set(judges._SERIES_JUDGES) | {v1alpha1.ThresholdJudge} == set(typing.get_args(union))


# --- properties -----------------------------------------------------------------------------------------

# Enough examples to find a broken rule, few enough to keep the unit suite well under a second each file.
PROPERTY = hypothesis.settings(max_examples=50)

finite = strategies.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
non_negative = strategies.floats(min_value=0, max_value=1e3, allow_nan=False, allow_infinity=False)
samples = strategies.none() | strategies.floats(min_value=0, max_value=1e6, allow_nan=False)


@strategies.composite
def threshold_judges(draw: strategies.DrawFn) -> v1alpha1.ThresholdJudge:
    bounds = sorted(draw(strategies.lists(finite, min_size=2, max_size=2)))
    min_, max_ = draw(strategies.sampled_from([(bounds[0], None), (None, bounds[1]), (bounds[0], bounds[1])]))
    return threshold(min_, max_)


usable_sides = strategies.builds(measurement.Side, value=finite, samples=samples)
unusable_sides = strategies.builds(
    measurement.Side,
    unavailable=strategies.sampled_from(measurement.Unavailable),
    detail=strategies.sampled_from(["", "connection refused"]),
) | strategies.builds(
    measurement.Side, value=strategies.sampled_from([math.nan, math.inf, -math.inf]), samples=samples
)
any_judge = threshold_judges()
RANK = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}


@PROPERTY
@hypothesis.given(judge=any_judge, canary=unusable_sides, baseline=usable_sides | unusable_sides)
def test_a_canary_without_a_usable_value_is_never_judged(
    judge: v1alpha1.ThresholdJudge,
    canary: measurement.Side,
    baseline: measurement.Side,
) -> None:
    judged = run(judge, canary, baseline)
    assert judged.verdict == INCONCLUSIVE
    assert judged.reason in {R.NO_DATA, R.PROVIDER_UNAVAILABLE, R.QUERY_ERROR}
    assert judged.canary is None


@PROPERTY
@hypothesis.given(
    judge=any_judge, canary=usable_sides | unusable_sides, baseline=usable_sides | unusable_sides
)
def test_a_pass_rests_on_finite_values_and_every_judgement_explains_itself(
    judge: v1alpha1.ThresholdJudge,
    canary: measurement.Side,
    baseline: measurement.Side,
) -> None:
    judged = run(judge, canary, baseline)
    assert judged.message
    assert judged.threshold
    if judged.verdict == PASS:
        assert judged.canary is not None
        assert math.isfinite(judged.canary)


@PROPERTY
@hypothesis.given(
    judge=finite.map(lambda bound: threshold(max_=bound)),
    values=strategies.lists(finite, min_size=2, max_size=2),
    canary_samples=samples,
    baseline=usable_sides | unusable_sides,
)
def test_a_higher_canary_never_gets_a_better_verdict(
    judge: v1alpha1.ThresholdJudge,
    values: list[float],
    canary_samples: float | None,
    baseline: measurement.Side,
) -> None:
    lower, higher = sorted(values)
    before = run(judge, ok(lower, canary_samples), baseline)
    after = run(judge, ok(higher, canary_samples), baseline)
    assert RANK[after.verdict] >= RANK[before.verdict]


@PROPERTY
@hypothesis.given(
    judge=finite.map(lambda bound: threshold(min_=bound)),
    values=strategies.lists(finite, min_size=2, max_size=2),
)
def test_a_lower_canary_never_gets_a_better_verdict_against_a_minimum(
    judge: v1alpha1.ThresholdJudge, values: list[float]
) -> None:
    lower, higher = sorted(values)
    assert RANK[run(judge, ok(lower)).verdict] >= RANK[run(judge, ok(higher)).verdict]


# --- synthetic checks -----------------------------------------------------------------------------------


def check(canary: measurement.Side, baseline: measurement.Side) -> judgement.Judgement:
    return judges.judge_check(0.99, measurement.Measurement(name="journey", canary=canary, baseline=baseline))


@pytest.mark.parametrize(
    ("canary", "baseline", "verdict", "reason"),
    [
        (ok(1.0), ok(1.0), PASS, R.WITHIN_THRESHOLD),
        (ok(1.0), ok(0.0), PASS, R.WITHIN_THRESHOLD),
        (ok(0.0), ok(1.0), FAIL, R.BELOW_MINIMUM),
        (ok(0.0), gone(), FAIL, R.BELOW_MINIMUM),  # no stable pods to call (the bake): the canary alone
        (ok(0.0), ok(0.2), INCONCLUSIVE, R.GLOBAL_ANOMALY),
        (ok(0.5), ok(0.98), INCONCLUSIVE, R.GLOBAL_ANOMALY),
        (gone(), ok(1.0), INCONCLUSIVE, R.NO_DATA),
    ],
)
def test_a_check_fails_the_canary_only_when_the_stable_pods_pass_it_or_were_not_called(
    canary: measurement.Side, baseline: measurement.Side, verdict: v1alpha1.Verdict, reason: judgement.Reason
) -> None:
    judged = check(canary, baseline)
    assert (judged.verdict, judged.reason) == (verdict, reason), judged.message


def test_a_check_failing_everywhere_says_it_is_not_the_release() -> None:
    judged = check(ok(0.0), ok(0.4))
    assert judged.message == "not the release: the stable pods fail it too (baseline 0.4 < min 0.99)"
    assert (judged.canary, judged.baseline) == (0.0, 0.4)


@PROPERTY
@hypothesis.given(
    values=strategies.lists(strategies.floats(min_value=0, max_value=1), min_size=2, max_size=2),
    baseline=strategies.floats(min_value=0, max_value=1),
)
def test_a_lower_canary_success_ratio_never_gets_a_better_check_verdict(
    values: list[float], baseline: float
) -> None:
    lower, higher = sorted(values)
    assert RANK[check(ok(lower), ok(baseline)).verdict] >= RANK[check(ok(higher), ok(baseline)).verdict]
