"""From pydantic models to a Kubernetes structural schema, and the markers models use to say the rest.

The models are the single source of the CRD, but pydantic speaks JSON Schema 2020-12 (`$ref`/`$defs`,
`anyOf` with `null`, `const`, `oneOf` for tagged unions, numeric `exclusiveMinimum`) while the apiserver
wants an OpenAPI v3.0 *structural* schema: every node typed, no references, no unions of differing types.
`structural()` is the one post-processor that translates; it fails loudly on anything it cannot express
rather than emitting a schema the apiserver would reject at install time.

Rules a schema cannot state are written next to the model as `Rule`s: a CEL expression for the apiserver
and, where possible, the same rule in Python, so the operator rejects a bad spec with the same words the
apiserver would have used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeAlias

import pydantic
from pydantic import alias_generators
from pydantic import json_schema as pydantic_json_schema
from pydantic_core import core_schema as pydantic_core_schema

JsonDict: TypeAlias = dict[str, Any]

# Names CEL reserves; a property with one of these names cannot be used as `self.<name>` in a rule.
_CEL_RESERVED = frozenset(
    {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if"}
    | {"import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}
)
# JSON Schema keywords pydantic may emit that a CRD schema does not know; they carry no validation.
_ENUM_MAX_LENGTH = 64
_DROPPED_KEYWORDS = frozenset({"title", "discriminator", "examples", "$schema", "$id", "$comment"})


@dataclasses.dataclass(frozen=True)
class Rule:
    """One `x-kubernetes-validations` entry, optionally mirrored by a Python check of the model.

    `check` receives the validated model (or value) and returns whether it is acceptable. Transition rules
    (using `oldSelf`) have no Python twin: the operator never sees the old object.
    """

    rule: str
    message: str
    field_path: str | None = None
    reason: str | None = None
    check: Callable[[Any], bool] | None = dataclasses.field(default=None, compare=False)

    def as_json(self) -> JsonDict:
        entry: JsonDict = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            entry["fieldPath"] = self.field_path
        if self.reason is not None:
            entry["reason"] = self.reason
        return entry


@dataclasses.dataclass(frozen=True)
class Rules:
    """Annotation adding CEL rules to a non-model type: `Annotated[str, schema.Rules(rules=(...))]`.

    Python checks of such types live in their validators (`AfterValidator`), not here.
    """

    rules: tuple[Rule, ...]

    def __get_pydantic_json_schema__(
        self,
        core_schema: pydantic_core_schema.CoreSchema,
        handler: pydantic.GetJsonSchemaHandler,
    ) -> pydantic_json_schema.JsonSchemaValue:
        json_schema = handler(core_schema)
        target = handler.resolve_ref_schema(json_schema)
        target.setdefault("x-kubernetes-validations", []).extend(rule.as_json() for rule in self.rules)
        return json_schema


def list_map(*keys: str) -> JsonDict:
    """Field `json_schema_extra` for a list whose items are identified by `keys` (merge-patched by key)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def list_set() -> JsonDict:
    """Field `json_schema_extra` for a list of unique scalars."""
    return {"x-kubernetes-list-type": "set"}


def with_rules(*rules: Rule) -> JsonDict:
    """Field `json_schema_extra` adding CEL rules to one field's schema (no Python twin is run)."""
    return {"x-kubernetes-validations": [rule.as_json() for rule in rules]}


