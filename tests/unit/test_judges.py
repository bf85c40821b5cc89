"""Judges: literal measurements in, a verdict with its reason and evidence out."""

from __future__ import annotations

import math
import typing

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.analysis import judges, measurement
from releaseguard.models import v1alpha1

PASS, FAIL, INCONCLUSIVE = v1alpha1.Verdict.PASS, v1alpha1.Verdict.FAIL, v1alpha1.Verdict.INCONCLUSIVE
R = judges.Reason
NO_DATA = measurement.Unavailable.NO_DATA
PROVIDER_UNAVAILABLE = measurement.Unavailable.PROVIDER_UNAVAILABLE
QUERY_ERROR = measurement.Unavailable.QUERY_ERROR


def ok(value: float, samples: float | None = None) -> measurement.Side:
    return measurement.Side(value=value, samples=samples)


def gone(reason: measurement.Unavailable = NO_DATA, detail: str = "") -> measurement.Side:
    return measurement.Side(unavailable=reason, detail=detail)


def threshold(min_: float | None = None, max_: float | None = None) -> v1alpha1.ThresholdJudge:
    return v1alpha1.ThresholdJudge(type="threshold", min=min_, max=max_)


def compare(
    relative: float | None = None, absolute: float | None = None, min_samples: int | None = None
) -> v1alpha1.CompareJudge:
    return v1alpha1.CompareJudge(
        type="compare", max_relative_increase=relative, max_absolute=absolute, min_samples=min_samples
    )


def run(
    judge: v1alpha1.ThresholdJudge | v1alpha1.CompareJudge,
    canary: measurement.Side,
    baseline: measurement.Side | None = None,
) -> judges.Judgement:
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
    reason: judges.Reason,
    message: str,
) -> None:
    judgement = run(judge, canary, ok(123))
    assert (judgement.verdict, judgement.reason, judgement.message) == (verdict, reason, message)
    assert judgement.baseline == 123  # reported for contrast; the verdict looks at the canary alone


