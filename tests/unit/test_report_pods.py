"""Facts about the new revision's pods: container trouble and Warning Events, grouped and counted."""

from __future__ import annotations

from typing import Any

from releaseguard.report import pods

REGEX = r"web\-canary-[a-z0-9]+-[a-z0-9]+"


def pod(name: str, *containers: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"containerStatuses": list(containers)}}


def test_the_same_trouble_on_several_pods_is_one_fact() -> None:
    oom = {
        "name": "app",
        "restartCount": 2,
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
    }
    found = pods.facts(
        pods=[pod("web-canary-1-a", oom), pod("web-canary-1-b", oom), pod("web-7-c", oom)],
        events=[],
        pod_regex=REGEX,
    )
    assert found == ["2 new pods: container app last terminated OOMKilled (exit 137), 4 restarts"]


def test_starting_containers_are_not_trouble() -> None:
    starting = {"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}
    assert pods.facts(pods=[pod("web-canary-1-a", starting)], events=[], pod_regex=REGEX) == []


def test_events_are_counted_by_reason_most_frequent_first_and_cut() -> None:
    events = [
        {
            "reason": "BackOff",
            "count": 2,
            "message": "Back-off restarting failed container",
            "involvedObject": {"name": "web-canary-1-a"},
        },
        {
            "reason": "Unhealthy",
            "series": {"count": 9},
            "message": "x" * 500,
            "lastTimestamp": "2026-01-02T00:00:00Z",
            "involvedObject": {"name": "web-canary-1-b"},
        },
        {
            "reason": "Unhealthy",
            "message": "probe",
            "involvedObject": {"name": "web-canary-1-a"},
            "lastTimestamp": "2026-01-01T00:00:00Z",
        },
        {"reason": "Failed", "message": "not ours", "involvedObject": {"name": "web-7-c"}},
    ]
    found = pods.facts(pods=[], events=events, pod_regex=REGEX)
    assert found[0] == "Warning Unhealthy 10 times on 2 new pods: " + "x" * pods.MAX_MESSAGE
    assert found[1] == "Warning BackOff 2 times on 1 new pod: Back-off restarting failed container"
    assert len(found) == 2


def test_the_facts_are_bounded() -> None:
    events = [
        {"reason": f"R{n}", "message": "m", "involvedObject": {"name": "web-canary-1-a"}} for n in range(20)
    ]
    assert len(pods.facts(pods=[], events=events, pod_regex=REGEX)) == pods.MAX_FACTS


def test_broken_objects_are_no_crash() -> None:
    assert (
        pods.facts(
            pods=[{"metadata": {}}, {"metadata": {"name": "web-canary-1-a"}, "status": None}],
            events=[{}],
            pod_regex=REGEX,
        )
        == []
    )