class KubeModel(pydantic.BaseModel):
    """Base of every API model: camelCase on the wire, docstrings as descriptions, immutable values.

    Subclasses list their cross-field rules in `kube_rules`; they become the object's
    `x-kubernetes-validations` and, when a rule has a `check`, are enforced by pydantic as well.
    """

    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
    )

    kube_rules: ClassVar[tuple[Rule, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(
        cls,
        core_schema: pydantic_core_schema.CoreSchema,
        handler: pydantic.GetJsonSchemaHandler,
    ) -> pydantic_json_schema.JsonSchemaValue:
        json_schema = handler(core_schema)
        if cls.kube_rules:
            target = handler.resolve_ref_schema(json_schema)
            target["x-kubernetes-validations"] = [rule.as_json() for rule in cls.kube_rules]
        return json_schema

    @pydantic.model_validator(mode="after")
    def _check_kube_rules(self) -> Self:
        for rule in type(self).kube_rules:
            if rule.check is not None and not rule.check(self):
                raise ValueError(rule.message)
        for name, field in type(self).model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and extra.get("x-kubernetes-list-type") in ("map", "set"):
                _check_unique(
                    field.alias or name, getattr(self, name), keys=extra.get("x-kubernetes-list-map-keys")
                )
        return self

    def to_json(self) -> JsonDict:
        """The object as the apiserver stores it: camelCase keys, JSON values, unset fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


def _check_unique(field: str, items: Sequence[Any], *, keys: Any) -> None:
    """What the apiserver checks for list-type map and set: no two items with the same key (or value)."""
    seen: set[Any] = set()
    for item in items:
        if isinstance(keys, list) and isinstance(item, pydantic.BaseModel):
            dumped = item.model_dump(mode="json", by_alias=True)
            key: Any = tuple(dumped.get(name) for name in keys)
            shown = ", ".join(f"{name}={value}" for name, value in zip(keys, key, strict=True))
        else:
            key, shown = item, str(item)
        if key in seen:
            raise ValueError(f"{field}: duplicate entry {shown}")
        seen.add(key)


class SchemaError(ValueError):
    """The models use a construct a structural schema cannot express."""


def structural(json_schema: Mapping[str, Any]) -> JsonDict:
    """Translate pydantic's JSON Schema (with `$defs`) into a self-contained structural schema.

    - `$ref` is inlined; keywords next to it (a field's description, default) win over the definition's.
    - `Optional[X]` becomes plain `X`: the apiserver prunes `null` from non-nullable fields, pydantic reads
      an absent field as `None`, so "null" and "absent" mean the same on both sides and CEL's `has()` is
      exact. (`nullable: true` would store nulls that CEL rules then trip over.)
    - A tagged union (`oneOf` + `discriminator`) becomes one object with every member's properties; the tag
      is an enum and CEL rules say which properties belong to which tag (see `_merge_union`).
    - `const` becomes a one-value `enum`; a numeric `exclusiveMinimum`/`exclusiveMaximum` becomes the
      OpenAPI v3.0 boolean form; `title`, `default: null` and `additionalProperties: false` are dropped
      (unknown fields are pruned, or rejected by strict field validation).
    - A string enum gets a roomy `maxLength`, so CEL rules comparing it stay cheap in the apiserver's
      estimate.
    """
    definitions = json_schema.get("$defs", {})
    return _convert(json_schema, definitions=definitions, path="")


def _convert(node: Mapping[str, Any], *, definitions: Mapping[str, Any], path: str) -> JsonDict:
    result = _resolve(node, definitions=definitions, path=path)
    if "oneOf" in result or "anyOf" in result:
        result = _merge_union(result, definitions=definitions, path=path)
    result = {key: value for key, value in result.items() if key not in _DROPPED_KEYWORDS}
    if "default" in result:
        if result["default"] is None:
            del result["default"]
        else:
            result["default"] = _without_nulls(result["default"])
    if "const" in result:
        result["enum"] = [result.pop("const")]
    for keyword, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(result.get(keyword), int | float) and not isinstance(result[keyword], bool):
            result[bound] = result[keyword]
            result[keyword] = True
    if "properties" in result:
        if result.get("additionalProperties") is False:
            del result["additionalProperties"]
        result["properties"] = {
            name: _convert(prop, definitions=definitions, path=f"{path}.{name}")
            for name, prop in result["properties"].items()
        }
    if isinstance(result.get("additionalProperties"), Mapping):
        result["additionalProperties"] = _convert(
            result["additionalProperties"], definitions=definitions, path=f"{path}[*]"
        )
    if "items" in result:
        result["items"] = _convert(result["items"], definitions=definitions, path=f"{path}[*]")
    if result.get("type") == "string" and "enum" in result and "maxLength" not in result:
        result["maxLength"] = _enum_max_length(result["enum"])
    if "type" not in result:
        raise SchemaError(f"{path or '<root>'}: no type; a structural schema types every node: {result}")
    return result


def _resolve(node: Mapping[str, Any], *, definitions: Mapping[str, Any], path: str) -> JsonDict:
    """Inline `$ref`s and unwrap `Optional`, keeping the referring node's own keywords on top."""
    result = dict(node)
    result.pop("$defs", None)
    while True:
        if "$ref" in result:
            name = result.pop("$ref").removeprefix("#/$defs/")
            result = {**definitions[name], **result}
        elif "allOf" in result and len(result["allOf"]) == 1:
            (inner,) = result.pop("allOf")
            result = {**inner, **result}
        elif _is_optional(result):
            key = "anyOf" if "anyOf" in result else "oneOf"
            (inner,) = (member for member in result.pop(key) if member != {"type": "null"})
            result = {**inner, **result}
        else:
            return result


def _is_optional(node: Mapping[str, Any]) -> bool:
    for key in ("anyOf", "oneOf"):
        members = node.get(key, [])
        if {"type": "null"} in members and len(members) == 2:
            return True
    return False


def _merge_union(node: JsonDict, *, definitions: Mapping[str, Any], path: str) -> JsonDict:
    """Fold a tagged union into one object a structural schema accepts, with CEL keeping members apart.

    For tag property `t`, a property `p` that only some members have gets
    `!has(self.p) || self.t in [...]`; a property member `m` requires gets `self.t != 'm' || has(self.p)`;
    a member's own rules are kept, guarded by `self.t != 'm' || (...)`.
    """
    discriminator = node.pop("discriminator", None)
    members_raw = node.pop("oneOf", None) or node.pop("anyOf", None)
    if not isinstance(discriminator, Mapping) or not members_raw:
        raise SchemaError(f"{path}: only tagged unions (discriminator) are supported")
    tag = discriminator["propertyName"]
    _require_cel_name(tag, path=path)
    members = [_convert(member, definitions=definitions, path=path) for member in members_raw]

    tags: list[str] = []
    tag_schema: JsonDict = {"type": "string"}
    properties: dict[str, JsonDict] = {}
    owners: dict[str, list[str]] = {}
    for member in members:
        (value,) = member["properties"][tag]["enum"]
        tags.append(value)
        if "description" in member["properties"][tag]:
            tag_schema.setdefault("description", member["properties"][tag]["description"])
        for name, prop in member["properties"].items():
            if name == tag:
                continue
            if name in properties and properties[name] != prop:
                raise SchemaError(f"{path}.{name}: union members declare it differently")
            properties[name] = prop
            owners.setdefault(name, []).append(value)
    tag_schema["enum"] = tags
    tag_schema["maxLength"] = _enum_max_length(tags)

    always_required = set.intersection(*(set(member.get("required", ())) for member in members))
    rules: list[JsonDict] = []
    for name, owned_by in owners.items():
        if len(owned_by) < len(members):
            # The apiserver would default the property into every member, where the rule below forbids
            # it; the operator's models apply such defaults instead.
            properties[name].pop("default", None)
            _require_cel_name(name, path=path)
            allowed = (
                f"self.{tag} == '{owned_by[0]}'"
                if len(owned_by) == 1
                else f"self.{tag} in [{', '.join(repr(value) for value in owned_by)}]"
            )
            rules.append(
                Rule(
                    rule=f"!has(self.{name}) || {allowed}",
                    message=f"{name} is only valid when {tag} is {' or '.join(owned_by)}",
                    field_path=f".{name}",
                    reason="FieldValueForbidden",
                ).as_json()
            )
    for value, member in zip(tags, members, strict=True):
        for name in member.get("required", ()):
            if name == tag or name in always_required:
                continue
            _require_cel_name(name, path=path)
            rules.append(
                Rule(
                    rule=f"self.{tag} != '{value}' || has(self.{name})",
                    message=f"{tag} {value} needs {name}",
                    field_path=f".{name}",
                    reason="FieldValueRequired",
                ).as_json()
            )
        for own in member.get("x-kubernetes-validations", ()):
            rules.append({**own, "rule": f"self.{tag} != '{value}' || ({own['rule']})"})
    rules.extend(node.pop("x-kubernetes-validations", ()))

    merged: JsonDict = {
        **node,
        "type": "object",
        "properties": {tag: tag_schema, **properties},
        "required": [tag, *(name for name in properties if name in always_required)],
    }
    if rules:
        merged["x-kubernetes-validations"] = rules
    return merged


def _enum_max_length(values: Sequence[str]) -> int:
    # Bounds the cost of CEL comparisons, yet is roomy enough that a mistyped value is reported as
    # unsupported, not as too long (which would also stop the CEL rules from being checked).
    return max(_ENUM_MAX_LENGTH, *(len(value) for value in values))


def _require_cel_name(name: str, *, path: str) -> None:
    if name in _CEL_RESERVED or not name.replace("_", "a").isalnum():
        raise SchemaError(f"{path}.{name}: not usable as a CEL identifier in a rule")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_without_nulls(item) for item in value]
    return value