def test_threshold_evidence_carries_the_value_and_the_rule() -> None:
    assert run(BAND, ok(2)) == judges.Judgement(
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
    judgement = run(MAX, ok(math.nan))
    assert judgement.canary is None
    assert judgement.threshold == "max 0.01"


# --- compare --------------------------------------------------------------------------------------------

BOTH = compare(0.5, 0.01)  # the design example
RELATIVE = compare(0.5)
ABSOLUTE = compare(absolute=0.01)
SAMPLES = compare(0.5, 0.01, min_samples=100)
FLOOR_ONE = compare(0.5, 10)  # noise floor 1.0, exact in binary


@pytest.mark.parametrize(
    ("judge", "canary", "baseline", "verdict", "reason", "message"),
    [
        # relative only
        pytest.param(
            RELATIVE,
            ok(0.102),
            ok(0.001),
            FAIL,
            R.RELATIVE_INCREASE_EXCEEDED,
            "canary 0.102 vs baseline 0.001: +10100% > +50% allowed",
            id="relative-exceeded",
        ),
        pytest.param(
            RELATIVE,
            ok(3),
            ok(2),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 3 vs baseline 2: +50% ≤ +50% allowed",
            id="relative-exactly-at-limit",
        ),
        pytest.param(
            RELATIVE,
            ok(3.000001),
            ok(2),
            FAIL,
            R.RELATIVE_INCREASE_EXCEEDED,
            "canary 3 vs baseline 2: +50% > +50% allowed",
            id="relative-just-over",
        ),
        pytest.param(
            RELATIVE,
            ok(1),
            ok(2),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 1 vs baseline 2: -50% ≤ +50% allowed",
            id="canary-better",
        ),
        pytest.param(
            compare(0.2),
            ok(0.4),
            ok(0.25),
            FAIL,
            R.RELATIVE_INCREASE_EXCEEDED,
            "canary 0.4 vs baseline 0.25: +60% > +20% allowed",
            id="latency-slower",
        ),
        pytest.param(
            compare(0),
            ok(2),
            ok(2),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 2 vs baseline 2: +0% ≤ +0% allowed",
            id="zero-tolerance-equal",
        ),
        pytest.param(
            RELATIVE,
            ok(0.0003),
            ok(0.0001),
            FAIL,
            R.RELATIVE_INCREASE_EXCEEDED,
            "canary 0.0003 vs baseline 0.0001: +200% > +50% allowed",
            id="tiny-values-without-noise-floor",
        ),
        pytest.param(
            RELATIVE,
            ok(0),
            ok(0),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 0 vs baseline 0: +0 ≤ +0 allowed",
            id="zero-baseline-zero-canary",
        ),
        pytest.param(
            RELATIVE,
            ok(0.001),
            ok(0),
            FAIL,
            R.RELATIVE_INCREASE_EXCEEDED,
            "canary 0.001 vs baseline 0: +0.001 > +0 allowed",
            id="zero-baseline",
        ),
        pytest.param(
            RELATIVE,
            ok(-6),
            ok(-10),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary -6 vs baseline -10: +40% ≤ +50% allowed",
            id="negative-gauge-within",
        ),
        pytest.param(
            RELATIVE,
            ok(-4),
            ok(-10),
            FAIL,
            R.RELATIVE_INCREASE_EXCEEDED,
            "canary -4 vs baseline -10: +60% > +50% allowed",
            id="negative-gauge-exceeded",
        ),
        # absolute only
        pytest.param(
            ABSOLUTE,
            ok(0.01),
            ok(0.0001),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 0.01 ≤ maxAbsolute 0.01",
            id="exactly-absolute",
        ),
        pytest.param(
            ABSOLUTE,
            ok(0.0101),
            ok(0.02),
            FAIL,
            R.ABSOLUTE_LIMIT_EXCEEDED,
            "canary 0.0101 > maxAbsolute 0.01",
            id="absolute-exceeded-whatever-the-baseline",
        ),
        pytest.param(
            ABSOLUTE,
            ok(0.005),
            gone(PROVIDER_UNAVAILABLE),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 0.005 ≤ maxAbsolute 0.01",
            id="absolute-needs-no-baseline",
        ),
        # both: the relative rule above a noise floor of maxAbsolute / 10, the ceiling always
        pytest.param(
            BOTH,
            ok(0.102),
            ok(0.001),
            FAIL,
            R.ABSOLUTE_LIMIT_EXCEEDED,
            "canary 0.102 > maxAbsolute 0.01",
            id="both-ceiling-first",
        ),
        pytest.param(
            BOTH,
            ok(0.02),
            ok(0.03),
            FAIL,
            R.ABSOLUTE_LIMIT_EXCEEDED,
            "canary 0.02 > maxAbsolute 0.01",
            id="ceiling-even-when-better-than-baseline",
        ),
        pytest.param(
            BOTH,
            ok(0.0003),
            ok(0.0001),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 0.0003 vs baseline 0.0001: +200% > +50% allowed, but the increase +0.0002 ≤ the noise"
            " floor 0.001 (maxAbsolute / 10); canary 0.0003 ≤ maxAbsolute 0.01",
            id="tiny-values-are-noise",
        ),
        pytest.param(
            BOTH,
            ok(0.005),
            ok(0.001),
            FAIL,
            R.RELATIVE_INCREASE_EXCEEDED,
            "canary 0.005 vs baseline 0.001: +400% > +50% allowed, and the increase +0.004 > the noise"
            " floor 0.001 (maxAbsolute / 10)",
            id="under-ceiling-but-clearly-worse",
        ),
        pytest.param(
            BOTH,
            ok(0.0012),
            ok(0.001),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 0.0012 vs baseline 0.001: +20% ≤ +50% allowed; canary 0.0012 ≤ maxAbsolute 0.01",
            id="both-within",
        ),
        pytest.param(
            BOTH,
            ok(0.009),
            ok(0.008),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 0.009 vs baseline 0.008: +12.5% ≤ +50% allowed; canary 0.009 ≤ maxAbsolute 0.01",
            id="large-baseline-relative-governs",
        ),
        pytest.param(
            BOTH,
            ok(0.0005),
            ok(0),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 0.0005 vs baseline 0: +0.0005 ≤ +0.001 allowed (the noise floor, maxAbsolute / 10);"
            " canary 0.0005 ≤ maxAbsolute 0.01",
            id="zero-baseline-under-noise-floor",
        ),
        pytest.param(
            BOTH,
            ok(0.002),
            ok(0),
            FAIL,
            R.RELATIVE_INCREASE_EXCEEDED,
            "canary 0.002 vs baseline 0: +0.002 > +0.001 allowed (the noise floor, maxAbsolute / 10)",
            id="zero-baseline-over-noise-floor",
        ),
        pytest.param(
            FLOOR_ONE,
            ok(1.25),
            ok(0.25),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 1.25 vs baseline 0.25: +400% > +50% allowed, but the increase +1 ≤ the noise floor 1"
            " (maxAbsolute / 10); canary 1.25 ≤ maxAbsolute 10",
            id="exactly-at-noise-floor",
        ),
        pytest.param(
            FLOOR_ONE,
            ok(1.375),
            ok(0.25),
            FAIL,
            R.RELATIVE_INCREASE_EXCEEDED,
            "canary 1.375 vs baseline 0.25: +450% > +50% allowed, and the increase +1.125 > the noise floor 1"
            " (maxAbsolute / 10)",
            id="just-over-noise-floor",
        ),
        # a side without a usable value
        pytest.param(
            BOTH,
            gone(NO_DATA, "no series"),
            ok(0.001),
            INCONCLUSIVE,
            R.NO_DATA,
            "canary unavailable: NoData (no series)",
            id="canary-no-data",
        ),
        pytest.param(
            ABSOLUTE,
            gone(PROVIDER_UNAVAILABLE),
            ok(0.001),
            INCONCLUSIVE,
            R.PROVIDER_UNAVAILABLE,
            "canary unavailable: ProviderUnavailable",
            id="canary-provider-unavailable",
        ),
        pytest.param(
            RELATIVE,
            ok(math.nan),
            ok(0.001),
            INCONCLUSIVE,
            R.QUERY_ERROR,
            "canary value is nan, not a finite number",
            id="canary-nan",
        ),
        pytest.param(
            BOTH,
            ok(0.005),
            gone(PROVIDER_UNAVAILABLE, "connection refused"),
            INCONCLUSIVE,
            R.PROVIDER_UNAVAILABLE,
            "baseline unavailable: ProviderUnavailable (connection refused), so the relative increase cannot"
            " be judged",
            id="baseline-unavailable",
        ),
        pytest.param(
            BOTH,
            ok(0.5),
            gone(NO_DATA),
            FAIL,
            R.ABSOLUTE_LIMIT_EXCEEDED,
            "canary 0.5 > maxAbsolute 0.01",
            id="baseline-unavailable-but-ceiling-decides",
        ),
        pytest.param(
            RELATIVE,
            ok(0.005),
            ok(math.inf),
            INCONCLUSIVE,
            R.QUERY_ERROR,
            "baseline value is inf, not a finite number, so the relative increase cannot be judged",
            id="baseline-inf",
        ),
        pytest.param(
            compare(0.5, math.nan),
            ok(0.005),
            ok(0.001),
            INCONCLUSIVE,
            R.INVALID_JUDGE,
            "the judge's maxAbsolute is NaN, which no value can be compared with",
            id="nan-bound",
        ),
        # minSamples
        pytest.param(
            SAMPLES,
            ok(0.001, samples=50),
            ok(0.001, samples=5000),
            INCONCLUSIVE,
            R.TOO_FEW_SAMPLES,
            "canary 50 samples < minSamples 100",
            id="canary-too-few",
        ),
        pytest.param(
            SAMPLES,
            ok(0.001, samples=5000),
            ok(0.001, samples=99),
            INCONCLUSIVE,
            R.TOO_FEW_SAMPLES,
            "baseline 99 samples < minSamples 100",
            id="baseline-too-few",
        ),
        pytest.param(
            SAMPLES,
            ok(0.001, samples=3),
            ok(0.001, samples=4),
            INCONCLUSIVE,
            R.TOO_FEW_SAMPLES,
            "canary 3 samples < minSamples 100; baseline 4 samples < minSamples 100",
            id="both-too-few",
        ),
        pytest.param(
            SAMPLES,
            ok(0.5, samples=10),
            ok(0.001, samples=5000),
            INCONCLUSIVE,
            R.TOO_FEW_SAMPLES,
            "canary 10 samples < minSamples 100",
            id="too-few-even-over-the-ceiling",
        ),
        pytest.param(
            SAMPLES,
            ok(0.001, samples=100),
            ok(0.001, samples=100),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 0.001 vs baseline 0.001: +0% ≤ +50% allowed; canary 0.001 ≤ maxAbsolute 0.01",
            id="exactly-min-samples",
        ),
        pytest.param(
            SAMPLES,
            ok(0.001),
            ok(0.001),
            PASS,
            R.WITHIN_TOLERANCE,
            "canary 0.001 vs baseline 0.001: +0% ≤ +50% allowed; canary 0.001 ≤ maxAbsolute 0.01",
            id="samples-unknown",
        ),
        pytest.param(
            SAMPLES,
            gone(NO_DATA),
            ok(0.001, samples=1),
            INCONCLUSIVE,
            R.NO_DATA,
            "canary unavailable: NoData",
            id="canary-unavailable-before-samples",
        ),
    ],
)
def test_compare(
    judge: v1alpha1.CompareJudge,
    canary: measurement.Side,
    baseline: measurement.Side,
    verdict: v1alpha1.Verdict,
    reason: judges.Reason,
    message: str,
) -> None:
    judgement = run(judge, canary, baseline)
    assert (judgement.verdict, judgement.reason, judgement.message) == (verdict, reason, message)


def test_compare_evidence_carries_both_values_and_the_rule() -> None:
    assert run(SAMPLES, ok(0.005, samples=400), ok(0.001, samples=4000)) == judges.Judgement(
        verdict=FAIL,
        reason=R.RELATIVE_INCREASE_EXCEEDED,
        message="canary 0.005 vs baseline 0.001: +400% > +50% allowed, and the increase +0.004 > the noise"
        " floor 0.001 (maxAbsolute / 10)",
        canary=0.005,
        baseline=0.001,
        threshold="maxRelativeIncrease 0.5, maxAbsolute 0.01, minSamples 100",
    )


def test_an_inconclusive_compare_still_reports_the_side_that_was_measured() -> None:
    judgement = run(BOTH, gone(), ok(0.001))
    assert (judgement.canary, judgement.baseline) == (None, 0.001)


def test_every_unavailable_reason_is_a_judge_reason() -> None:
    for unavailable in measurement.Unavailable:
        judgement = run(MAX, gone(unavailable))
        assert judgement.reason == unavailable.value
        assert isinstance(judgement.reason, judges.Reason)


def test_every_judge_type_of_the_api_has_a_judge() -> None:
    (union, *_) = typing.get_args(v1alpha1.Judge)
    assert set(judges._JUDGES) == set(typing.get_args(union))


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


@strategies.composite
def compare_judges(draw: strategies.DrawFn) -> v1alpha1.CompareJudge:
    relative = draw(strategies.none() | non_negative)
    absolute = draw(finite if relative is None else strategies.none() | finite)
    min_samples = draw(strategies.none() | strategies.integers(min_value=1, max_value=1000))
    return compare(relative, absolute, min_samples)


usable_sides = strategies.builds(measurement.Side, value=finite, samples=samples)
unusable_sides = strategies.builds(
    measurement.Side,
    unavailable=strategies.sampled_from(measurement.Unavailable),
    detail=strategies.sampled_from(["", "connection refused"]),
) | strategies.builds(
    measurement.Side, value=strategies.sampled_from([math.nan, math.inf, -math.inf]), samples=samples
)
any_judge = threshold_judges() | compare_judges()
RANK = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}


