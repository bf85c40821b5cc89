"""The GitOps pieces in charts/manifests/: Argo CD's health check for ReleaseValidations, run by a real Lua
5.4 on objects as Argo CD hands them over, and the kustomization over the rendered chart."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.integration import conftest

ARGOCD = conftest.REPO / "charts" / "manifests" / "argocd"
HEALTH_LUA = ARGOCD / "releasevalidation-health.lua"
HEALTH_KEY = "resource.customizations.health.releaseguard.io_ReleaseValidation"


def lua_literal(value: Any) -> str:
    """A Lua table constructor (or scalar) for a JSON-like value, as Argo CD converts objects for Lua."""
    if isinstance(value, dict):
        fields = (f"[{lua_literal(str(key))}] = {lua_literal(item)}" for key, item in value.items())
        return "{" + ", ".join(fields) + "}"
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if value is None:
        return "nil"
    return lua_string(str(value))


def lua_string(text: str) -> str:
    """A Lua string literal: printable ASCII as is, every other UTF-8 byte as a decimal escape."""
    escaped = "".join(
        chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte:03d}"
        for byte in text.encode()
    )
    return f'"{escaped}"'


def health(obj: dict[str, Any]) -> dict[str, str]:
    """Run the health check on `obj` (a global, as in Argo CD) and return what it returned."""
    program = (
        f"obj = {lua_literal(obj)}\n"
        f"local result = (function()\n{HEALTH_LUA.read_text()}\nend)()\n"
        'io.write(result.status, "\\0", result.message)\n'
    )
    completed = subprocess.run(
        ["lua5.4", "-"], input=program, capture_output=True, text=True, timeout=10, check=False
    )
    assert completed.returncode == 0, completed.stderr
    status, message = completed.stdout.split("\0")
    return {"status": status, "message": message}


def release_validation(status: dict[str, Any] | None, *, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "releaseguard.io/v1alpha1",
        "kind": "ReleaseValidation",
        "metadata": {"name": "checkout", "namespace": "shop", "generation": generation},
        "spec": {"targetRef": {"kind": "Deployment", "name": "checkout"}, "steps": [{"weight": 10}]},
    }
    if status is not None:
        obj["status"] = status
    return obj


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Idle", "Healthy"),
        ("Succeeded", "Healthy"),
        ("Progressing", "Progressing"),
        ("Promoting", "Progressing"),
        ("Baking", "Progressing"),
        ("RollingBack", "Progressing"),
        ("Paused", "Suspended"),
        ("RolledBack", "Degraded"),
        ("Degraded", "Degraded"),
    ],
)
def test_health_follows_the_phase_with_the_status_message(phase: str, expected: str) -> None:
    message = f'step 1/2 at 10% — error-rate "Pass" ({phase})'
    got = health(release_validation({"phase": phase, "message": message, "observedGeneration": 1}))
    assert got == {"status": expected, "message": message}


@pytest.mark.parametrize("status", [None, {}, {"conditions": []}])
def test_a_release_validation_without_a_phase_is_progressing(status: dict[str, Any] | None) -> None:
    assert health(release_validation(status))["status"] == "Progressing"


def test_a_spec_the_operator_has_not_seen_yet_is_progressing() -> None:
    got = health(release_validation({"phase": "Succeeded", "observedGeneration": 1}, generation=2))
    assert got == {"status": "Progressing", "message": "Waiting for releaseguard to observe generation 2"}


def test_without_a_message_the_phase_is_the_message() -> None:
    assert health(release_validation({"phase": "Idle"})) == {"status": "Healthy", "message": "Phase Idle"}


def test_an_unknown_phase_is_unknown() -> None:
    assert health(release_validation({"phase": "Exploded"}))["status"] == "Unknown"


def test_the_argocd_configmap_patch_embeds_the_health_check_unchanged() -> None:
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert patch["metadata"]["name"] == "argocd-cm"
    assert patch["data"][HEALTH_KEY] == HEALTH_LUA.read_text(), (
        "argocd-cm-patch.yaml and releasevalidation-health.lua differ: copy the script into the patch"
    )


def test_the_kustomization_puts_every_namespaced_object_in_releaseguard_system(
    kubectl: conftest.Kubectl,
) -> None:
    built = kubectl.run("kustomize", str(conftest.REPO / "charts" / "manifests")).stdout
    objects = [obj for obj in yaml.safe_load_all(built) if obj]
    kinds = {obj["kind"] for obj in objects}
    assert {"Namespace", "CustomResourceDefinition", "Deployment", "ClusterRole"} <= kinds
    cluster_scoped = {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterKopfPeering",
    }
    for obj in objects:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"].get("namespace") == "releaseguard-system", obj["metadata"]
