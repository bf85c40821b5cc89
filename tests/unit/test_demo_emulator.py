"""The pod emulator's pure parts: which pods to emulate, what to publish, how to get there."""

from __future__ import annotations

import json
import os
import sys
import threading

import pytest

from tests.unit import demo_scripts

emulator = demo_scripts.load("emulator")

LABELS = {"app": "checkout", "pod-template-hash": "7d9f", "releaseguard.io/track": "canary"}


def _pod(
    *,
    name: str = "checkout-7d9f-abcde",
    uid: str = "uid-1",
    image: str = "releaseguard-demo:1.0",
    phase: str = "Running",
    ready: str | None = "True",
    labels: dict[str, str] | None = None,
    pod_ip: str | None = "10.244.0.7",
    deleting: bool = False,
    sidecar: str | None = None,
) -> dict:
    """A pod as the API serves it (camelCase JSON)."""
    metadata: dict = {
        "namespace": "shop",
        "name": name,
        "uid": uid,
        "labels": LABELS if labels is None else labels,
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    containers = [{"name": "app", "image": image}] + ([{"name": "side", "image": sidecar}] if sidecar else [])
    status: dict = {"phase": phase, "conditions": [{"type": "PodScheduled", "status": "True"}]}
    if ready is not None:
        status["conditions"].append({"type": "Ready", "status": ready})
    if pod_ip:
        status["podIP"] = pod_ip
    return {
        "metadata": metadata,
        "spec": {"nodeName": "kwok-node-0", "containers": containers},
        "status": status,
    }


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        ("releaseguard-demo:1.0", "releaseguard-demo", "1.0"),
        ("example.com/releaseguard-demo:2.0-errors", "example.com/releaseguard-demo", "2.0-errors"),
        ("registry:5000/demo/releaseguard-demo:1.1", "registry:5000/demo/releaseguard-demo", "1.1"),
        ("registry:5000/releaseguard-demo", "registry:5000/releaseguard-demo", "latest"),
        ("releaseguard-demo", "releaseguard-demo", "latest"),
        ("releaseguard-demo:1.0@sha256:abcd", "releaseguard-demo", "1.0"),
        ("releaseguard-demo@sha256:abcd", "releaseguard-demo", "latest"),
    ],
)
def test_split_image(image, repository, tag):
    assert emulator.split_image(image) == (repository, tag)


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("releaseguard-demo", True),
        ("example.com/releaseguard-demo", True),
        ("registry:5000/a/b/releaseguard-demo", True),
        ("my-releaseguard-demo", False),
        ("releaseguard-demo/other", False),
        ("nginx", False),
        ("", False),
    ],
)
def test_is_demo_repository(repository, expected):
    assert emulator.is_demo_repository(repository) is expected


def test_demo_pod_of_running_ready_demo_pod():
    pod = emulator.demo_pod(_pod(image="example.com/releaseguard-demo:2.0-errors"))
    assert pod == emulator.DemoPod(
        key=emulator.PodKey(namespace="shop", name="checkout-7d9f-abcde", uid="uid-1"),
        image_tag="2.0-errors",
        node="kwok-node-0",
        pod_ip="10.244.0.7",
        labels=tuple(sorted(LABELS.items())),
    )
    assert pod.key.ref == "shop/checkout-7d9f-abcde"


@pytest.mark.parametrize(
    "pod",
    [
        _pod(phase="Pending"),
        _pod(phase="Succeeded"),
        _pod(ready="False"),
        _pod(ready=None),
        _pod(deleting=True),
        _pod(image="nginx:1.27"),
        _pod(image="nginx:1.27", sidecar="releaseguard-demo:1.0"),  # only the first container counts
        {"metadata": {"name": "x"}, "spec": {"containers": []}, "status": {"phase": "Running"}},
        {},
    ],
)
def test_demo_pod_skips_pods_that_should_not_run(pod):
    assert emulator.demo_pod(pod) is None


def test_demo_pod_without_ip_still_runs():
    pod = emulator.demo_pod(_pod(pod_ip=None))
    assert pod is not None
    assert pod.pod_ip == ""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app", "app"),
        ("releaseguard.io/track", "releaseguard_io_track"),
        ("pod-template-hash", "pod_template_hash"),
        ("app.kubernetes.io/name", "app_kubernetes_io_name"),
        ("Version_2", "Version_2"),
        ("1st", "_1st"),
    ],
)
def test_sanitize_label_name(name, expected):
    assert emulator.sanitize_label_name(name) == expected


def test_target_labels_map_pod_labels_and_pod_fields():
    pod = emulator.demo_pod(_pod())
    assert emulator.target_labels(pod) == {
        "app": "checkout",
        "releaseguard_io_track": "canary",
        "pod_template_hash": "7d9f",
        "namespace": "shop",
        "pod": "checkout-7d9f-abcde",
        "node": "kwok-node-0",
        "pod_ip": "10.244.0.7",
    }


def test_pod_labels_cannot_override_reserved_labels():
    hostile = {
        "namespace": "evil",
        "pod": "evil",
        "job": "evil",
        "instance": "evil",
        "node": "evil",
        "x": "1",
    }
    labels = emulator.target_labels(emulator.demo_pod(_pod(labels=hostile)))
    assert labels == {
        "x": "1",
        "namespace": "shop",
        "pod": "checkout-7d9f-abcde",
        "node": "kwok-node-0",
        "pod_ip": "10.244.0.7",
    }