@PROPERTY
@hypothesis.given(judge=any_judge, canary=unusable_sides, baseline=usable_sides | unusable_sides)
def test_a_canary_without_a_usable_value_is_never_judged(
    judge: v1alpha1.ThresholdJudge | v1alpha1.CompareJudge,
    canary: measurement.Side,
    baseline: measurement.Side,
) -> None:
    judgement = run(judge, canary, baseline)
    assert judgement.verdict == INCONCLUSIVE
    assert judgement.reason in {R.NO_DATA, R.PROVIDER_UNAVAILABLE, R.QUERY_ERROR}
    assert judgement.canary is None


@PROPERTY
@hypothesis.given(
    judge=any_judge, canary=usable_sides | unusable_sides, baseline=usable_sides | unusable_sides
)
def test_a_pass_rests_on_finite_values_and_every_judgement_explains_itself(
    judge: v1alpha1.ThresholdJudge | v1alpha1.CompareJudge,
    canary: measurement.Side,
    baseline: measurement.Side,
) -> None:
    judgement = run(judge, canary, baseline)
    assert judgement.message
    assert judgement.threshold
    if judgement.verdict == PASS:
        assert judgement.canary is not None
        assert math.isfinite(judgement.canary)
        if isinstance(judge, v1alpha1.CompareJudge) and judge.max_relative_increase is not None:
            assert judgement.baseline is not None


