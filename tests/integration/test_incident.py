"""A bad release's incident on the local cluster: what it tells, whom it tells, and what it keeps to itself.

One release that breaks checkout under load exercises the whole path at once: the incident names the route
and the image, a signed webhook verifies, a receiver holding another key refuses and is retried, the real
Alertmanager holds one alert group while the release hurts and none once it is rolled back, and the
distinctive Secret values never leave the Secret. A second test measures what receivers that are down
cost a rollback: nothing, since posts run in the background.
"""

from __future__ import annotations

import collections.abc
import contextlib
import datetime
import json
import os
import pathlib
import subprocess
import threading
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest
import yaml

from releaseguard.notify import payloads
from releaseguard.report import document
from tests.integration import browser, conftest, receivers
from tests.integration.test_release import events, release_validation, rv, wait_for_phase

pytestmark = [pytest.mark.usefixtures("operator_process"), pytest.mark.timeout(300)]

SECRET = "rg-notify"
SEGMENTED_ERRORS = (
    'sum by ({{ segment }}) (increase(http_requests_total{code=~"5..",{{ selector }}}[{{ window }}]))'
)
SEGMENTED_TOTAL = "sum by ({{ segment }}) (increase(http_requests_total{{{ selector }}}[{{ window }}]))"


def alertmanager_url() -> str:
    url = os.environ.get("RG_ALERTMANAGER_URL")
    if not url:
        pytest.fail('RG_ALERTMANAGER_URL not set: run `make integration` or eval "$(hack/cluster env)"')
    return url


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def alertmanager() -> str:
    """The cluster's Alertmanager, running the repository's current config: it reads the file at start,
    so a cluster started before the config changed groups by something else until it reloads."""
    url = alertmanager_url()
    urllib.request.urlopen(urllib.request.Request(f"{url}/-/reload", method="POST"), timeout=10).close()
    config = yaml.safe_load(get_json(f"{url}/api/v2/status")["config"]["original"])
    assert config["route"]["group_by"] == ["namespace", "releasevalidation"]
    return url


def alert_groups(url: str, namespace: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"filter": f'namespace="{namespace}"'})
    groups: list[dict[str, Any]] = get_json(f"{url}/api/v2/alerts/groups?{query}")
    return groups


def active_alerts(url: str, namespace: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"filter": f'namespace="{namespace}"', "active": "true"})
    alerts: list[dict[str, Any]] = get_json(f"{url}/api/v2/alerts?{query}")
    return alerts


