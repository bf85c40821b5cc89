"""The generated CRD on a real apiserver: it installs, prints its columns, and rejects bad specs by field."""

from __future__ import annotations

import pathlib

import pytest

from tests.integration import conftest

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "rv"
INVALID = sorted(FIXTURES.glob("invalid-*.yaml"))
VALID = sorted(FIXTURES.glob("valid-*.yaml"))


def expected_message(manifest: pathlib.Path) -> str:
    first_line = manifest.read_text().splitlines()[0]
    assert first_line.startswith("# expect: "), f"{manifest.name} must start with '# expect: <message>'"
    return first_line.removeprefix("# expect: ").strip()


def test_enough_invalid_manifests_are_covered() -> None:
    assert len(INVALID) >= 8


@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize("manifest", INVALID, ids=lambda path: path.stem)
def test_apiserver_rejects_invalid_spec_naming_the_field(
    manifest: pathlib.Path, kubectl: conftest.Kubectl, namespace: str
) -> None:
    result = kubectl.apply(manifest.read_text(), namespace=namespace, check=False)
    assert result.returncode != 0, f"{manifest.name} was accepted"
    assert expected_message(manifest) in result.stderr


@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize("manifest", VALID, ids=lambda path: path.stem)
def test_apiserver_accepts_valid_spec(
    manifest: pathlib.Path, kubectl: conftest.Kubectl, namespace: str
) -> None:
    kubectl.apply(manifest.read_text(), namespace=namespace)


@pytest.mark.usefixtures("crd")
def test_get_shows_printer_columns(kubectl: conftest.Kubectl, namespace: str) -> None:
    kubectl.apply(VALID[0].read_text(), namespace=namespace)
    header = kubectl.run("get", "rv", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "TARGET", "PHASE", "WEIGHT", "VERDICT", "AGE"]
    name = kubectl.run("get", "rv", "-n", namespace, "-o", "name").stdout.strip()
    by_category = kubectl.run("get", "releaseguard", "-n", namespace, "-o", "name").stdout.strip()
    assert by_category == name