@PROPERTY
@hypothesis.given(
    judge=compare_judges() | finite.map(lambda bound: threshold(max_=bound)),
    values=strategies.lists(finite, min_size=2, max_size=2),
    canary_samples=samples,
    baseline=usable_sides | unusable_sides,
)
def test_a_higher_canary_never_gets_a_better_verdict(
    judge: v1alpha1.ThresholdJudge | v1alpha1.CompareJudge,
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


@PROPERTY
@hypothesis.given(relative=non_negative, value=finite, baseline=finite, headroom=non_negative)
def test_the_noise_floor_only_ever_forgives(
    relative: float, value: float, baseline: float, headroom: float
) -> None:
    """Adding a maxAbsolute the canary stays under can turn a relative Fail into a Pass, never the reverse."""
    ceiling = value + headroom
    relative_only = run(compare(relative), ok(value), ok(baseline))
    with_ceiling = run(compare(relative, ceiling), ok(value), ok(baseline))
    if relative_only.verdict == PASS:
        assert with_ceiling.verdict == PASS
    if with_ceiling.verdict == FAIL:
        assert relative_only.verdict == FAIL
        assert with_ceiling.reason == R.RELATIVE_INCREASE_EXCEEDED
        assert value - baseline > ceiling * judges.NOISE_FLOOR_FRACTION
