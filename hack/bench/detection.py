"""Detection latency: from bad canary pods becoming Ready to the operator's rollback, on the local cluster.

Each run uses a fresh namespace: the demo app (3 x releaseguard-demo:1.0) under steady load, a
ReleaseValidation with a 10 s analysis interval, then a release of releaseguard-demo:2.0-errors (10 % of
requests fail). The clock starts when the last canary pod turns Ready (the pod's Ready condition) and stops
when the ReleaseValidation enters RollingBack (the status write that follows the rollback patches).
Prometheus scrapes every 5 s (hack/prometheus/prometheus.yml). Prints each run and the median.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import statistics
import subprocess
import sys
import time
import typing
import uuid
from typing import Any

import kubernetes

REPO = pathlib.Path(__file__).resolve().parents[2]
INTERVAL = "10s"
ERRORS_QUERY = 'sum(increase(http_requests_total{code=~"5..",{{ selector }}}[{{ window }}]))'
TOTAL_QUERY = "sum(increase(http_requests_total{{{ selector }}}[{{ window }}]))"
SCRAPE_INTERVAL = "5s"


def release_validation(prometheus_url: str) -> dict[str, Any]:
    return {
        "apiVersion": "releaseguard.io/v1alpha1",
        "kind": "ReleaseValidation",
        "metadata": {"name": "bench"},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": "demo"},
            "service": "demo",
            "steps": [{"weight": 25, "duration": "5m"}],
            "analysis": {
                "interval": INTERVAL,
                "failureLimit": 2,
                "inconclusiveLimit": 30,
                "prometheus": {"url": prometheus_url},
                "metrics": [
                    {
                        "name": "error-rate",
                        "kind": "ratio",
                        "errors": ERRORS_QUERY,
                        "total": TOTAL_QUERY,
                        "judge": {"type": "compare", "maxRelativeIncrease": 0.5, "maxAbsolute": 0.02},
                    }
                ],
            },
        },
    }


def kubectl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=True).stdout


def wait(what: str, probe: Any, *, timeout: float = 180, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"bench-detection: timed out waiting for {what}")


def canary_ready_at(core: kubernetes.client.CoreV1Api, namespace: str) -> datetime.datetime | None:
    """When the last canary pod turned Ready, or None while any is not Ready yet."""
    pods = core.list_namespaced_pod(namespace, label_selector="releaseguard.io/track=canary").items
    times = []
    for pod in pods:
        conditions = pod.status.conditions if pod.status and pod.status.conditions else []
        ready = [c.last_transition_time for c in conditions if c.type == "Ready" and c.status == "True"]
        if not ready or ready[0] is None:
            return None
        times.append(ready[0])
    return max(times) if times else None


def phase(custom: kubernetes.client.CustomObjectsApi, namespace: str) -> str | None:
    rv = typing.cast(
        dict[str, Any],
        custom.get_namespaced_custom_object(
            "releaseguard.io", "v1alpha1", namespace, "releasevalidations", "bench"
        ),
    )
    found: str | None = (rv.get("status") or {}).get("phase")
    return found


def watch_until_rollback(
    core: kubernetes.client.CoreV1Api, custom: kubernetes.client.CustomObjectsApi, namespace: str
) -> tuple[datetime.datetime, datetime.datetime]:
    """When the canary pods were all Ready (their condition, 1 s resolution) and when RollingBack was seen.

    Polled every 0.2 s: the canary pods are gone soon after the rollback, so their Ready time is read
    while they exist.
    """
    ready_at = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready_at = ready_at or canary_ready_at(core, namespace)
        if phase(custom, namespace) == "RollingBack":
            if ready_at is None:
                raise SystemExit("bench-detection: rolled back before the canary was seen Ready")
            return ready_at, datetime.datetime.now(datetime.UTC)
        time.sleep(0.2)
    raise SystemExit("bench-detection: no rollback within 5 minutes")


def one_run(run: int, *, seed: int, prometheus_url: str, state_dir: str) -> float:
    core = kubernetes.client.CoreV1Api()
    custom = kubernetes.client.CustomObjectsApi()
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    load = None
    try:
        kubectl("apply", "-n", namespace, "-f", str(REPO / "hack/demo/manifests/demo-app.yaml"))
        kubectl("rollout", "status", "-n", namespace, "deployment/demo", "--timeout=90s")
        load = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "hack/demo/loadgen.py"),
                f"--namespace={namespace}",
                "--service=demo",
                "--rps=40",
                f"--seed={seed + run}",
                "--duration=600",
                f"--state-dir={state_dir}",
            ],
            stdout=subprocess.DEVNULL,
        )
        custom.create_namespaced_custom_object(
            "releaseguard.io", "v1alpha1", namespace, "releasevalidations", release_validation(prometheus_url)
        )
        wait("adoption", lambda: phase(custom, namespace) == "Idle")
        kubectl("set", "image", "-n", namespace, "deployment/demo", "app=releaseguard-demo:2.0-errors")
        ready_at, rolled_back_at = watch_until_rollback(core, custom, namespace)
        seconds = (rolled_back_at - ready_at).total_seconds()
        print(
            f"run {run + 1}: canary Ready {ready_at:%H:%M:%S} -> RollingBack {rolled_back_at:%H:%M:%S.%f}"
            f" = {seconds:.1f} s",
            flush=True,
        )
        return seconds
    finally:
        if load is not None:
            load.terminate()
            load.wait(timeout=15)
        kubectl("delete", "namespace", namespace, "--wait=false")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    kubernetes.config.load_kube_config()
    print(
        f"analysis interval {INTERVAL}, Prometheus scrape interval {SCRAPE_INTERVAL}, "
        f"load 40 req/s, bad revision 2.0-errors (10 % 5xx), runs {args.runs}, seed {args.seed}",
        flush=True,
    )
    figures = [
        one_run(
            run,
            seed=args.seed,
            prometheus_url=os.environ["RG_PROMETHEUS_URL"],
            state_dir=os.environ["RG_CLUSTER_DIR"],
        )
        for run in range(args.runs)
    ]
    print(
        f"detection: median {statistics.median(figures):.1f} s, min {min(figures):.1f} s, "
        f"max {max(figures):.1f} s over {len(figures)} runs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
