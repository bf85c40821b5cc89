"""Bad input on the real apiserver and the running operator: fuzzed specs and odd targets.

A spec is either refused by the apiserver with a message naming the field, or stored and then handled by
the operator with a clear condition. Nothing a user writes may crash a handler or hold up other releases.
"""

from __future__ import annotations

import collections
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from releaseguard import reconciler
from releaseguard.rollout import decide
from tests.integration import conftest, spec_strategies

FUZZ_EXAMPLES = 40
# What a crashed handler leaves in kopf's log.
CRASH = re.compile(r"Traceback|Handler '[^']*' failed|Timer '[^']*' failed")


def manifest(name: str, spec: dict[str, Any], *, labels: dict[str, str] | None = None) -> str:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}}
    return json.dumps(
        {
            "apiVersion": "releaseguard.io/v1alpha1",
            "kind": "ReleaseValidation",
            "metadata": metadata,
            "spec": spec,
        }
    )


def apply(kubectl: conftest.Kubectl, text: str, *, namespace: str) -> Any:
    # Server-side: no last-applied annotation, whose size limit would hide the spec's own errors.
    return kubectl.run("apply", "--server-side", "-n", namespace, "-f", "-", stdin=text, check=False)


def ready_condition(rv: dict[str, Any]) -> dict[str, Any] | None:
    conditions = (rv.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


def wait_for_ready(
    kubectl: conftest.Kubectl, name: str, *, namespace: str, timeout: float = 60
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        return ready_condition(kubectl.get("rv", name, namespace=namespace) or {})

    found: dict[str, Any] = conftest.eventually(probe, timeout=timeout, what=f"Ready condition of {name}")
    return found


def assert_no_crash(operator: conftest.Operator) -> None:
    crashes = [
        line for line in operator.log_path.read_text(errors="replace").splitlines() if CRASH.search(line)
    ]
    assert not crashes, "\n".join(crashes[:20])


def plain_spec(*, target: str, service: str = "demo") -> dict[str, Any]:
    return {
        "targetRef": {"kind": "Deployment", "name": target},
        "service": service,
        "steps": [{"weight": 20, "duration": "30s"}],
        "analysis": {"interval": "10s", "syntheticChecks": [{"name": "home", "http": {"path": "/"}}]},
    }


def overlong_step() -> dict[str, Any]:
    spec = plain_spec(target="absent")
    spec["steps"][0]["duration"] = "99999999h"
    return spec


def unicode_url() -> dict[str, Any]:
    spec = plain_spec(target="absent")
    spec["analysis"]["prometheus"] = {"url": "http://prometheus\u00a0.monitoring:9090"}
    return spec


# --- fuzzed specs ---------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_fuzzed_specs_are_refused_by_field_or_handled_with_a_condition(
    operator_process: conftest.Operator, kubectl: conftest.Kubectl, namespace: str
) -> None:
    applied: list[spec_strategies.Case] = []
    rejected: list[tuple[spec_strategies.Case, str]] = []

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        # Each example is a round trip to the apiserver: report the first failure as found, unshrunk.
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(spec_strategies.cases)
    # Past the CRD, refused by the models: a step of centuries, a URL with a Unicode space.
    @example(spec_strategies.Case(spec=overlong_step(), mutation="99999999h", path=("steps", 0, "duration")))
    @example(
        spec_strategies.Case(spec=unicode_url(), mutation="U+00A0", path=("analysis", "prometheus", "url"))
    )
    def apply_one(case: spec_strategies.Case) -> None:
        name = f"fuzz-{len(applied) + len(rejected)}"
        result = apply(kubectl, manifest(name, case.spec, labels={"fuzz": "yes"}), namespace=namespace)
        if result.returncode == 0:
            applied.append(case)
            return
        message = result.stderr.strip()
        # The apiserver names the field (spec.steps[0].weight, .spec.extra, spec: for cross-field rules),
        # unless the text cannot even be decoded (YAML refuses control characters, C1 ones included).
        undecodable = "control characters are not allowed" in message
        assert undecodable or re.search(r"spec[.\[:]", message), (
            f"{case.mutation} at {case.field()}: {message}"
        )
        rejected.append((case, "undecodable" if undecodable else message))

    apply_one()

    stored = json.loads(kubectl.run("get", "rv", "-n", namespace, "-l", "fuzz=yes", "-o", "json").stdout)
    expected = {rv["metadata"]["name"]: reconciler.parse_spec(rv["spec"]) for rv in stored["items"]}
    assert len(expected) == len(applied)

    def all_handled() -> dict[str, dict[str, Any]] | None:
        items = json.loads(kubectl.run("get", "rv", "-n", namespace, "-l", "fuzz=yes", "-o", "json").stdout)
        ready = {rv["metadata"]["name"]: ready_condition(rv) for rv in items["items"]}
        if any(condition is None for condition in ready.values()):
            return None
        return {name: condition for name, condition in ready.items() if condition is not None}

    handled: dict[str, dict[str, Any]] = conftest.eventually(
        all_handled, timeout=60, what="a Ready condition on every stored ReleaseValidation"
    )
    tally = collections.Counter(
        "rejected as undecodable"
        if message == "undecodable"
        else "rejected by the apiserver naming the field"
        for _, message in rejected
    )
    for name, parsed in expected.items():
        condition = handled[name]
        assert condition["status"] == "False", (name, condition)
        if isinstance(parsed, decide.InvalidSpec):
            assert condition["reason"] == "InvalidSpec", (name, condition)
            assert condition["message"] == parsed.message
            tally["stored, refused by the models (InvalidSpec)"] += 1
        else:
            # The generated targets do not exist: the operator got past the spec.
            assert condition["reason"] == "TargetNotFound", (name, condition)
            tally["stored and accepted (TargetNotFound)"] += 1
    print(f"fuzzed manifests: {dict(tally)}")
    assert tally["stored, refused by the models (InvalidSpec)"] >= 2, (
        "the explicit examples slip past the CRD"
    )

    # The batch holds up nothing: a plain ReleaseValidation applied after it gets its status promptly.
    assert apply(kubectl, manifest("after", plain_spec(target="later")), namespace=namespace).returncode == 0
    assert wait_for_ready(kubectl, "after", namespace=namespace, timeout=30)["reason"] == "TargetNotFound"
    assert_no_crash(operator_process)


# --- odd targets ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("crd")
def test_a_target_that_is_not_a_deployment_is_refused_by_the_apiserver(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    spec = plain_spec(target="web")
    spec["targetRef"]["kind"] = "StatefulSet"
    result = apply(kubectl, manifest("guard", spec), namespace=namespace)
    assert result.returncode != 0
    assert 'spec.targetRef.kind: Unsupported value: "StatefulSet"' in result.stderr
    assert '"Deployment"' in result.stderr


def test_a_target_in_another_namespace_cannot_be_named(
    operator_process: conftest.Operator, kubectl: conftest.Kubectl, namespace: str
) -> None:
    elsewhere = conftest.new_namespace_name()
    kubectl.run("create", "namespace", elsewhere)
    try:
        kubectl.apply(conftest.DEMO_APP.read_text(), namespace=elsewhere)
        spec = plain_spec(target="demo")
        spec["targetRef"]["namespace"] = elsewhere
        refused = apply(kubectl, manifest("guard", spec), namespace=namespace)
        assert refused.returncode != 0
        assert "spec.targetRef.namespace" in refused.stderr
        # Without client-side strictness the apiserver prunes the field: the reference stays namespace-local.
        kubectl.run("apply", "--validate=false", "-n", namespace, "-f", "-", stdin=manifest("guard", spec))
        stored = kubectl.get("rv", "guard", namespace=namespace)
        assert stored is not None
        assert stored["spec"]["targetRef"] == {"kind": "Deployment", "name": "demo"}
        ready = wait_for_ready(kubectl, "guard", namespace=namespace)
        assert (ready["reason"], ready["message"]) == (
            "TargetNotFound",
            f"Deployment {namespace}/demo not found",
        )
        theirs = kubectl.get("deployment", "demo", namespace=elsewhere)
        assert theirs is not None
        assert not theirs["spec"].get("paused")
        assert "releaseguard.io/guarded-by" not in (theirs["metadata"].get("annotations") or {})
    finally:
        kubectl.run("delete", "namespace", elsewhere, "--wait=false", check=False)


@pytest.mark.usefixtures("operator_process", "demo_app")
def test_a_second_release_validation_of_one_target_is_refused(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    apply(kubectl, manifest("first", plain_spec(target="demo")), namespace=namespace)
    assert wait_for_ready(kubectl, "first", namespace=namespace)["reason"] == "TargetAdopted"
    apply(kubectl, manifest("second", plain_spec(target="demo")), namespace=namespace)

    ready = wait_for_ready(kubectl, "second", namespace=namespace)
    assert (ready["status"], ready["reason"]) == ("False", "TargetGuardedElsewhere")
    assert "guarded by ReleaseValidation first" in ready["message"]
    second = kubectl.get("rv", "second", namespace=namespace)
    assert second is not None
    assert second["status"]["phase"] == "Degraded"
    # The first one keeps the target.
    assert wait_for_ready(kubectl, "first", namespace=namespace)["reason"] == "TargetAdopted"
    target = kubectl.get("deployment", "demo", namespace=namespace)
    assert target is not None
    assert target["metadata"]["annotations"]["releaseguard.io/guarded-by"] == "first"


@pytest.mark.usefixtures("operator_process", "demo_app")
def test_a_missing_service_does_not_stop_adoption(kubectl: conftest.Kubectl, namespace: str) -> None:
    apply(
        kubectl, manifest("guard", plain_spec(target="demo", service="no-such-service")), namespace=namespace
    )
    ready = wait_for_ready(kubectl, "guard", namespace=namespace)
    assert (ready["status"], ready["reason"]) == ("True", "TargetAdopted")


@pytest.mark.usefixtures("operator_process")
def test_a_target_with_zero_replicas_is_adopted_and_its_new_template_waits(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    kubectl.apply(conftest.DEMO_APP.read_text().replace("replicas: 3", "replicas: 0"), namespace=namespace)
    apply(kubectl, manifest("guard", plain_spec(target="demo")), namespace=namespace)
    ready = wait_for_ready(kubectl, "guard", namespace=namespace)
    assert (ready["status"], ready["reason"]) == ("True", "TargetAdopted")
    kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)

    def held() -> dict[str, Any] | None:
        rv = kubectl.get("rv", "guard", namespace=namespace) or {}
        conditions = (rv.get("status") or {}).get("conditions") or []
        found = next((c for c in conditions if c["type"] == "Progressing"), None)
        return found if found is not None and found["reason"] == "TargetScaledToZero" else None

    progressing = conftest.eventually(held, timeout=60, what="Progressing=False TargetScaledToZero")
    assert progressing["status"] == "False"
    assert "has 0 replicas" in progressing["message"]
    # No canary: it would take all the traffic, with no stable pods to compare it with.
    assert kubectl.get("deployment", "demo-canary", namespace=namespace) is None


HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: demo}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: demo}
  minReplicas: 4
  maxReplicas: 6
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
"""


@pytest.mark.usefixtures("operator_process", "demo_app")
def test_an_autoscaled_target_is_guarded_and_its_replicas_left_to_the_autoscaler(
    kubectl: conftest.Kubectl, namespace: str
) -> None:
    apply(kubectl, manifest("guard", plain_spec(target="demo")), namespace=namespace)
    assert wait_for_ready(kubectl, "guard", namespace=namespace)["reason"] == "TargetAdopted"
    kubectl.apply(HPA, namespace=namespace)

    def scaled_by_the_autoscaler() -> dict[str, Any] | None:
        target = kubectl.get("deployment", "demo", namespace=namespace)
        return target if target is not None and target["spec"]["replicas"] == 4 else None

    target = conftest.eventually(scaled_by_the_autoscaler, timeout=60, what="the autoscaler's minReplicas")
    assert target["spec"]["paused"] is True
    ready = wait_for_ready(kubectl, "guard", namespace=namespace)
    assert (ready["status"], ready["reason"]) == ("True", "TargetAdopted")
    # The replicas were written by the manifest and the autoscaler only: the operator wrote the pause alone.
    shown = kubectl.run("get", "deployment", "demo", "-n", namespace, "--show-managed-fields", "-o", "json")
    owners = {
        entry["manager"]
        for entry in json.loads(shown.stdout)["metadata"]["managedFields"]
        if "f:replicas" in (entry.get("fieldsV1") or {}).get("f:spec", {})
    }
    assert "kube-controller-manager" in owners
    assert owners <= {"kubectl-client-side-apply", "kube-controller-manager"}, owners
