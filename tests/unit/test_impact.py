"""Impact assessment: requests hurt, share of traffic, business drop, from the metrics' evidence."""

from __future__ import annotations

import math

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.impact import assessment

ERRORS = assessment.Evidence(
    name="error-rate", failed=True, canary=0.05, baseline=0.01, bad=50, total=1000, expected_share=0.01
)
# Of 1000 canary requests, 300 were slower than the baseline's p90, where 10% would be.
LATENCY = assessment.Evidence(
    name="latency", failed=True, canary=0.6, baseline=0.2, bad=300, total=1000, expected_share=0.1
)


def test_a_failing_error_ratio_hurts_its_excess_of_requests() -> None:
    impact = assessment.assess(evidence=[ERRORS], business=[], traffic_share=0.1)
    assert impact.affected_requests == pytest.approx(40)
    assert impact.affected_share == pytest.approx(0.004)
    (metric,) = impact.metrics
    assert metric.change == pytest.approx(4.0)
    assert metric.affected_share == pytest.approx(0.04)
    assert impact.business_drop is None


def test_metrics_failing_together_count_once_the_worst() -> None:
    impact = assessment.assess(evidence=[ERRORS, LATENCY], business=[], traffic_share=0.5)
    assert impact.affected_requests == pytest.approx(200)
    assert impact.affected_share == pytest.approx(0.1)


def test_passing_metrics_are_reported_but_hurt_nobody() -> None:
    passing = assessment.Evidence(
        name="error-rate", failed=False, canary=0.05, baseline=0.01, bad=50, total=1000, expected_share=0.01
    )
    impact = assessment.assess(evidence=[passing], business=[], traffic_share=1.0)
    assert impact.affected_requests == 0
    assert impact.affected_share == 0
    assert impact.metrics[0].affected_requests == pytest.approx(40)


def test_a_business_drop_counts_the_events_lost() -> None:
    checkout = assessment.Evidence(
        name="checkout-success",
        failed=False,
        higher_is_worse=False,
        canary=0.72,
        baseline=0.9,
        bad=720,
        total=1000,
        expected_share=0.9,
    )
    impact = assessment.assess(evidence=[], business=[checkout], traffic_share=0.2)
    assert impact.business_drop == pytest.approx(0.2)
    assert impact.business[0].affected_requests == pytest.approx(180)


def test_a_gauge_gets_its_change_and_no_share() -> None:
    memory = assessment.Evidence(name="memory", failed=True, canary=300.0, baseline=200.0)
    impact = assessment.assess(evidence=[memory], business=[], traffic_share=0.1)
    assert impact.metrics[0].change == pytest.approx(0.5)
    assert impact.metrics[0].affected_share is None
    assert impact.affected_share == 0


@pytest.mark.parametrize("share", [-1.0, 2.0, math.nan, math.inf])
def test_the_traffic_share_is_a_share(share: float) -> None:
    impact = assessment.assess(evidence=[ERRORS], business=[], traffic_share=share)
    assert 0 <= impact.affected_share <= 1


@pytest.mark.parametrize(
    "evidence",
    [
        assessment.Evidence(name="m", failed=True),
        assessment.Evidence(name="m", failed=True, canary=math.nan, baseline=0.0, bad=math.nan, total=0.0),
        assessment.Evidence(name="m", failed=True, baseline=1.0, bad=5, total=0, expected_share=0),
        assessment.Evidence(
            name="m", failed=True, canary=math.inf, baseline=1.0, bad=math.inf, total=10, expected_share=0
        ),
    ],
)
def test_missing_or_broken_numbers_give_no_figure_rather_than_a_crash(evidence: assessment.Evidence) -> None:
    impact = assessment.assess(evidence=[evidence], business=[evidence], traffic_share=1.0)
    assert impact.affected_requests == 0
    assert impact.business_drop is None


@hypothesis.given(
    bad=strategies.integers(0, 1000),
    more=strategies.integers(0, 1000),
    expected=strategies.floats(0, 1),
    share=strategies.floats(0, 1),
)
def test_more_bad_requests_never_hurt_fewer_customers(
    bad: int, more: int, expected: float, share: float
) -> None:
    def hurt(count: int) -> float:
        evidence = assessment.Evidence(name="m", failed=True, bad=count, total=2000, expected_share=expected)
        return assessment.assess(evidence=[evidence], business=[], traffic_share=share).affected_share

    assert hurt(bad + more) >= hurt(bad)
    assert 0 <= hurt(bad) <= 1
