"""set_condition and friends: lastTransitionTime moves only when a condition's status does."""

from __future__ import annotations

import datetime

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.models import conditions

T0 = datetime.datetime(2024, 5, 1, 10, 0, 0, tzinfo=datetime.UTC)
T1 = datetime.datetime(2024, 5, 1, 10, 5, 30, 123456, tzinfo=datetime.UTC)
T1_STORED = T1.replace(microsecond=0)
TRUE, FALSE, UNKNOWN = (
    conditions.ConditionStatus.TRUE,
    conditions.ConditionStatus.FALSE,
    conditions.ConditionStatus.UNKNOWN,
)


def condition(
    type_: str = conditions.ConditionType.READY,
    status: conditions.ConditionStatus = TRUE,
    reason: str = conditions.Reason.TARGET_ADOPTED,
    message: str = "",
    at: datetime.datetime = T0,
    generation: int | None = 1,
) -> conditions.Condition:
    return conditions.Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=at,
        observed_generation=generation,
    )


READY = condition()
PROGRESSING = condition(conditions.ConditionType.PROGRESSING, FALSE, conditions.Reason.UP_TO_DATE)


def test_a_new_type_is_appended_stamped_now_in_whole_seconds() -> None:
    updated, changed = conditions.set_condition((READY,), PROGRESSING, now=T1)
    assert changed
    assert [c.type for c in updated] == ["Ready", "Progressing"]
    assert updated[1].last_transition_time == T1_STORED


def test_the_same_condition_again_changes_nothing() -> None:
    current = (READY, PROGRESSING)
    again = condition(at=T1)  # a caller's time is not used
    updated, changed = conditions.set_condition(current, again, now=T1)
    assert not changed
    assert updated == current


@pytest.mark.parametrize(
    "new",
    [
        condition(reason=conditions.Reason.TARGET_ROLLING_OUT),
        condition(message="now with words"),
        condition(generation=2),
    ],
    ids=["reason", "message", "generation"],
)
def test_same_status_keeps_the_transition_time_but_reports_the_change(new: conditions.Condition) -> None:
    updated, changed = conditions.set_condition((READY, PROGRESSING), new, now=T1)
    assert changed
    assert updated[0] == new.model_copy(update={"last_transition_time": T0})
    assert updated[1] == PROGRESSING


@pytest.mark.parametrize("status", [FALSE, UNKNOWN])
def test_a_status_change_moves_the_transition_time(status: conditions.ConditionStatus) -> None:
    new = condition(status=status, reason=conditions.Reason.TARGET_NOT_FOUND)
    updated, changed = conditions.set_condition((READY, PROGRESSING), new, now=T1)
    assert changed
    assert updated[0].status == status
    assert updated[0].last_transition_time == T1_STORED
    assert updated[1] == PROGRESSING


def test_now_is_stored_in_utc() -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    updated, _ = conditions.set_condition((), READY, now=datetime.datetime(2024, 5, 1, 12, tzinfo=plus_two))
    assert updated[0].last_transition_time == T0
    assert updated[0].to_json()["lastTransitionTime"] == "2024-05-01T10:00:00Z"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        conditions.set_condition((), READY, now=datetime.datetime(2024, 5, 1))


def test_find_is_true_and_remove() -> None:
    current = (READY, PROGRESSING)
    assert conditions.find(current, condition_type="Ready") == READY
    assert conditions.find(current, condition_type="Healthy") is None
    assert conditions.is_true(current, condition_type="Ready")
    assert not conditions.is_true(current, condition_type="Progressing")
    assert not conditions.is_true(current, condition_type="Healthy")
    assert conditions.remove_condition(current, condition_type="Ready") == ((PROGRESSING,), True)
    assert conditions.remove_condition(current, condition_type="Healthy") == (current, False)


def test_condition_reads_and_writes_the_stored_shape() -> None:
    stored = {
        "type": "Ready",
        "status": "False",
        "reason": "TargetNotFound",
        "message": 'Deployment "web" not found',
        "lastTransitionTime": "2024-05-01T10:00:00Z",
        "observedGeneration": 4,
    }
    parsed = conditions.Condition.model_validate(stored)
    assert parsed.status == FALSE
    assert parsed.to_json() == stored


def test_reasons_are_camel_case_words() -> None:
    for reason in conditions.Reason:
        assert reason.value[0].isupper(), reason
        assert reason.value.isalnum(), reason


_types = strategies.sampled_from(list(conditions.ConditionType))
_conditions = strategies.builds(
    condition,
    type_=_types,
    status=strategies.sampled_from([TRUE, FALSE, UNKNOWN]),
    reason=strategies.sampled_from(list(conditions.Reason)),
    message=strategies.text(max_size=20),
    at=strategies.datetimes(
        min_value=datetime.datetime(2020, 1, 1), max_value=datetime.datetime(2023, 1, 1)
    ).map(lambda moment: moment.replace(microsecond=0, tzinfo=datetime.UTC)),
    generation=strategies.none() | strategies.integers(min_value=0, max_value=10),
)


@hypothesis.given(
    existing=strategies.lists(_conditions, max_size=4, unique_by=lambda c: c.type).map(tuple), new=_conditions
)
def test_set_condition_properties(
    existing: tuple[conditions.Condition, ...], new: conditions.Condition
) -> None:
    updated, changed = conditions.set_condition(existing, new, now=T1)
    (written,) = [c for c in updated if c.type == new.type]
    before = conditions.find(existing, condition_type=new.type)
    assert (written.status, written.reason, written.message) == (new.status, new.reason, new.message)
    assert [c for c in updated if c.type != new.type] == [c for c in existing if c.type != new.type]
    if before is None or before.status != new.status:
        assert written.last_transition_time == T1_STORED
    else:
        assert written.last_transition_time == before.last_transition_time
    assert changed == (updated != existing)
