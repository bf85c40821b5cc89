"""The demo workload on the local cluster really serves traffic that Prometheus sees per pod."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from typing import Any

from tests.integration import conftest


def ready_pods(kubectl: conftest.Kubectl, namespace: str) -> set[str]:
    pods = json.loads(kubectl.run("get", "pods", "-n", namespace, "-l", "app=demo", "-o", "json").stdout)
    return {
        pod["metadata"]["name"]
        for pod in pods["items"]
        if pod["status"].get("phase") == "Running"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
    }


def wait_for_ready_pods(kubectl: conftest.Kubectl, namespace: str, *, count: int) -> set[str]:
    def enough() -> set[str] | None:
        pods = ready_pods(kubectl, namespace)
        return pods if len(pods) == count else None

    found: set[str] = conftest.eventually(enough, timeout=60, what=f"{count} Ready demo pods")
    return found


def endpoint_pods(kubectl: conftest.Kubectl, namespace: str) -> set[str]:
    slices = json.loads(
        kubectl.run(
            "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=demo", "-o", "json"
        ).stdout
    )
    return {
        endpoint["targetRef"]["name"]
        for endpoint_slice in slices["items"]
        for endpoint in endpoint_slice.get("endpoints") or []
        if endpoint.get("conditions", {}).get("ready")
    }


def request_rate_by_pod(prometheus_url: str, namespace: str) -> dict[str, float]:
    query = f'sum by (pod) (rate(http_requests_total{{namespace="{namespace}"}}[20s]))'
    url = f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, Any] = json.load(response)
    return {sample["metric"]["pod"]: float(sample["value"][1]) for sample in body["data"]["result"]}


def test_demo_deployment_pods_become_ready_and_are_endpoints(
    kubectl: conftest.Kubectl, demo_app: str
) -> None:
    pods = wait_for_ready_pods(kubectl, demo_app, count=3)
    conftest.eventually(
        lambda: endpoint_pods(kubectl, demo_app) == pods, timeout=30, what="EndpointSlices listing the pods"
    )


def test_prometheus_sees_requests_to_every_pod(
    kubectl: conftest.Kubectl, demo_app: str, load: subprocess.Popen[bytes], cluster_env: dict[str, str]
) -> None:
    pods = wait_for_ready_pods(kubectl, demo_app, count=3)

    def every_pod_serves() -> dict[str, float] | None:
        rates = request_rate_by_pod(cluster_env["RG_PROMETHEUS_URL"], demo_app)
        return rates if set(rates) == pods and all(rate > 0 for rate in rates.values()) else None

    conftest.eventually(every_pod_serves, timeout=60, interval=2, what="a request rate for each of 3 pods")
