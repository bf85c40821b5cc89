"""The decision for a ReleaseValidation, table-driven from literal observations."""

from __future__ import annotations

import dataclasses
import datetime
import pathlib

import pytest
import yaml

from releaseguard.kube import observe
from releaseguard.models import conditions, v1alpha1
from releaseguard.rollout import decide, observation, plan

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "rv"
SPEC = v1alpha1.ReleaseValidationSpec.model_validate(
    yaml.safe_load((FIXTURES / "valid-design-example.yaml").read_text())["spec"]
)
T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
LATER = T0 + datetime.timedelta(minutes=5)
EMPTY = v1alpha1.ReleaseValidationStatus()

STABLE_RS = observation.ReplicaSetObservation(
    name="checkout-7d9f8", pod_template_hash="7d9f8", images={"app": "shop/checkout:1.0"}
)
SETTLED = observation.TargetObservation(
    namespace="shop",
    name="checkout",
    exists=True,
    replicas=3,
    ready_replicas=3,
    rollout_complete=True,
    current_replica_set=STABLE_RS,
)
ADOPTED = dataclasses.replace(SETTLED, paused=True, guarded_by="guard")
ROLLING = dataclasses.replace(SETTLED, ready_replicas=2, rollout_complete=False)
MISSING = observation.TargetObservation(namespace="shop", name="checkout", exists=False)
PAUSE = plan.PauseTarget(namespace="shop", name="checkout", guarded_by="guard")
STABLE = v1alpha1.Revision(
    template_hash="7d9f8", images={"app": "shop/checkout:1.0"}, replica_set="checkout-7d9f8"
)


def observed(target: observation.TargetObservation | None, *, generation: int = 1) -> observation.Observed:
    return observation.Observed(name="guard", generation=generation, target=target)


def ready(status: v1alpha1.ReleaseValidationStatus) -> conditions.Condition:
    condition = conditions.find(status.conditions, condition_type=conditions.ConditionType.READY)
    assert condition is not None
    return condition


ADOPTED_MESSAGE = (
    "Deployment shop/checkout is paused and guarded; stable revision checkout-7d9f8 (shop/checkout:1.0)"
)


@pytest.mark.parametrize(
    ("spec", "target", "phase", "ready_status", "reason", "message", "actions"),
    [
        (SPEC, SETTLED, "Idle", "True", "TargetAdopted", ADOPTED_MESSAGE, (PAUSE,)),
        (SPEC, ADOPTED, "Idle", "True", "TargetAdopted", ADOPTED_MESSAGE, (PAUSE,)),
        (
            SPEC,
            ROLLING,
            "Idle",
            "False",
            "TargetRollingOut",
            "Deployment shop/checkout is rolling out (2/3 ready); it is adopted once the rollout completes",
            (),
        ),
        (SPEC, MISSING, "Degraded", "False", "TargetNotFound", "Deployment shop/checkout not found", ()),
        (SPEC, None, "Degraded", "False", "TargetNotFound", "Deployment checkout not found", ()),
        (
            SPEC,
            dataclasses.replace(SETTLED, guarded_by="other"),
            "Degraded",
            "False",
            "TargetGuardedElsewhere",
            "Deployment shop/checkout is guarded by ReleaseValidation other",
            (),
        ),
        (
            decide.InvalidSpec(message="spec.steps: weights must increase"),
            None,
            "Degraded",
            "False",
            "InvalidSpec",
            "spec.steps: weights must increase",
            (),
        ),
    ],
    ids=[
        "adopt",
        "adopted-before-status-write",
        "wait-for-rollout",
        "missing",
        "no-target",
        "taken",
        "invalid",
    ],
)
def test_first_decision(spec, target, phase, ready_status, reason, message, actions) -> None:
    decision = decide.decide(spec=spec, status=EMPTY, observed=observed(target, generation=3), now=T0)

    assert decision.actions == actions
    assert decision.status.phase == phase
    assert decision.status.observed_generation == 3
    assert decision.status.message == message
    condition = ready(decision.status)
    assert (condition.status, condition.reason, condition.message) == (ready_status, reason, message)
    assert condition.observed_generation == 3
    assert condition.last_transition_time == T0


def test_adoption_records_the_running_revision_as_stable() -> None:
    decision = decide.decide(spec=SPEC, status=EMPTY, observed=observed(SETTLED), now=T0)
    assert decision.status.stable_revision == STABLE


