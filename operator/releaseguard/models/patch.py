"""JSON merge patches (RFC 7386) between two versions of a model, so status writes carry only changes.

An empty patch means nothing changed: the caller skips the API call, and `lastTransitionTime` and
`resourceVersion` stay put.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that turns `old` into `new`: changed keys, nested maps diffed, removed keys null."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        previous = old.get(key)
        if isinstance(value, Mapping) and isinstance(previous, Mapping):
            nested = merge_patch(previous, value)
            if nested:
                patch[key] = nested
        elif key not in old or previous != value:
            patch[key] = value
    return patch


def model_patch(*, old: pydantic.BaseModel, new: pydantic.BaseModel) -> dict[str, Any]:
    """The merge patch between two models as the API stores them (camelCase, no nulls)."""
    return merge_patch(_stored(old), _stored(new))


def _stored(model: pydantic.BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
