"""The decision: from spec, stored status and what was observed, the status the world should be given.

Pure: no I/O and no clock of its own (`now` comes in), so every transition is a table-driven unit test and
replaying a decision after a crash gives the same answer.
"""

from __future__ import annotations

import dataclasses
import datetime

from releaseguard.models import conditions, v1alpha1
from releaseguard.rollout import observation


@dataclasses.dataclass(frozen=True, kw_only=True)
class InvalidSpec:
    """A spec the models refuse (it slipped past the CRD's validation, e.g. an older CRD)."""

    message: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    status: v1alpha1.ReleaseValidationStatus
    """The status to store; equal to the stored one when nothing changed."""


def decide(
    *,
    spec: v1alpha1.ReleaseValidationSpec | InvalidSpec,
    status: v1alpha1.ReleaseValidationStatus,
    observed: observation.Observed,
    now: datetime.datetime,
) -> Plan:
    if isinstance(spec, InvalidSpec):
        return _degraded(status, observed, now, reason=conditions.Reason.INVALID_SPEC, message=spec.message)
    target = observed.target
    if target is None or not target.exists:
        message = f"Deployment {_target_name(spec, observed)} not found"
        return _degraded(status, observed, now, reason=conditions.Reason.TARGET_NOT_FOUND, message=message)
    message = (
        f"Deployment {target.namespace}/{target.name} found "
        f"({target.ready_replicas}/{target.replicas} replicas ready)"
    )
    ready = _ready(conditions.ConditionStatus.TRUE, conditions.Reason.TARGET_FOUND, message, observed, now)
    return _plan(status, observed, now, phase=v1alpha1.Phase.IDLE, ready=ready)


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
) -> Plan:
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
) -> Plan:
    updated, _ = conditions.set_condition(status.conditions, ready, now=now)
    new_status = status.model_copy(
        update={
            "phase": phase,
            "message": ready.message,
            "observed_generation": observed.generation,
            "conditions": updated,
        }
    )
    return Plan(status=new_status)
