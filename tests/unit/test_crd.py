"""The generated CRD: committed copy up to date, structural, named as documented, carrying its CEL rules."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import pydantic
import pytest
import yaml

from releaseguard.models import crd, schema

REPO = pathlib.Path(__file__).resolve().parents[2]
COMMITTED = REPO / crd.DEFAULT_PATH
DEFINITION = crd.definition()
(VERSION,) = DEFINITION["spec"]["versions"]
ROOT = VERSION["schema"]["openAPIV3Schema"]
SPEC = ROOT["properties"]["spec"]
STATUS = ROOT["properties"]["status"]

# Keywords of apiextensions.k8s.io/v1 JSONSchemaProps that the generator may emit.
ALLOWED_KEYWORDS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "default",
    "enum",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
}


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, prop in node.get("properties", {}).items():
        yield from nodes(prop, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}[*]")
    if "items" in node:
        yield from nodes(node["items"], f"{path}[*]")


def rules_at(path: str) -> list[str]:
    return [rule["rule"] for rule in dict(nodes(ROOT))[path].get("x-kubernetes-validations", [])]


def test_committed_crd_is_generated_byte_for_byte() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == crd.render(), "run `make crds`"


def test_rendered_file_starts_with_the_do_not_edit_header() -> None:
    assert crd.render().startswith(
        '# Generated from operator/releaseguard/models by "make crds" — do not edit.\n'
    )
    assert yaml.safe_load(crd.render()) == DEFINITION


def test_check_fails_with_a_diff_on_stale_files_and_write_fixes_them(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "crds" / "a.yaml", tmp_path / "chart" / "crds" / "b.yaml"
    assert crd.main(["--check", str(first)]) == 1
    assert f"+++ {first} (generated)" in capsys.readouterr().out
    assert crd.main([str(first), str(second)]) == 0
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8") == crd.render()
    assert crd.write_or_check(paths=[first, second], check=True) == 0
    second.write_text(crd.render().replace("rv", "xx"), encoding="utf-8")
    assert crd.write_or_check(paths=[first, second], check=True) == 1
    assert "-    - xx" in capsys.readouterr().out


def test_names_scope_and_version() -> None:
    assert DEFINITION["metadata"]["name"] == "releasevalidations.releaseguard.io"
    spec = DEFINITION["spec"]
    assert spec["group"] == "releaseguard.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "ReleaseValidation",
        "listKind": "ReleaseValidationList",
        "plural": "releasevalidations",
        "singular": "releasevalidation",
        "shortNames": ["rv"],
        "categories": ["releaseguard"],
    }
    assert (VERSION["name"], VERSION["served"], VERSION["storage"]) == ("v1alpha1", True, True)
    assert VERSION["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in VERSION["additionalPrinterColumns"]]
    assert columns == [
        ("Target", "string", ".spec.targetRef.name"),
        ("Phase", "string", ".status.phase"),
        ("Weight", "integer", ".status.canaryWeight"),
        ("Verdict", "string", ".status.verdict"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_schema_is_structural() -> None:
    for path, node in nodes(ROOT):
        assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, path
        assert set(node) <= ALLOWED_KEYWORDS, (path, set(node) - ALLOWED_KEYWORDS)
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("default", "") is not None, path
        for keyword in ("exclusiveMinimum", "exclusiveMaximum"):
            assert node.get(keyword, True) is True, path
        for key in node.get("required", []):
            assert key in node["properties"], (path, key)


def test_every_spec_list_and_string_is_bounded_for_cel_cost() -> None:
    for path, node in nodes(SPEC):
        if node["type"] == "array":
            assert "maxItems" in node, path
        if node["type"] == "string":
            assert "maxLength" in node, path
        if node["type"] == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, path


def test_list_maps_are_keyed_by_required_fields() -> None:
    keyed = {
        ".spec.analysis.metrics": "name",
        ".spec.analysis.syntheticChecks": "name",
        ".spec.notifications": "name",
        ".status.conditions": "type",
    }
    all_nodes = dict(nodes(ROOT))
    for path, key in keyed.items():
        node = all_nodes[path]
        assert node["x-kubernetes-list-type"] == "map", path
        assert node["x-kubernetes-list-map-keys"] == [key], path
        assert key in node["items"]["required"], path
    assert all_nodes[".spec.notifications[*].events"]["x-kubernetes-list-type"] == "set"


def test_optional_fields_are_not_nullable_and_not_required() -> None:
    all_nodes = dict(nodes(ROOT))
    assert "bake" not in SPEC["required"]
    assert all(".nullable" not in path and "nullable" not in node for path, node in all_nodes.items())
    assert SPEC["required"] == ["targetRef", "service", "steps", "analysis"]


def test_field_docstrings_become_descriptions() -> None:
    all_nodes = dict(nodes(ROOT))
    assert all_nodes[".spec.steps[*].weight"]["description"].startswith("Percent of the Ready pods")
    undocumented = [
        path
        for path, node in nodes(SPEC)
        if path and not path.endswith("[*]") and "description" not in node and not path.endswith(".status")
    ]
    assert undocumented == []


def test_defaults_match_the_models() -> None:
    all_nodes = dict(nodes(ROOT))
    assert all_nodes[".spec.analysis.interval"]["default"] == "30s"
    assert all_nodes[".spec.analysis.failureLimit"]["default"] == 2
    assert all_nodes[".spec.analysis.inconclusiveLimit"]["default"] == 4
    assert all_nodes[".spec.rollback"]["default"] == {"mode": "revert"}
    assert all_nodes[".spec.targetRef.kind"] == all_nodes[".spec.targetRef.kind"] | {
        "enum": ["Deployment"],
        "default": "Deployment",
    }
    assert all_nodes[".spec.analysis.syntheticChecks[*].minSuccessRatio"]["default"] == 0.99
    assert all_nodes[".spec.analysis.syntheticChecks[*].http.method"]["default"] == "GET"


def test_duration_fields_have_pattern_and_positive_rule() -> None:
    durations = [
        ".spec.steps[*].duration",
        ".spec.analysis.interval",
        ".spec.analysis.prometheus.timeout",
        ".spec.analysis.syntheticChecks[*].http.timeout",
        ".spec.analysis.syntheticChecks[*].http.expect.maxLatency",
        ".spec.bake.duration",
    ]
    all_nodes = dict(nodes(ROOT))
    for path in durations:
        assert all_nodes[path]["pattern"] == "^([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$", path
        assert rules_at(path) == ["self.matches('[1-9]')"], path


def test_cel_rules_for_what_the_schema_cannot_say() -> None:
    assert rules_at(".spec") == [
        "self.steps.map(s, s.weight).isSorted()"
        " && self.steps.all(s, self.steps.exists_one(t, t.weight == s.weight))"
    ]
    assert rules_at(".spec.targetRef") == ["self == oldSelf"]
    assert rules_at(".spec.analysis") == [
        "has(self.prometheus) || !has(self.metrics) || self.metrics.size() == 0",
        "(has(self.metrics) && self.metrics.size() > 0)"
        " || (has(self.syntheticChecks) && self.syntheticChecks.size() > 0)",
    ]
    metric_rules = rules_at(".spec.analysis.metrics[*]")
    assert "!has(self.query) || self.kind in ['latency', 'gauge']" in metric_rules
    assert "self.kind != 'ratio' || has(self.errors)" in metric_rules
    assert "self.kind != 'ratio' || has(self.total)" in metric_rules
    assert "self.kind != 'gauge' || has(self.query)" in metric_rules
    assert "!has(self.quantile) || self.kind == 'latency'" in metric_rules
    judge_rules = rules_at(".spec.analysis.metrics[*].judge")
    assert "self.type != 'threshold' || (has(self.min) || has(self.max))" in judge_rules
    assert "!has(self.min) || self.type == 'threshold'" in judge_rules
    assert "!has(self.objective) || self.type == 'burnRate'" in judge_rules
    for kind in ("latency", "gauge"):
        assert f"self.kind != '{kind}' || (self.judge.type != 'burnRate')" in metric_rules
    for query in ("errors", "total", "query"):
        assert rules_at(f".spec.analysis.metrics[*].{query}") == ["self.matches('[{][{] *selector *[}][}]')"]
    notification_rules = rules_at(".spec.notifications[*]")
    assert "self.type != 'slack' || has(self.secretRef)" in notification_rules
    assert "self.type != 'webhook' || (has(self.url) != has(self.secretRef))" in notification_rules


def test_every_rule_has_a_message_and_known_reason() -> None:
    for path, node in nodes(ROOT):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule["message"], path
            assert rule.get("reason", "FieldValueInvalid") in {
                "FieldValueInvalid",
                "FieldValueForbidden",
                "FieldValueRequired",
                "FieldValueDuplicate",
            }
            assert rule.get("fieldPath", ".x").startswith("."), path
            if "fieldPath" in rule:
                assert rule["fieldPath"].removeprefix(".") in node["properties"], (path, rule)


def test_limits_that_bound_cel_cost() -> None:
    all_nodes = dict(nodes(ROOT))
    for path in (
        ".spec.steps",
        ".spec.analysis.metrics",
        ".spec.analysis.syntheticChecks",
        ".spec.notifications",
    ):
        assert all_nodes[path]["maxItems"] == 20, path
    assert all_nodes[".spec.steps"]["minItems"] == 1
    assert (
        all_nodes[".spec.steps[*].weight"] | {"minimum": 1, "maximum": 99}
        == all_nodes[".spec.steps[*].weight"]
    )
    assert all_nodes[".spec.analysis.failureLimit"]["minimum"] == 1


# --- the post-processor on its own ----------------------------------------------------------------------


class _Inner(schema.KubeModel):
    value: int = pydantic.Field(default=1, gt=0)
    """A value."""


class _Cat(schema.KubeModel):
    kube_rules = (
        schema.Rule(rule="self.lives <= 9", message="too many lives", check=lambda cat: cat.lives <= 9),
    )
    type: Literal["cat"]
    lives: int
    name: str | None = None


class _Dog(schema.KubeModel):
    type: Literal["dog"]
    name: str | None = None


class _Zoo(schema.KubeModel):
    inner: _Inner | None = None
    """Optional inner."""
    pet: Annotated[_Cat | _Dog, pydantic.Field(discriminator="type")]


def test_structural_inlines_refs_unwraps_optional_and_converts_bounds() -> None:
    result = schema.structural(_Zoo.model_json_schema(by_alias=True))
    inner = result["properties"]["inner"]
    assert inner["description"] == "Optional inner."
    assert inner["properties"]["value"] == {
        "type": "integer",
        "default": 1,
        "description": "A value.",
        "minimum": 0,
        "exclusiveMinimum": True,
    }
    assert "title" not in inner
    assert "default" not in inner
    assert result["required"] == ["pet"]


def test_structural_merges_a_tagged_union_guarding_each_members_rules() -> None:
    pet = schema.structural(_Zoo.model_json_schema(by_alias=True))["properties"]["pet"]
    assert pet["properties"]["type"] == {"type": "string", "enum": ["cat", "dog"], "maxLength": 64}
    assert set(pet["properties"]) == {"type", "lives", "name"}
    assert pet["required"] == ["type"]
    assert [rule["rule"] for rule in pet["x-kubernetes-validations"]] == [
        "!has(self.lives) || self.type == 'cat'",
        "self.type != 'cat' || has(self.lives)",
        "self.type != 'cat' || (self.lives <= 9)",
    ]


def test_structural_refuses_what_it_cannot_express() -> None:
    class Untyped(schema.KubeModel):
        anything: Any

    class Untagged(schema.KubeModel):
        either: int | str

    for model in (Untyped, Untagged):
        with pytest.raises(schema.SchemaError):
            schema.structural(model.model_json_schema(by_alias=True))


def test_kube_rules_are_checked_by_pydantic_too() -> None:
    with pytest.raises(pydantic.ValidationError, match="too many lives"):
        _Cat(type="cat", lives=10)
