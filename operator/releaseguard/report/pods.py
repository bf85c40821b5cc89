"""What went wrong with the new revision's pods, from their statuses and their Warning Events.

A release that crashes, runs out of memory or fails its probes says so in places the metrics never look:
container states (CrashLoopBackOff, OOMKilled) and the kubelet's Warning Events (BackOff, Unhealthy).
Grouped by what happened, over all of the revision's pods, they become a few facts with counts, e.g.
"3 new pods: container app last terminated OOMKilled (exit 137), 14 restarts".
"""

from __future__ import annotations

import collections
import re
from collections.abc import Mapping, Sequence
from typing import Any

MAX_FACTS = 5
MAX_MESSAGE = 200


def facts(
    *, pods: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]], pod_regex: str
) -> list[str]:
    """Facts about the pods whose names match `pod_regex`: container trouble, then Warning Events."""
    pattern = re.compile(pod_regex)
    ours = [pod for pod in pods if pattern.fullmatch(str((pod.get("metadata") or {}).get("name", "")))]
    states: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    restarts: collections.Counter[str] = collections.Counter()
    for pod in ours:
        name = str(pod["metadata"]["name"])
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            container_name = str(container.get("name", ""))
            restarts[container_name] += int(container.get("restartCount") or 0)
            waiting = ((container.get("state") or {}).get("waiting") or {}).get("reason")
            if waiting and waiting not in ("ContainerCreating", "PodInitializing"):
                states[(container_name, f"waiting in {waiting}")].add(name)
            terminated = (container.get("lastState") or {}).get("terminated") or {}
            if terminated.get("reason"):
                states[
                    (
                        container_name,
                        f"last terminated {terminated['reason']} (exit {terminated.get('exitCode')})",
                    )
                ].add(name)
    found = [
        f"{_pods(len(names))}: container {container} {what}, {restarts[container]} restarts"
        for (container, what), names in sorted(states.items(), key=lambda item: -len(item[1]))
    ]
    warnings: dict[str, list[Mapping[str, Any]]] = collections.defaultdict(list)
    names = {str(pod["metadata"]["name"]) for pod in ours}
    for event in events:
        involved = str((event.get("involvedObject") or {}).get("name", ""))
        if involved in names or pattern.fullmatch(involved):
            warnings[str(event.get("reason", ""))].append(event)
    for reason, items in sorted(warnings.items(), key=lambda item: -_count(item[1])):
        pods_hit = len({str((event.get("involvedObject") or {}).get("name", "")) for event in items})
        latest = max(items, key=lambda event: str(event.get("lastTimestamp") or event.get("eventTime") or ""))
        message = " ".join(str(latest.get("message", "")).split())[:MAX_MESSAGE]
        found.append(f"Warning {reason} {_count(items)} times on {_pods(pods_hit)}: {message}")
    return found[:MAX_FACTS]


def _count(events: Sequence[Mapping[str, Any]]) -> int:
    return sum(int(event.get("count") or (event.get("series") or {}).get("count") or 1) for event in events)


def _pods(count: int) -> str:
    return "1 new pod" if count == 1 else f"{count} new pods"
