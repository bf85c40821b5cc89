"""Severity: the most severe matching rule, defaults and rules from the spec."""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.impact import severity
from releaseguard.models import v1alpha1

SEV1, SEV2, SEV3, SEV4 = (
    v1alpha1.Severity.SEV1,
    v1alpha1.Severity.SEV2,
    v1alpha1.Severity.SEV3,
    v1alpha1.Severity.SEV4,
)
CANARY, BAKE = v1alpha1.Stage.CANARY, v1alpha1.Stage.BAKE
RANK = {SEV1: 1, SEV2: 2, SEV3: 3, SEV4: 4}


def facts(
    share: float = 0.0,
    *,
    burn: float | None = None,
    business: float | None = None,
    stage: v1alpha1.Stage = CANARY,
) -> severity.Facts:
    return severity.Facts(affected_share=share, burn_rate=burn, business_drop=business, stage=stage)


@pytest.mark.parametrize(
    ("given", "expected", "because"),
    [
        (facts(0.06), SEV1, "6% of requests hurt ≥ 5%"),
        (facts(0.0, burn=20), SEV1, "burn rate 20 ≥ 14.4"),
        (facts(0.0, business=0.12), SEV1, "a business metric 12% worse ≥ 10%"),
        (facts(0.013), SEV2, "1.3% of requests hurt ≥ 1%"),
        (facts(0.002, stage=BAKE), SEV2, "0.2% of requests hurt ≥ 0.1%, during the bake"),
        (facts(0.002), SEV3, "0.2% of requests hurt ≥ 0.1%"),
        (facts(0.0, stage=BAKE), SEV3, "during the bake"),
        (facts(0.0, burn=0.5), SEV4, "no severity rule matched"),
    ],
)
def test_the_default_rules(given: severity.Facts, expected: v1alpha1.Severity, because: str) -> None:
    assessed = severity.assess(given)
    assert assessed.severity == expected
    assert assessed.because == because


def test_rules_from_the_spec_replace_the_defaults() -> None:
    rules = (
        v1alpha1.SeverityRule(severity=SEV2, min_burn_rate=2, stage=BAKE),
        v1alpha1.SeverityRule(severity=SEV1, min_affected_share=0.5),
    )
    assert severity.assess(facts(0.06), rules).severity == SEV4
    assert severity.assess(facts(0.0, burn=3, stage=BAKE), rules).severity == SEV2
    assert severity.assess(facts(0.0, burn=3, stage=CANARY), rules).severity == SEV4
    assert severity.assess(facts(0.6, burn=3, stage=BAKE), rules).severity == SEV1


def test_an_unknown_fact_matches_no_condition_on_it() -> None:
    rules = (v1alpha1.SeverityRule(severity=SEV1, min_burn_rate=0.1),)
    assert severity.assess(facts(1.0, burn=None), rules).severity == SEV4


def test_the_rules_parse_from_the_spec() -> None:
    impact = v1alpha1.Impact.model_validate(
        {"severityRules": [{"severity": "SEV2", "minAffectedShare": 0.02, "stage": "bake"}]}
    )
    expected = v1alpha1.SeverityRule(severity=SEV2, min_affected_share=0.02, stage=BAKE)
    assert impact.severity_rules == (expected,)


@hypothesis.given(
    share=strategies.floats(0, 1),
    more=strategies.floats(0, 1),
    burn=strategies.none() | strategies.floats(0, 100),
    business=strategies.none() | strategies.floats(0, 1),
    stage=strategies.sampled_from([CANARY, BAKE]),
)
def test_more_impact_is_never_less_severe(
    share: float, more: float, burn: float | None, business: float | None, stage: v1alpha1.Stage
) -> None:
    milder = severity.assess(facts(share, burn=burn, business=business, stage=stage))
    worse = severity.assess(facts(min(share + more, 1.0), burn=burn, business=business, stage=BAKE))
    assert RANK[worse.severity] <= RANK[milder.severity]
