"""The decision for a ReleaseValidation, table-driven from literal observations."""

from __future__ import annotations

import datetime
import pathlib

import pytest
import yaml

from releaseguard.kube import observe
from releaseguard.models import conditions, v1alpha1
from releaseguard.rollout import decide, observation

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "rv"
SPEC = v1alpha1.ReleaseValidationSpec.model_validate(
    yaml.safe_load((FIXTURES / "valid-design-example.yaml").read_text())["spec"]
)
T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
LATER = T0 + datetime.timedelta(minutes=5)
EMPTY = v1alpha1.ReleaseValidationStatus()

FOUND = observation.TargetObservation(
    namespace="shop", name="checkout", exists=True, replicas=3, ready_replicas=2
)
MISSING = observation.TargetObservation(namespace="shop", name="checkout", exists=False)


def observed(target: observation.TargetObservation | None, *, generation: int = 1) -> observation.Observed:
    return observation.Observed(generation=generation, target=target)


def ready(status: v1alpha1.ReleaseValidationStatus) -> conditions.Condition:
    condition = conditions.find(status.conditions, condition_type=conditions.ConditionType.READY)
    assert condition is not None
    return condition


@pytest.mark.parametrize(
    ("spec", "target", "phase", "ready_status", "reason", "message"),
    [
        (SPEC, FOUND, "Idle", "True", "TargetFound", "Deployment shop/checkout found (2/3 replicas ready)"),
        (SPEC, MISSING, "Degraded", "False", "TargetNotFound", "Deployment shop/checkout not found"),
        (SPEC, None, "Degraded", "False", "TargetNotFound", "Deployment checkout not found"),
        (
            decide.InvalidSpec(message="spec.steps: weights must increase"),
            None,
            "Degraded",
            "False",
            "InvalidSpec",
            "spec.steps: weights must increase",
        ),
    ],
)
def test_first_decision(spec, target, phase, ready_status, reason, message) -> None:
    plan = decide.decide(spec=spec, status=EMPTY, observed=observed(target, generation=3), now=T0)

    assert plan.status.phase == phase
    assert plan.status.observed_generation == 3
    assert plan.status.message == message
    condition = ready(plan.status)
    assert (condition.status, condition.reason, condition.message) == (ready_status, reason, message)
    assert condition.observed_generation == 3
    assert condition.last_transition_time == T0


def test_same_observation_later_changes_nothing() -> None:
    first = decide.decide(spec=SPEC, status=EMPTY, observed=observed(FOUND), now=T0).status
    again = decide.decide(spec=SPEC, status=first, observed=observed(FOUND), now=LATER).status
    assert again == first


def test_transition_time_moves_only_when_ready_flips() -> None:
    missing = decide.decide(spec=SPEC, status=EMPTY, observed=observed(MISSING), now=T0).status
    found = decide.decide(spec=SPEC, status=missing, observed=observed(FOUND), now=LATER).status
    assert ready(found).last_transition_time == LATER

    other_counts = observation.TargetObservation(
        namespace="shop", name="checkout", exists=True, replicas=3, ready_replicas=3
    )
    recounted = decide.decide(
        spec=SPEC, status=found, observed=observed(other_counts), now=LATER + datetime.timedelta(minutes=1)
    ).status
    assert ready(recounted).last_transition_time == LATER
    assert "3/3" in ready(recounted).message


def test_new_generation_is_recorded() -> None:
    first = decide.decide(spec=SPEC, status=EMPTY, observed=observed(FOUND, generation=1), now=T0).status
    second = decide.decide(spec=SPEC, status=first, observed=observed(FOUND, generation=2), now=LATER).status
    assert second.observed_generation == 2
    assert ready(second).observed_generation == 2


def test_other_conditions_are_kept() -> None:
    healthy = conditions.Condition(
        type=conditions.ConditionType.HEALTHY,
        status=conditions.ConditionStatus.UNKNOWN,
        reason=conditions.Reason.ANALYSIS_INCONCLUSIVE,
        last_transition_time=T0,
    )
    status = v1alpha1.ReleaseValidationStatus(conditions=(healthy,))
    plan = decide.decide(spec=SPEC, status=status, observed=observed(FOUND), now=LATER)
    assert healthy in plan.status.conditions


def test_deployment_observation_reads_the_fields_decide_needs() -> None:
    deployment = {
        "metadata": {"namespace": "shop", "name": "checkout", "generation": 4},
        "spec": {
            "replicas": 5,
            "paused": True,
            "template": {"spec": {"containers": [{"name": "app", "image": "shop/checkout:1.1"}]}},
        },
        "status": {"readyReplicas": 4},
    }
    assert observe.target_from_deployment(deployment) == observation.TargetObservation(
        namespace="shop",
        name="checkout",
        exists=True,
        replicas=5,
        ready_replicas=4,
        paused=True,
        images=("shop/checkout:1.1",),
    )


def test_deployment_without_status_has_no_ready_replicas() -> None:
    deployment = {"metadata": {"namespace": "shop", "name": "checkout"}, "spec": {}}
    target = observe.target_from_deployment(deployment)
    assert (target.replicas, target.ready_replicas, target.paused, target.images) == (1, 0, False, ())
