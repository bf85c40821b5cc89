"""The operator's /metrics after a real promotion and a real rollback, scraped as Prometheus would.

One ReleaseValidation, notifying a local signed webhook, promotes a healthy image and rolls back an
erroring one; its own series must tell exactly that story. The histograms and delivery counts are shared
by every release the session's operator handles, so they are compared with a scrape taken before.
"""

from __future__ import annotations

import urllib.request
import uuid

import pytest
from prometheus_client import parser, samples

from tests.integration import conftest, receivers
from tests.integration.test_release import release_validation, wait_for_phase

pytestmark = [pytest.mark.usefixtures("operator_process"), pytest.mark.timeout(300)]

SECRET = "rg-metrics-hook"


def scrape(port: int) -> list[samples.Sample]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return [sample for family in parser.text_string_to_metric_families(text) for sample in family.samples]


def value(scraped: list[samples.Sample], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels`; 0 when there is none."""
    return sum(
        sample.value
        for sample in scraped
        if sample.name == name and all(sample.labels.get(key) == want for key, want in labels.items())
    )


def manifest(*, hook_url: str) -> str:
    return (
        release_validation(checks=False).rstrip("\n")
        + "\n  notifications:\n"
        + f'    - {{name: hook, type: webhook, url: "{hook_url}",'
        + f" signingSecretRef: {{name: {SECRET}, key: signing-key}}}}\n"
    )


@pytest.mark.usefixtures("load")
def test_a_promotion_and_a_rollback_show_on_the_operators_metrics(
    kubectl: conftest.Kubectl, namespace: str, operator_process: conftest.Operator
) -> None:
    port = operator_process.metrics_port
    key = f"key{uuid.uuid4().hex}"
    with receivers.Webhook(key=key.encode()) as hook:
        kubectl.run(
            "create", "secret", "generic", SECRET, "-n", namespace, f"--from-literal=signing-key={key}"
        )
        kubectl.apply(manifest(hook_url=hook.url("/hooks/metrics")), namespace=namespace)
        wait_for_phase(kubectl, namespace, "Idle", timeout=30)
        before = scrape(port)

        kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)
        wait_for_phase(kubectl, namespace, "Succeeded", timeout=120)
        kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:2.0-errors", "-n", namespace)
        wait_for_phase(kubectl, namespace, "RolledBack", timeout=120)

        delivered = "releaseguard_notification_deliveries_total"
        webhook_delivered = {"type": "webhook", "result": "delivered"}
        conftest.eventually(
            lambda: (
                value(scrape(port), delivered, **webhook_delivered)
                > value(before, delivered, **webhook_delivered)
            ),
            timeout=30,
            what="a webhook delivery counted",
        )
        after = scrape(port)
        accepted = [request for request in hook.received() if request.status == 204]

    this_rv = {"namespace": namespace, "releasevalidation": "guard"}

    def decisions(outcome: str) -> float:
        return value(after, "releaseguard_decisions_total", **this_rv, outcome=outcome)

    def verdicts(metric: str, verdict: str) -> float:
        return value(after, "releaseguard_analysis_verdicts_total", **this_rv, metric=metric, verdict=verdict)

    def grown(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    figures = {
        "decisions": {outcome: decisions(outcome) for outcome in ("promote", "rollback", "pause")},
        "error-rate verdicts": {v: verdicts("error-rate", v) for v in ("pass", "fail", "inconclusive")},
        "analyses": grown("releaseguard_analysis_duration_seconds_count"),
        "analysis seconds": grown("releaseguard_analysis_duration_seconds_sum"),
        "lag seconds": grown("releaseguard_analysis_lag_seconds_sum"),
        "queries": grown("releaseguard_prometheus_query_duration_seconds_count"),
        "query seconds": grown("releaseguard_prometheus_query_duration_seconds_sum"),
        "query errors": {
            reason: grown("releaseguard_prometheus_query_errors_total", reason=reason)
            for reason in ("NoDataError", "ProviderUnavailable", "QueryError")
        },
        "webhook deliveries": grown(delivered, **webhook_delivered),
        "posts accepted by the receiver": len(accepted),
    }
    print(f"operator metrics for one promotion and one rollback: {figures}")

    assert decisions("promote") == 1
    assert decisions("rollback") == 1
    assert decisions("pause") == 0
    assert verdicts("error-rate", "pass") > 0
    assert verdicts("error-rate", "fail") > 0
    assert value(after, "releaseguard_releases", phase="RolledBack") >= 1
    assert grown("releaseguard_analysis_duration_seconds_count") > 0
    assert grown("releaseguard_analysis_lag_seconds_count") > 0
    assert grown("releaseguard_prometheus_query_duration_seconds_count") > 0
    assert grown(delivered, **webhook_delivered) >= 1
    assert accepted
