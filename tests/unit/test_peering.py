"""Replicas in peering: the one started first keeps acting, and no two replicas tie."""

from __future__ import annotations

import random

from releaseguard import cli

NOVEMBER_2026_NS = 1_795_737_600 * 10**9


def test_a_replica_started_later_ranks_below_the_one_started_first() -> None:
    first = cli.peering_priority(NOVEMBER_2026_NS)
    a_millisecond_later = cli.peering_priority(NOVEMBER_2026_NS + 1_000_000)

    assert first > a_millisecond_later > 0


def test_replicas_started_in_the_same_millisecond_rarely_tie() -> None:
    random.seed(20261127)
    priorities = {cli.peering_priority(NOVEMBER_2026_NS) for _ in range(20)}

    assert len(priorities) > 15


def test_priorities_stay_positive_and_exact_in_json_through_this_century() -> None:
    last_day_of_2099_ns = 4_102_358_400 * 10**9

    assert cli.peering_priority(last_day_of_2099_ns) > 0
    assert cli.peering_priority(0) < 2**53
