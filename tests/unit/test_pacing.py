import datetime

import pytest

from releaseguard.rollout import pacing

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
SECOND = datetime.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("phase", "seconds_since", "expected"),
    [
        ("Progressing", 2, 0.0),
        ("Progressing", 1.5, 0.5),
        ("RollingBack", 3, 0.0),
        ("Idle", 2, None),
        ("Idle", 4.5, 1.5),
        ("Idle", 6, 0.0),
        ("Succeeded", 3, None),
        (None, 6, 0.0),
    ],
)
def test_in_flight_releases_are_reconciled_more_often(phase, seconds_since, expected) -> None:
    wait = pacing.wait(phase=phase, last=T0 - seconds_since * SECOND, planned=None, now=T0)
    assert (None if wait is None else wait.total_seconds()) == expected


def test_first_tick_in_a_process_always_reconciles() -> None:
    assert pacing.wait(phase="Idle", last=None, planned=T0 + 60 * SECOND, now=T0) == datetime.timedelta(0)


def test_a_planned_pass_is_taken_at_its_moment_not_at_the_next_tick() -> None:
    last = T0 - 2 * SECOND
    assert pacing.wait(phase="Progressing", last=last, planned=T0 + 5 * SECOND, now=T0) is None
    assert pacing.wait(phase="Progressing", last=last, planned=T0 + 1.25 * SECOND, now=T0) == 1.25 * SECOND
    assert pacing.wait(phase="Progressing", last=last, planned=T0 - SECOND, now=T0) == datetime.timedelta(0)


def test_a_release_waiting_on_the_clock_still_looks_every_steady_interval() -> None:
    last = T0 - pacing.STEADY + 0.5 * SECOND
    planned = T0 + 60 * SECOND
    assert pacing.wait(phase="Paused", last=last, planned=planned, now=T0) == 0.5 * SECOND
    assert pacing.wait(phase="Paused", last=T0 - 5 * SECOND, planned=planned, now=T0) is None
