"""What the new revision changed in the pod template, container by container.

The first question after a rollback is "what did we ship?". The stable and the canary templates are both
at hand (the stable ReplicaSet's and the target's), so the answer is a diff of the fields that change a
pod's behaviour: image, command and arguments, environment, resources and probes. Each change is one fact
with its before and after.

Environment values are shown, since a flag flipped is often the cause, except for names that look like
credentials (PASSWORD, TOKEN, SECRET, KEY...): those say that they changed, not from what to what. Values
taken from a Secret or a ConfigMap show the reference, never the value, which the operator does not read.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

MAX_VALUE = 200
"""Longer values are cut: a diff is read by people, and it is stored in status and reports."""
_SENSITIVE = re.compile(r"pass|secret|token|key|credential|auth|cert|private", re.IGNORECASE)
_HIDDEN = "(hidden)"
_PROBES = ("readinessProbe", "livenessProbe", "startupProbe")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Change:
    what: str
    """Where, e.g. "container app image" or "container app env FEATURE_CHECKOUT"."""
    before: str | None
    """None when the new revision added it."""
    after: str | None
    """None when the new revision removed it."""

    def render(self) -> str:
        if self.before is None:
            return f"{self.what} added: {self.after}"
        if self.after is None:
            return f"{self.what} removed (was {self.before})"
        return f"{self.what}: {self.before} → {self.after}"


def diff(stable: Mapping[str, Any], canary: Mapping[str, Any]) -> tuple[Change, ...]:
    """The changes from the stable pod template to the canary's, containers first, in template order."""
    return tuple(
        change
        for kind in ("containers", "initContainers")
        for change in _containers(kind, _by_name(stable, kind), _by_name(canary, kind))
    )


def _by_name(template: Mapping[str, Any], kind: str) -> dict[str, Mapping[str, Any]]:
    containers = (template.get("spec") or {}).get(kind) or []
    return {str(item.get("name", "")): item for item in containers if isinstance(item, dict)}


def _containers(
    kind: str, stable: dict[str, Mapping[str, Any]], canary: dict[str, Mapping[str, Any]]
) -> Iterator[Change]:
    label = "init container" if kind == "initContainers" else "container"
    for name in [*stable, *(name for name in canary if name not in stable)]:
        what = f"{label} {name}"
        if name not in canary:
            yield Change(what=what, before=_cut(stable[name].get("image", "")), after=None)
        elif name not in stable:
            yield Change(what=what, before=None, after=_cut(canary[name].get("image", "")))
        else:
            yield from _container(what, stable[name], canary[name])


def _container(what: str, stable: Mapping[str, Any], canary: Mapping[str, Any]) -> Iterator[Change]:
    for field in ("image", "command", "args"):
        yield from _field(f"{what} {field}", stable.get(field), canary.get(field))
    stable_env, canary_env = _env(stable), _env(canary)
    for name in [*stable_env, *(name for name in canary_env if name not in stable_env)]:
        before, after = stable_env.get(name), canary_env.get(name)
        if before != after and _SENSITIVE.search(name):
            yield Change(
                what=f"{what} env {name}",
                before=None if before is None else _HIDDEN,
                after=None if after is None else _HIDDEN,
            )
        else:
            yield from _field(f"{what} env {name}", before, after)
    resources = _flatten(stable.get("resources") or {}), _flatten(canary.get("resources") or {})
    for key in [*resources[0], *(key for key in resources[1] if key not in resources[0])]:
        yield from _field(f"{what} resources.{key}", resources[0].get(key), resources[1].get(key))
    for probe in _PROBES:
        yield from _field(f"{what} {probe}", stable.get(probe), canary.get(probe))


def _field(what: str, before: Any, after: Any) -> Iterator[Change]:
    if before == after:
        return
    yield Change(
        what=what,
        before=None if before is None else _render(before),
        after=None if after is None else _render(after),
    )


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    values = {}
    for variable in container.get("env") or []:
        if not isinstance(variable, dict) or "name" not in variable:
            continue
        reference = variable.get("valueFrom")
        values[str(variable["name"])] = (
            _reference(reference) if isinstance(reference, dict) else str(variable.get("value", ""))
        )
    return values


def _reference(value_from: Mapping[str, Any]) -> str:
    for source, word in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
        reference = value_from.get(source)
        if isinstance(reference, dict):
            return f"from {word} {reference.get('name', '')} key {reference.get('key', '')}"
    return "from " + ", ".join(sorted(value_from))


def _flatten(resources: Mapping[str, Any]) -> dict[str, str]:
    return {
        f"{group}.{name}": str(quantity)
        for group in ("requests", "limits")
        for name, quantity in sorted((resources.get(group) or {}).items())
    }


def _render(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"