@contextlib.contextmanager
def sampled(
    probe: collections.abc.Callable[[], list[dict[str, Any]]], *, interval: float = 0.25
) -> collections.abc.Iterator[list[list[dict[str, Any]]]]:
    """Every non-empty answer of `probe` while the block runs: an alert fires only between the rollback
    decision and its completion, a few seconds that a check after the fact would miss."""
    samples: list[list[dict[str, Any]]] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            answer = probe()
            if answer:
                samples.append(answer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join(timeout=10)


def with_spec(manifest: str, *lines: str) -> str:
    """The ReleaseValidation with more spec fields, given as YAML lines under `spec:`."""
    return manifest.rstrip("\n") + "\n" + "".join(f"  {line}\n" for line in lines)


def incident_manifest(*, alertmanager: str) -> str:
    """Error rate split by route on failure; webhook URLs and the signing key come from the Secret."""
    manifest = release_validation(checks=False)
    manifest = manifest.replace(
        'errors: sum(increase(http_requests_total{code=~"5..",{{ selector }}}[{{ window }}]))',
        f"errors: {SEGMENTED_ERRORS}",
    ).replace(
        "total: sum(increase(http_requests_total{{{ selector }}}[{{ window }}]))", f"total: {SEGMENTED_TOTAL}"
    )
    assert SEGMENTED_ERRORS in manifest
    assert SEGMENTED_TOTAL in manifest
    return with_spec(
        manifest,
        "impact: {segments: [route]}",
        "notifications:",
        f"  - {{name: signed, type: webhook, secretRef: {{name: {SECRET}, key: signed-url}},"
        f" signingSecretRef: {{name: {SECRET}, key: signing-key}}}}",
        f"  - {{name: wrong-key, type: webhook, secretRef: {{name: {SECRET}, key: wrong-key-url}},"
        f" signingSecretRef: {{name: {SECRET}, key: signing-key}}}}",
        f'  - {{name: alertmanager, type: alertmanager, url: "{alertmanager}",'
        " labels: {suite: releaseguard-integration}}",
    )


@pytest.mark.usefixtures("load")
def test_a_bad_release_opens_an_incident_that_is_told_signed_grouped_and_without_secrets(
    kubectl: conftest.Kubectl,
    namespace: str,
    alertmanager: str,
    operator_process: conftest.Operator,
    tmp_path: pathlib.Path,
) -> None:
    token, key = f"tok{uuid.uuid4().hex}", f"key{uuid.uuid4().hex}"
    with (
        receivers.Webhook(key=key.encode()) as signed,
        receivers.Webhook(key=b"not-the-key-the-operator-signs-with") as wrong_key,
    ):
        kubectl.run(
            "create",
            "secret",
            "generic",
            SECRET,
            "-n",
            namespace,
            f"--from-literal=signed-url={signed.url(f'/hooks/{token}')}",
            f"--from-literal=wrong-key-url={wrong_key.url(f'/hooks/{token}')}",
            f"--from-literal=signing-key={key}",
        )
        kubectl.apply(
            incident_manifest(alertmanager=alertmanager),
            namespace=namespace,
        )
        wait_for_phase(kubectl, namespace, "Idle", timeout=30)
        with sampled(lambda: alert_groups(alertmanager, namespace)) as group_samples:
            kubectl.run(
                "set",
                "image",
                "deployment/demo",
                "app=releaseguard-demo:2.0-checkout-broken",
                "-n",
                namespace,
            )
            rolled_back = wait_for_phase(kubectl, namespace, "RolledBack")
            # Resolved in Alertmanager: the operator posted the alert again with endsAt now.
            conftest.eventually(
                lambda: not active_alerts(alertmanager, namespace),
                timeout=30,
                what="no active alert for the release",
            )

        incident = rolled_back["status"]["incident"]
        revision = incident["revision"]
        print(f"incident: {incident['summary']}; segments {incident['segments']}")

        # The incident: the checkout route explains the excess, the changed image is the first suspect.
        assert incident["severity"] in {"SEV1", "SEV2", "SEV3", "SEV4"}
        assert incident["resolvedAt"] >= incident["openedAt"]
        assert incident["segments"][0]["label"] == "route"
        assert incident["segments"][0]["value"] == "/api/checkout"
        assert incident["segments"][0]["metric"] == "error-rate"
        assert any(
            "releaseguard-demo:1.0" in cause and "releaseguard-demo:2.0-checkout-broken" in cause
            for cause in incident["suspectedCause"]
        ), incident["suspectedCause"]
        reasons = {event["reason"]: event for event in events(kubectl, namespace)}
        assert reasons["Incident"]["type"] == "Warning"
        assert reasons["Incident"]["message"] == incident["summary"]
        assert reasons["IncidentResolved"]["type"] == "Normal"

        # Alertmanager: one group for the release while it hurt, holding the revision's one alert.
        assert group_samples, "Alertmanager never showed an alert group for the release"
        assert {len(sample) for sample in group_samples} == {1}
        group = group_samples[-1][0]
        assert group["labels"] == {"namespace": namespace, "releasevalidation": "guard"}
        [alert] = group["alerts"]
        assert alert["labels"]["alertname"] == payloads.ALERT_NAME
        assert alert["labels"]["severity"] == incident["severity"]
        assert alert["labels"]["revision"] == revision
        assert alert["labels"]["deployment"] == "demo"
        assert alert["labels"]["suite"] == "releaseguard-integration"
        assert alert["labels"]["summary"] == incident["summary"]
        assert alert["annotations"]["summary"] == incident["summary"]
        assert {len(sample[0]["alerts"]) for sample in group_samples} == {1}

        # The signed webhook: every post verifies under the Secret's key, the rollback's carries the incident.
        def signed_failure() -> list[receivers.Request]:
            return [r for r in signed.received() if r.json()["event"] == "rollingBack"]

        [rolling_back] = conftest.eventually(signed_failure, timeout=30, what="the signed rollingBack post")
        for request in signed.received():
            assert request.path == f"/hooks/{token}"
            assert request.status == 204
            header = request.headers[payloads.SIGNATURE_HEADER]
            assert payloads.verify(request.body, key=key.encode(), header=header)
            assert request.headers[payloads.ID_HEADER] == f"{namespace}/guard/{request.json()['id']}"
        body = rolling_back.json()
        assert body["id"] == f"{revision}/rollingBack"
        assert body["severity"] == incident["severity"]
        assert body["incident"]["segments"][0]["value"] == "/api/checkout"

        # The receiver holding another key refuses every post, and the operator keeps them to retry.
        def refused_and_kept() -> list[dict[str, Any]]:
            outbox = (rv(kubectl, namespace).get("status") or {}).get("outbox") or []
            return [entry for entry in outbox if entry["route"] == "wrong-key" and entry.get("lastError")]

        kept = conftest.eventually(refused_and_kept, timeout=30, what="wrong-key posts kept for a retry")
        assert {entry["lastError"] for entry in kept} == {"HTTP 401"}
        assert all(entry["attempts"] >= 1 for entry in kept)
        assert wrong_key.received()
        assert {request.status for request in wrong_key.received()} == {401}

        # Posts run in the background: the reconciliation after a post records it as delivered.
        def notified() -> set[str]:
            done = set(rv(kubectl, namespace)["status"].get("notified") or [])
            return done if f"alertmanager/{revision}/resolved" in done else set()

        delivered = conftest.eventually(notified, timeout=30, what="the resolved alert recorded as delivered")
        assert f"alertmanager/{revision}/firing" in delivered
        assert not any(entry.startswith("wrong-key/") for entry in delivered)

    # The validation report, written when the rollback completed: the plugin prints it or saves the page.
    assert rolled_back["status"]["report"] == f"guard-report-{revision}"
    plugin = str(conftest.REPO / ".venv" / "bin" / "kubectl-releaseguard")
    printed = subprocess.run(
        [plugin, "report", "guard", "-n", namespace], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    assert printed.startswith(f"# {namespace}/guard: revision {revision} RolledBack")
    assert "/api/checkout" in printed
    assert "**FailureLimitReached**" in printed or "**CriticalMetricFailed**" in printed
    page = tmp_path / "report.html"
    subprocess.run([plugin, "report", "guard", "-n", namespace, "--html", str(page)], check=True, timeout=30)
    assert '<figure class="chart" data-metric="error-rate">' in page.read_text()
    # ...and a real browser renders it: the DOM Chromium builds holds the decision and the chart, and its
    # screenshot shows both lines in their colours.
    rendered = browser.dom(page)
    assert "Outcome: <strong>RolledBack</strong>" in rendered
    assert '<polyline class="canary"' in rendered
    png = browser.screenshot(page, tmp_path / "report.png")
    assert browser.count_colour(png, document.CANARY_COLOUR) > 50
    assert browser.count_colour(png, document.BASELINE_COLOUR) > 50

    # What the Secret holds stays there: not in status, Events, the report, or the operator's log.
    status = json.dumps(rv(kubectl, namespace)["status"])
    listed = json.dumps(events(kubectl, namespace))
    log = operator_process.log_path.read_text(errors="replace")
    for secret in (token, key):
        assert secret not in status
        assert secret not in listed
        assert secret not in printed
        assert secret not in page.read_text()
        assert secret not in log


@contextlib.contextmanager
def app_under_load(kubectl: conftest.Kubectl) -> collections.abc.Iterator[str]:
    """Another namespace with the demo app under load, so that two releases run side by side."""
    name = conftest.new_namespace_name()
    kubectl.run("create", "namespace", name)
    try:
        kubectl.apply(conftest.DEMO_APP.read_text(), namespace=name)
        kubectl.run("rollout", "status", "deployment/demo", "-n", name, "--timeout=90s")
        with conftest.steady_load(namespace=name, state_dir=os.environ["RG_CLUSTER_DIR"]):
            yield name
    finally:
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def incident_duration(found: dict[str, Any]) -> float:
    """Seconds from the rollback decision (the incident opening) to the rollback's completion."""
    incident = found["status"]["incident"]
    opened, resolved = (
        datetime.datetime.fromisoformat(incident[field]) for field in ("openedAt", "resolvedAt")
    )
    return (resolved - opened).total_seconds()


@pytest.mark.usefixtures("load")
def test_receivers_that_are_down_do_not_delay_the_rollback(kubectl: conftest.Kubectl, namespace: str) -> None:
    """Two identical bad releases side by side, one told to receivers that refuse or never answer."""
    with receivers.unanswered_port() as silent, app_under_load(kubectl) as quiet:
        down = with_spec(
            release_validation(checks=False),
            "notifications:",
            f'  - {{name: refused, type: webhook, url: "http://127.0.0.1:{receivers.closed_port()}/hook"}}',
            f'  - {{name: silent, type: webhook, url: "http://127.0.0.1:{silent}/hook"}}',
        )
        kubectl.apply(down, namespace=namespace)
        kubectl.apply(release_validation(checks=False), namespace=quiet)
        for each in (namespace, quiet):
            wait_for_phase(kubectl, each, "Idle", timeout=30)
        for each in (namespace, quiet):
            kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:2.0-errors", "-n", each)
        with_receivers = incident_duration(wait_for_phase(kubectl, namespace, "RolledBack"))
        without = incident_duration(wait_for_phase(kubectl, quiet, "RolledBack"))

        # The failed posts, recorded by the reconciliation after them.
        def failed_posts() -> dict[str, str]:
            outbox = rv(kubectl, namespace)["status"].get("outbox") or []
            errors = {entry["route"]: entry.get("lastError") for entry in outbox}
            return errors if errors.get("refused") and errors.get("silent") else {}

        errors = conftest.eventually(failed_posts, timeout=30, what="both failed posts recorded")

    print(
        f"rollback (incident opened -> resolved): {without:.1f}s without receivers, "
        f"{with_receivers:.1f}s with a refusing and a silent one; outbox errors {errors}"
    )
    assert errors.get("refused", "").startswith("cannot connect")
    assert errors.get("silent") == "no answer within 2s"
    assert with_receivers - without < 5
