"""The revision diff: what the canary's pod template changed, with credentials kept out."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from releaseguard.report import diff

STABLE: dict[str, Any] = {
    "metadata": {"labels": {"app": "checkout"}},
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "demo:1.0",
                "args": ["--port=8080"],
                "env": [
                    {"name": "FEATURE_CHECKOUT", "value": "v1"},
                    {"name": "DB_PASSWORD", "value": "hunter2"},
                    {"name": "API", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
                ],
                "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            }
        ]
    },
}


def changed(**container: Any) -> dict[str, Any]:
    template = copy.deepcopy(STABLE)
    template["spec"]["containers"][0].update(container)
    return template


def rendered(canary: dict[str, Any]) -> list[str]:
    return [change.render() for change in diff.diff(STABLE, canary)]


def test_the_same_template_has_no_changes() -> None:
    assert diff.diff(STABLE, copy.deepcopy(STABLE)) == ()


def test_a_new_image_is_named() -> None:
    assert rendered(changed(image="demo:2.0-checkout-broken")) == [
        "container app image: demo:1.0 → demo:2.0-checkout-broken"
    ]


def test_args_resources_and_probes() -> None:
    canary = changed(
        args=["--port=8080", "--slow"],
        resources={"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
        readinessProbe=None,
    )
    assert rendered(canary) == [
        'container app args: ["--port=8080"] → ["--port=8080","--slow"]',
        "container app resources.limits.memory: 256Mi → 128Mi",
        "container app resources.requests.memory added: 64Mi",
        'container app readinessProbe removed (was {"httpGet":{"path":"/healthz","port":8080}})',
    ]


def test_environment_values_show_except_credentials() -> None:
    canary = changed(
        env=[
            {"name": "FEATURE_CHECKOUT", "value": "v2"},
            {"name": "DB_PASSWORD", "value": "correct horse"},
            {"name": "API", "valueFrom": {"secretKeyRef": {"name": "api-v2", "key": "token"}}},
            {"name": "AUTH_TOKEN", "value": "abc123"},
        ]
    )
    lines = rendered(canary)
    assert lines == [
        "container app env FEATURE_CHECKOUT: v1 → v2",
        "container app env DB_PASSWORD: (hidden) → (hidden)",
        "container app env API: from Secret api key token → from Secret api-v2 key token",
        "container app env AUTH_TOKEN added: (hidden)",
    ]
    assert not any("hunter2" in line or "horse" in line or "abc123" in line for line in lines)


def test_containers_added_and_removed() -> None:
    canary = copy.deepcopy(STABLE)
    canary["spec"]["containers"] = [{"name": "sidecar", "image": "proxy:1"}]
    canary["spec"]["initContainers"] = [{"name": "migrate", "image": "demo-migrate:2.0"}]
    assert rendered(canary) == [
        "container app removed (was demo:1.0)",
        "container sidecar added: proxy:1",
        "init container migrate added: demo-migrate:2.0",
    ]


@pytest.mark.parametrize(
    "broken",
    [{}, {"spec": None}, {"spec": {"containers": None}}, {"spec": {"containers": ["not a container"]}}],
)
def test_a_template_without_containers_is_no_crash(broken: dict[str, Any]) -> None:
    assert rendered(broken) == ["container app removed (was demo:1.0)"]


def test_long_values_are_cut() -> None:
    (change,) = diff.diff(STABLE, changed(image="x" * 500))
    assert change.after is not None
    assert len(change.after) == diff.MAX_VALUE
