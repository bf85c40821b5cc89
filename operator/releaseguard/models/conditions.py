"""Status conditions by the Kubernetes API conventions, and the one function allowed to change them.

`lastTransitionTime` must say when the *status* last flipped, not when the operator last looked; tools
(`kubectl wait`, dashboards, alerting on "False for 10m") depend on it. Keeping that rule in a single pure
function, `set_condition`, which also reports whether anything changed, lets callers skip no-op status
patches and lets tests pin the behaviour without a cluster.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Sequence

import pydantic

from releaseguard.models import schema


class ConditionStatus(enum.StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(enum.StrEnum):
    """The condition types this operator writes. Each is a positive statement; `False` is the bad news."""

    READY = "Ready"
    """The spec is usable and the target Deployment is adopted (paused, stable revision recorded)."""
    PROGRESSING = "Progressing"
    """A release is under way: a canary exists, or promotion, baking or rollback is running."""
    HEALTHY = "Healthy"
    """The latest analysis passed. `Unknown` while it is inconclusive or before the first one."""
    REVISION_REJECTED = "RevisionRejected"
    """The target's template is one that was rolled back; it is held, not retried."""


class Reason(enum.StrEnum):
    """CamelCase reasons for conditions and Events; one vocabulary, so alerts can match on it."""

    # Ready
    TARGET_ADOPTED = "TargetAdopted"
    TARGET_ROLLING_OUT = "TargetRollingOut"
    TARGET_NOT_FOUND = "TargetNotFound"
    TARGET_GUARDED_ELSEWHERE = "TargetGuardedElsewhere"
    INVALID_SPEC = "InvalidSpec"
    # Progressing
    UP_TO_DATE = "UpToDate"
    TARGET_SCALED_TO_ZERO = "TargetScaledToZero"
    CANARY_STARTED = "CanaryStarted"
    STEP_ADVANCED = "StepAdvanced"
    INCONCLUSIVE_LIMIT_REACHED = "InconclusiveLimitReached"
    PAUSE_REQUESTED = "PauseRequested"
    RESUMED = "Resumed"
    ABORTED = "Aborted"
    PROMOTING = "Promoting"
    BAKING = "Baking"
    SUCCEEDED = "Succeeded"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    # Healthy
    ANALYSIS_PASSED = "AnalysisPassed"
    ANALYSIS_FAILED = "AnalysisFailed"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    FAILURE_LIMIT_REACHED = "FailureLimitReached"
    CRITICAL_METRIC_FAILED = "CriticalMetricFailed"
    NO_DATA = "NoData"
    PROVIDER_UNAVAILABLE = "ProviderUnavailable"
    QUERY_ERROR = "QueryError"
    # RevisionRejected
    REVISION_REJECTED = "RevisionRejected"
    RETRY_REQUESTED = "RetryRequested"
    REQUEST_IGNORED = "RequestIgnored"


class Condition(schema.KubeModel):
    """One observation about the ReleaseValidation, in the shape of metav1.Condition."""

    model_config = pydantic.ConfigDict(extra="ignore")

    type: str = pydantic.Field(
        max_length=316, pattern=r"^([a-z0-9.-]+/)?[A-Za-z]([A-Za-z0-9_.-]*[A-Za-z0-9])?$"
    )
    """The aspect observed, e.g. Ready or Progressing."""
    status: ConditionStatus
    """Whether the condition holds: True, False or Unknown."""
    reason: str = pydantic.Field(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    """Why, as one CamelCase word that programs can match on."""
    message: str = pydantic.Field(default="", max_length=32768)
    """Why, for humans, with the numbers that led here."""
    last_transition_time: pydantic.AwareDatetime
    """When the status last changed (not when the condition was last written)."""
    observed_generation: int | None = pydantic.Field(default=None, ge=0)
    """The .metadata.generation of the spec the condition was computed from."""


def set_condition(
    conditions: Sequence[Condition], new: Condition, *, now: datetime.datetime
) -> tuple[tuple[Condition, ...], bool]:
    """Put `new` in place of the condition of its type and say whether anything changed.

    `new.last_transition_time` is not used: it becomes `now` (whole seconds, as metav1.Time stores it)
    when the type is new or its status differs, and stays the stored one otherwise, even if the reason
    or message changed. When nothing but the time would change, `conditions` come back as they were with
    `False`, so the caller can skip the patch.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    stamped = now.astimezone(datetime.UTC).replace(microsecond=0)
    for index, current in enumerate(conditions):
        if current.type != new.type:
            continue
        since = current.last_transition_time if current.status == new.status else stamped
        updated = new.model_copy(update={"last_transition_time": since})
        if updated == current:
            return tuple(conditions), False
        return (*conditions[:index], updated, *conditions[index + 1 :]), True
    return (*conditions, new.model_copy(update={"last_transition_time": stamped})), True


def find(conditions: Sequence[Condition], *, condition_type: str) -> Condition | None:
    """The condition of `condition_type`, or None."""
    return next((condition for condition in conditions if condition.type == condition_type), None)


def is_true(conditions: Sequence[Condition], *, condition_type: str) -> bool:
    condition = find(conditions, condition_type=condition_type)
    return condition is not None and condition.status == ConditionStatus.TRUE


def remove_condition(
    conditions: Sequence[Condition], *, condition_type: str
) -> tuple[tuple[Condition, ...], bool]:
    """`conditions` without `condition_type`, and whether it was there."""
    kept = tuple(condition for condition in conditions if condition.type != condition_type)
    return kept, len(kept) != len(conditions)
