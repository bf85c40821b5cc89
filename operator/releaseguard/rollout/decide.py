"""The decision: from spec, stored status and what was observed, the status to store and the actions to take.

Pure: no I/O and no clock of its own (`now` comes in), so every transition is a table-driven unit test and
replaying a decision after a crash gives the same answer.
"""

from __future__ import annotations

import dataclasses
import datetime

from releaseguard.models import conditions, v1alpha1
from releaseguard.rollout import observation, plan


@dataclasses.dataclass(frozen=True, kw_only=True)
class InvalidSpec:
    """A spec the models refuse (it slipped past the CRD's validation, e.g. an older CRD)."""

    message: str


def decide(
    *,
    spec: v1alpha1.ReleaseValidationSpec | InvalidSpec,
    status: v1alpha1.ReleaseValidationStatus,
    observed: observation.Observed,
    now: datetime.datetime,
) -> plan.Plan:
    if isinstance(spec, InvalidSpec):
        return _degraded(status, observed, now, reason=conditions.Reason.INVALID_SPEC, message=spec.message)
    target = observed.target
    if target is None or not target.exists:
        message = f"Deployment {_target_name(spec, observed)} not found"
        return _degraded(status, observed, now, reason=conditions.Reason.TARGET_NOT_FOUND, message=message)
    described = f"Deployment {target.namespace}/{target.name}"
    if target.guarded_by not in (None, observed.name):
        message = f"{described} is guarded by ReleaseValidation {target.guarded_by}"
        return _degraded(
            status, observed, now, reason=conditions.Reason.TARGET_GUARDED_ELSEWHERE, message=message
        )
    if status.stable_revision is None:
        return _adopt(status, observed, now, target=target, described=described)
    ready = _ready(
        conditions.ConditionStatus.TRUE,
        conditions.Reason.TARGET_ADOPTED,
        f"{described} is paused and guarded; stable revision {_describe(status.stable_revision)}",
        observed,
        now,
    )
    # Pausing again is harmless and heals a target someone unpaused by hand.
    actions = () if target.paused and target.guarded_by == observed.name else (_pause(target, observed),)
    phase = v1alpha1.Phase.IDLE if status.phase in (None, v1alpha1.Phase.DEGRADED) else status.phase
    return _plan(status, observed, now, phase=phase, ready=ready, actions=actions)


def release(*, observed: observation.Observed) -> tuple[plan.Action, ...]:
    """What deleting the ReleaseValidation does to its target: hand it back to Kubernetes, if it is ours."""
    target = observed.target
    if target is None or not target.exists or target.guarded_by != observed.name:
        return ()
    return (plan.ReleaseTarget(namespace=target.namespace, name=target.name),)


def _adopt(
    status: v1alpha1.ReleaseValidationStatus,
    observed: observation.Observed,
    now: datetime.datetime,
    *,
    target: observation.TargetObservation,
    described: str,
) -> plan.Plan:
    """Record the running revision as stable and pause the target, once its own rollout has finished."""
    current = target.current_replica_set
    if current is None or not target.rollout_complete:
        ready = _ready(
            conditions.ConditionStatus.FALSE,
            conditions.Reason.TARGET_ROLLING_OUT,
            f"{described} is rolling out ({target.ready_replicas}/{target.replicas} ready); "
            "it is adopted once the rollout completes",
            observed,
            now,
        )
        return _plan(status, observed, now, phase=v1alpha1.Phase.IDLE, ready=ready)
    stable = v1alpha1.Revision(
        template_hash=current.pod_template_hash, images=current.images, replica_set=current.name
    )
    ready = _ready(
        conditions.ConditionStatus.TRUE,
        conditions.Reason.TARGET_ADOPTED,
        f"{described} is paused and guarded; stable revision {_describe(stable)}",
        observed,
        now,
    )
    adopted = status.model_copy(update={"stable_revision": stable})
    return _plan(
        adopted, observed, now, phase=v1alpha1.Phase.IDLE, ready=ready, actions=(_pause(target, observed),)
    )


def _pause(target: observation.TargetObservation, observed: observation.Observed) -> plan.PauseTarget:
    return plan.PauseTarget(namespace=target.namespace, name=target.name, guarded_by=observed.name)


def _describe(revision: v1alpha1.Revision) -> str:
    images = ", ".join(revision.images.values())
    return f"{revision.replica_set or revision.template_hash} ({images})"


def _target_name(spec: v1alpha1.ReleaseValidationSpec, observed: observation.Observed) -> str:
    if observed.target is not None:
        return f"{observed.target.namespace}/{observed.target.name}"
    return spec.target_ref.name


def _degraded(
    status: v1alpha1.ReleaseValidationStatus,
    observed: observation.Observed,
    now: datetime.datetime,
    *,
    reason: conditions.Reason,
    message: str,
) -> plan.Plan:
    ready = _ready(conditions.ConditionStatus.FALSE, reason, message, observed, now)
    return _plan(status, observed, now, phase=v1alpha1.Phase.DEGRADED, ready=ready)


def _ready(
    value: conditions.ConditionStatus,
    reason: conditions.Reason,
    message: str,
    observed: observation.Observed,
    now: datetime.datetime,
) -> conditions.Condition:
    return conditions.Condition(
        type=conditions.ConditionType.READY,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=now,
        observed_generation=observed.generation,
    )


def _plan(
    status: v1alpha1.ReleaseValidationStatus,
    observed: observation.Observed,
    now: datetime.datetime,
    *,
    phase: v1alpha1.Phase,
    ready: conditions.Condition,
    actions: tuple[plan.Action, ...] = (),
) -> plan.Plan:
    updated, _ = conditions.set_condition(status.conditions, ready, now=now)
    new_status = status.model_copy(
        update={
            "phase": phase,
            "message": ready.message,
            "observed_generation": observed.generation,
            "conditions": updated,
        }
    )
    return plan.Plan(status=new_status, actions=actions)
