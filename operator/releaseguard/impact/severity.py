"""A failed release's severity, SEV1 to SEV4, from its impact, by rules that are data.

Who gets paged for a bad release is a policy, and policies change: it belongs in the spec, where a team
can read and override it, not in conditions scattered through the code. A rule names a severity and the
conditions it needs (a share of requests hurt, a burn rate, a business drop, a stage); every condition
it sets must hold, a fact that is unknown (no burnRate judge, no business metric) matches none, and the
most severe matching rule wins. No match is SEV4: a failure is never nothing.

The defaults follow the SRE workbook's alerting thresholds: a burn rate of 14.4 spends 2% of a 30-day
budget in an hour and pages; 6 spends 5% in six hours. A share of all requests hurt is the plainest
measure of customers affected. The bake stage ranks higher because every request then meets the new
revision: the same excess hurts ten times as many customers as at a 10% canary, and the rollback takes
a rollout rather than a scale-down.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from releaseguard.models import v1alpha1

_SEV1, _SEV2, _SEV3, _SEV4 = (
    v1alpha1.Severity.SEV1,
    v1alpha1.Severity.SEV2,
    v1alpha1.Severity.SEV3,
    v1alpha1.Severity.SEV4,
)
_Rule = v1alpha1.SeverityRule

DEFAULT_RULES: tuple[v1alpha1.SeverityRule, ...] = (
    _Rule(severity=_SEV1, min_affected_share=0.05),
    _Rule(severity=_SEV1, min_burn_rate=14.4),
    _Rule(severity=_SEV1, min_business_drop=0.1),
    _Rule(severity=_SEV2, min_affected_share=0.01),
    _Rule(severity=_SEV2, min_burn_rate=6),
    _Rule(severity=_SEV2, min_business_drop=0.02),
    _Rule(severity=_SEV2, min_affected_share=0.001, stage=v1alpha1.Stage.BAKE),
    _Rule(severity=_SEV3, min_affected_share=0.001),
    _Rule(severity=_SEV3, min_burn_rate=1),
    _Rule(severity=_SEV3, stage=v1alpha1.Stage.BAKE),
)
"""The rules when the spec sets none; `v1alpha1.Impact.severity_rules` documents them for users."""

_ORDER = {severity: rank for rank, severity in enumerate(v1alpha1.Severity)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Facts:
    """What the rules look at; None where it is unknown."""

    affected_share: float
    burn_rate: float | None
    business_drop: float | None
    stage: v1alpha1.Stage


@dataclasses.dataclass(frozen=True, kw_only=True)
class Assessed:
    severity: v1alpha1.Severity
    because: str
    """The matching rule's conditions with the facts that met them, e.g. "1.3% of requests hurt ≥ 1%"."""


def assess(facts: Facts, rules: Sequence[v1alpha1.SeverityRule] = ()) -> Assessed:
    """The most severe rule the facts match, of `rules` or, when empty, of DEFAULT_RULES."""
    matched = [rule for rule in rules or DEFAULT_RULES if _matches(rule, facts)]
    if not matched:
        return Assessed(severity=_SEV4, because="no severity rule matched")
    worst = min(matched, key=lambda rule: _ORDER[rule.severity])
    return Assessed(severity=worst.severity, because=_explain(worst, facts))


def _matches(rule: v1alpha1.SeverityRule, facts: Facts) -> bool:
    return (
        _at_least(facts.affected_share, rule.min_affected_share)
        and _at_least(facts.burn_rate, rule.min_burn_rate)
        and _at_least(facts.business_drop, rule.min_business_drop)
        and (rule.stage is None or rule.stage == facts.stage)
    )


def _at_least(fact: float | None, minimum: float | None) -> bool:
    return minimum is None or (fact is not None and fact >= minimum)


def _explain(rule: v1alpha1.SeverityRule, facts: Facts) -> str:
    parts = []
    if rule.min_affected_share is not None:
        hurt, minimum = _percent(facts.affected_share), _percent(rule.min_affected_share)
        parts.append(f"{hurt} of requests hurt ≥ {minimum}")
    if rule.min_burn_rate is not None and facts.burn_rate is not None:
        parts.append(f"burn rate {facts.burn_rate:.3g} ≥ {rule.min_burn_rate:g}")
    if rule.min_business_drop is not None and facts.business_drop is not None:
        parts.append(
            f"a business metric {_percent(facts.business_drop)} worse ≥ {_percent(rule.min_business_drop)}"
        )
    if rule.stage is not None:
        parts.append(f"during the {rule.stage.value}")
    return ", ".join(parts) or "a rule without conditions"


def _percent(share: float) -> str:
    return f"{share * 100:.3g}%"
