import datetime

import pytest

from releaseguard.rollout import pacing

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("phase", "seconds_since", "expected"),
    [
        ("Progressing", 2, True),
        ("Progressing", 1.9, False),
        ("RollingBack", 2, True),
        ("Idle", 2, False),
        ("Idle", 6, True),
        ("Succeeded", 5, False),
        (None, 6, True),
    ],
)
def test_in_flight_releases_are_reconciled_more_often(phase, seconds_since, expected) -> None:
    last = T0 - datetime.timedelta(seconds=seconds_since)
    assert pacing.due(phase=phase, last=last, now=T0) is expected


def test_first_tick_in_a_process_always_reconciles() -> None:
    assert pacing.due(phase="Idle", last=None, now=T0)