def test_adopted_target_needs_no_action_and_no_status_change() -> None:
    first = decide.decide(spec=SPEC, status=EMPTY, observed=observed(SETTLED), now=T0).status
    again = decide.decide(spec=SPEC, status=first, observed=observed(ADOPTED), now=LATER)
    assert again.actions == ()
    assert again.status == first


def test_stable_revision_is_kept_once_recorded() -> None:
    first = decide.decide(spec=SPEC, status=EMPTY, observed=observed(SETTLED), now=T0).status
    newer_rs = observation.ReplicaSetObservation(name="checkout-new", pod_template_hash="new", images={})
    later = dataclasses.replace(ADOPTED, current_replica_set=newer_rs)
    assert (
        decide.decide(spec=SPEC, status=first, observed=observed(later), now=LATER).status.stable_revision
        == STABLE
    )


def test_target_unpaused_by_hand_is_paused_again() -> None:
    first = decide.decide(spec=SPEC, status=EMPTY, observed=observed(SETTLED), now=T0).status
    unpaused = dataclasses.replace(ADOPTED, paused=False)
    assert decide.decide(spec=SPEC, status=first, observed=observed(unpaused), now=LATER).actions == (PAUSE,)


def test_transition_time_moves_only_when_ready_flips() -> None:
    missing = decide.decide(spec=SPEC, status=EMPTY, observed=observed(MISSING), now=T0).status
    rolling = decide.decide(spec=SPEC, status=missing, observed=observed(ROLLING), now=LATER).status
    assert ready(rolling).last_transition_time == T0
    assert ready(rolling).reason == "TargetRollingOut"

    adopted = decide.decide(spec=SPEC, status=rolling, observed=observed(SETTLED), now=LATER).status
    assert ready(adopted).last_transition_time == LATER
    assert adopted.phase == "Idle"


def test_new_generation_is_recorded() -> None:
    first = decide.decide(spec=SPEC, status=EMPTY, observed=observed(ADOPTED, generation=1), now=T0).status
    second = decide.decide(
        spec=SPEC, status=first, observed=observed(ADOPTED, generation=2), now=LATER
    ).status
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
    decision = decide.decide(spec=SPEC, status=status, observed=observed(SETTLED), now=LATER)
    assert healthy in decision.status.conditions


@pytest.mark.parametrize(
    ("target", "actions"),
    [
        (ADOPTED, (plan.ReleaseTarget(namespace="shop", name="checkout"),)),
        (SETTLED, ()),
        (dataclasses.replace(ADOPTED, guarded_by="other"), ()),
        (MISSING, ()),
        (None, ()),
    ],
    ids=["ours", "never-adopted", "someone-elses", "missing", "no-target"],
)
def test_release_hands_back_only_our_own_target(target, actions) -> None:
    assert decide.release(observed=observed(target)) == actions


def deployment(**status: int) -> dict:
    return {
        "metadata": {
            "namespace": "shop",
            "name": "checkout",
            "uid": "d-1",
            "generation": 4,
            "annotations": {observation.GUARDED_BY_ANNOTATION: "guard"},
        },
        "spec": {"replicas": 3, "paused": True, "selector": {"matchLabels": {"app": "checkout"}}},
        "status": {"observedGeneration": 4, **status},
    }


def replica_set(name: str, *, revision: str, owner: str = "d-1", image: str = "shop/checkout:1.0") -> dict:
    return {
        "metadata": {
            "name": name,
            "labels": {"app": "checkout", "pod-template-hash": name.rsplit("-", 1)[1]},
            "annotations": {observe.REVISION_ANNOTATION: revision},
            "ownerReferences": [{"uid": owner}],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
    }


def test_deployment_observation_reads_the_fields_decide_needs() -> None:
    replica_sets = [
        replica_set("checkout-old", revision="9", image="shop/checkout:0.9"),
        replica_set("checkout-7d9f8", revision="10"),
        replica_set("checkout-foreign", revision="11", owner="someone-else"),
    ]
    target = observe.target_from_deployment(
        deployment(replicas=3, updatedReplicas=3, availableReplicas=3, readyReplicas=3),
        replica_sets=replica_sets,
    )
    assert target == dataclasses.replace(ADOPTED)


@pytest.mark.parametrize(
    "status",
    [
        {"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3},
        {"replicas": 3, "updatedReplicas": 2, "availableReplicas": 3},
        {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2},
        {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3, "observedGeneration": 3},
    ],
)
def test_rollout_is_complete_only_when_every_replica_is_updated_and_available(status) -> None:
    target = observe.target_from_deployment(deployment(**status), replica_sets=[])
    assert not target.rollout_complete
    assert target.current_replica_set is None
