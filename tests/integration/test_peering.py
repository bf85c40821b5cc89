"""Two operator replicas peering as the chart runs them: one acts, the other takes over when it dies."""

from __future__ import annotations

import collections.abc
import datetime
import json
import pathlib
import uuid
from typing import Any

import pytest

from tests.integration import conftest
from tests.integration.test_release import events, release_validation, rv, wait_for_phase

# The replicas watch every namespace, as the chart runs them.
pytestmark = [pytest.mark.timeout(300), pytest.mark.exclusive]

TAKEOVER_LIMIT_SECONDS = 30


@pytest.fixture
def peering(kubectl: conftest.Kubectl, crd: None) -> collections.abc.Iterator[str]:
    name = f"rg-peering-{uuid.uuid4().hex[:8]}"
    kubectl.run(
        "apply",
        "-f",
        "-",
        stdin=json.dumps(
            {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
        ),
    )
    yield name
    kubectl.run("delete", "clusterkopfpeering", name, "--ignore-not-found", check=False)


def replica(
    cluster_env: dict[str, str], tmp_path: pathlib.Path, *, peering: str, name: str
) -> conftest.Operator:
    return conftest.Operator(
        cluster_dir=cluster_env["RG_CLUSTER_DIR"],
        log_path=tmp_path / f"{name}.log",
        args=("--all-namespaces", f"--peering={peering}", "--log-format=json"),
    )


def lines_about(operator: conftest.Operator, reference: str) -> list[dict[str, Any]]:
    """The operator's JSON log lines about one ReleaseValidation."""
    found = []
    for line in operator.log_path.read_text(errors="replace").splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if parsed.get("releasevalidation") == reference:
            found.append(parsed)
    return found


@pytest.mark.usefixtures("without_the_session_operator", "load")
def test_only_the_first_replica_acts_and_the_second_takes_over_after_a_kill_without_double_promotion(
    kubectl: conftest.Kubectl,
    namespace: str,
    peering: str,
    cluster_env: dict[str, str],
    tmp_path: pathlib.Path,
) -> None:
    first = replica(cluster_env, tmp_path, peering=peering, name="first")
    second = replica(cluster_env, tmp_path, peering=peering, name="second")
    first.start()
    second.start()
    try:
        kubectl.apply(release_validation().replace("duration: 10s}]", "duration: 30s}]"), namespace=namespace)
        wait_for_phase(kubectl, namespace, "Idle", timeout=30)
        kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)

        def at_second_step() -> dict[str, Any] | None:
            status = rv(kubectl, namespace).get("status") or {}
            return status if status.get("currentStepIndex") == 1 else None

        conftest.eventually(at_second_step, timeout=90, what="the second step under way")
        reference = f"{namespace}/guard"
        assert lines_about(first, reference), "the replica started first handles the release"
        assert not lines_about(second, reference), "the replica started second waits"
        canary = kubectl.get("deployment", "demo-canary", namespace=namespace)
        assert canary is not None

        first.kill()
        killed_at = datetime.datetime.now(datetime.UTC)

        def analysis_after_the_kill() -> datetime.datetime | None:
            analysed = (rv(kubectl, namespace).get("status") or {}).get("lastAnalysis") or {}
            when = datetime.datetime.fromisoformat(analysed["time"]) if analysed.get("time") else None
            return when if when and when > killed_at else None

        resumed_at = conftest.eventually(
            analysis_after_the_kill, timeout=60, what="an analysis after the kill"
        )
        takeover = (resumed_at - killed_at).total_seconds()
        print(f"takeover: the first analysis {takeover:.1f}s after the kill")
        assert takeover < TAKEOVER_LIMIT_SECONDS

        canary_uids = set()

        def succeeded() -> bool:
            current = kubectl.get("deployment", "demo-canary", namespace=namespace)
            if current is not None:
                canary_uids.add(current["metadata"]["uid"])
            return (rv(kubectl, namespace).get("status") or {}).get("phase") == "Succeeded"

        conftest.eventually(succeeded, timeout=150, interval=1, what="Succeeded under the second replica")
        assert canary_uids <= {canary["metadata"]["uid"]}
        for reason in ("CanaryStarted", "Promoting", "Succeeded"):
            matching = [e for e in events(kubectl, namespace) if e["reason"] == reason]
            assert sum(event.get("count", 1) for event in matching) == 1, reason
        told = lines_about(second, reference)
        assert {"Promoting", "Succeeded"} <= {line["message"].split(":")[0] for line in told}
        assert all(line["revision"] for line in told), "every line about the release names its revision"
    finally:
        first.stop()
        second.stop()
