"""Where synthetic checks call pods: never an address the operator was told it cannot route to."""

from __future__ import annotations

import json
import pathlib

import pytest

from releaseguard import reconciler
from releaseguard.kube import observe
from releaseguard.models import v1alpha1

CHECK = v1alpha1.SyntheticCheck.model_validate({"name": "journey", "http": {"path": "/api/checkout"}})
PODS = [
    observe.PodEndpoint(ip="10.0.0.1", ports={"http": 8080}),
    observe.PodEndpoint(ip="10.0.0.2", ports={"http": 8081}),
]


@pytest.mark.parametrize(
    ("service_port", "check_port", "expected"),
    [
        (80, None, ["10.0.0.1:80", "10.0.0.2:80"]),
        ("http", None, ["10.0.0.1:8080", "10.0.0.2:8081"]),
        ("missing", None, ["10.0.0.1:80", "10.0.0.2:80"]),
        (80, 9000, ["10.0.0.1:9000", "10.0.0.2:9000"]),
    ],
)
def test_pod_ports_follow_the_check_then_the_service(service_port, check_port, expected) -> None:
    check = CHECK.model_copy(update={"http": CHECK.http.model_copy(update={"port": check_port})})
    assert reconciler.pod_addresses(PODS, check=check, service_port=service_port, overrides=None) == expected


def test_with_an_address_map_only_mapped_pods_are_called(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"10.0.0.2": "127.0.0.1:41000"}))
    overrides = reconciler.load_address_map(path)
    assert reconciler.pod_addresses(PODS, check=CHECK, service_port=80, overrides=overrides) == [
        "127.0.0.1:41000"
    ]


def test_a_configured_but_missing_map_calls_nobody(tmp_path: pathlib.Path) -> None:
    overrides = reconciler.load_address_map(tmp_path / "absent.json")
    assert overrides == {}
    assert reconciler.pod_addresses(PODS, check=CHECK, service_port=80, overrides=overrides) == []