def test_file_sd_document_is_one_sorted_group_per_pod():
    a = emulator.demo_pod(_pod(name="a", uid="u-a", pod_ip="10.0.0.1"))
    b = emulator.demo_pod(_pod(name="b", uid="u-b", pod_ip="10.0.0.2"))
    document = emulator.file_sd_document([(b, 40002), (a, 40001)])
    assert [group["targets"] for group in document] == [["127.0.0.1:40001"], ["127.0.0.1:40002"]]
    assert [group["labels"]["pod"] for group in document] == ["a", "b"]
    assert json.loads(json.dumps(document)) == document


def test_pods_index_by_ip_and_by_name():
    a = emulator.demo_pod(_pod(name="a", uid="u-a", pod_ip="10.0.0.1", image="releaseguard-demo:1.1"))
    no_ip = emulator.demo_pod(_pod(name="b", uid="u-b", pod_ip=None))
    index = emulator.pods_index([(a, 40001), (no_ip, 40002)])
    entry = {
        "port": 40001,
        "namespace": "shop",
        "pod": "a",
        "uid": "u-a",
        "pod_ip": "10.0.0.1",
        "image_tag": "1.1",
    }
    assert index["10.0.0.1"] == entry
    assert index["shop/a"] == entry
    assert index["shop/b"]["port"] == 40002
    assert set(index) == {"10.0.0.1", "shop/a", "shop/b"}


def _desired(*pods: dict) -> dict:
    return {pod.key: pod for pod in map(emulator.demo_pod, pods)}


def test_plan_starts_new_and_stops_gone():
    a, b = _pod(name="a", uid="u-a"), _pod(name="b", uid="u-b")
    desired = _desired(a, b)
    key_a, key_b = sorted(desired)
    gone = emulator.PodKey(namespace="shop", name="c", uid="u-c")
    result = emulator.plan(desired, {key_a: "1.0", gone: "1.0"})
    assert result.stop == (gone,)
    assert [pod.key for pod in result.start] == [key_b]


def test_plan_restarts_on_tag_change_and_replaced_pod():
    desired = _desired(_pod(name="a", uid="u-a", image="releaseguard-demo:2.0"), _pod(name="b", uid="u-b2"))
    key_a = emulator.PodKey(namespace="shop", name="a", uid="u-a")
    old_b = emulator.PodKey(namespace="shop", name="b", uid="u-b1")
    result = emulator.plan(desired, {key_a: "1.0", old_b: "1.0"})
    assert result.stop == (key_a, old_b)
    assert [(pod.key.name, pod.key.uid, pod.image_tag) for pod in result.start] == [
        ("a", "u-a", "2.0"),
        ("b", "u-b2", "1.0"),
    ]


def test_plan_is_empty_when_in_sync():
    desired = _desired(_pod())
    result = emulator.plan(desired, {key: pod.image_tag for key, pod in desired.items()})
    assert result == emulator.Plan(stop=(), start=())


def test_stop_reason():
    running = emulator.demo_pod(_pod())
    assert "not Ready" in emulator.stop_reason(running, None)
    changed = emulator.demo_pod(_pod(image="releaseguard-demo:2.0-slow"))
    assert emulator.stop_reason(running, changed) == "image tag changed 1.0 -> 2.0-slow"


def test_restart_backoff_grows_and_is_capped():
    delays = [emulator.restart_backoff(n) for n in range(1, 12)]
    assert delays[0] == 0.5
    assert delays == sorted(delays)
    assert delays[-1] == emulator.MAX_BACKOFF_SECONDS


def test_atomic_write_json_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "doc.json"
    emulator.atomic_write_json(path, [1])
    emulator.atomic_write_json(path, {"a": [2]})
    assert json.loads(path.read_text()) == {"a": [2]}
    assert os.listdir(path.parent) == ["doc.json"]


def test_publisher_writes_both_files_only_on_change(tmp_path):
    publisher = emulator.Publisher(tmp_path)
    pod = emulator.demo_pod(_pod())
    publisher.publish([(pod, 40001)])
    targets = tmp_path / "prometheus-targets" / "demo-pods.json"
    pods = tmp_path / "pods.json"
    assert json.loads(targets.read_text())[0]["targets"] == ["127.0.0.1:40001"]
    assert json.loads(pods.read_text())["10.244.0.7"]["port"] == 40001
    assert json.loads((tmp_path / "pod-addresses.json").read_text()) == {"uid-1": "127.0.0.1:40001"}
    inode = targets.stat().st_ino
    publisher.publish([(pod, 40001)])
    assert targets.stat().st_ino == inode
    publisher.publish([])
    assert json.loads(targets.read_text()) == []
    assert json.loads(pods.read_text()) == {}
    assert json.loads((tmp_path / "pod-addresses.json").read_text()) == {}


def test_pod_store_follows_list_and_events():
    changed = threading.Event()
    store = emulator.PodStore(changed)
    store.replace([_pod(name="a", uid="u-a"), _pod(name="b", uid="u-b", ready="False")])
    assert changed.is_set()
    assert [key.name for key in store.snapshot()] == ["a"]
    store.apply("MODIFIED", _pod(name="b", uid="u-b"))
    assert sorted(key.name for key in store.snapshot()) == ["a", "b"]
    store.apply("MODIFIED", _pod(name="a", uid="u-a", deleting=True))
    store.apply("DELETED", _pod(name="b", uid="u-b"))
    assert store.snapshot() == {}
    store.apply("ADDED", _pod(name="c", uid="u-c"))
    store.replace([])  # a re-list drops pods deleted while the watch was down
    assert store.snapshot() == {}


def test_free_port_avoids_excluded_and_is_unused():
    first = emulator.free_port(set())
    port = emulator.free_port({first})
    assert port != first
    assert not emulator.accepts_connections(port)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_die_with_parent_gives_a_preexec_hook():
    assert callable(emulator.die_with_parent())
