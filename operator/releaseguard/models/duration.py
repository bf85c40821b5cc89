"""Durations as Kubernetes and Prometheus users write them: `30s`, `2m`, `1h30m`, `500ms`.

The spec keeps the text the user wrote (so a round trip through the operator never rewrites `90s` as
`1m30s`) while the code works with a `timedelta`. The accepted syntax is the common subset of Go's
`time.ParseDuration` and PromQL durations: whole numbers with units h, m, s, ms, each at most once, largest
first. Every duration in the API is a span something waits for, so zero is refused as well, and so is a
span longer than `MAX` (a year): the operator counts such spans back from now, times a failure count (up to
100), and a span of centuries would reach beyond the calendar `datetime` knows. The CRD's pattern admits
such text, so the operator refuses it with the InvalidSpec condition.
"""

from __future__ import annotations

import datetime
import functools
import re
from typing import Any

import pydantic
from pydantic import json_schema as pydantic_json_schema
from pydantic_core import core_schema as pydantic_core_schema

from releaseguard.models import schema

PATTERN = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
MAX_LENGTH = 32
_REGEX = re.compile(PATTERN)
_UNITS = (("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))
MAX = datetime.timedelta(days=365)
_HINT = "write whole numbers with units h, m, s, ms, largest first, e.g. 30s, 2m, 1h30m, 500ms"

POSITIVE_RULE = schema.Rule(
    # The pattern already admits digits only, so "some digit is not 0" is "longer than zero", and it
    # cannot fail to evaluate on text the pattern rejected, unlike duration().
    rule="self.matches('[1-9]')",
    message="must be longer than 0s",
)


class DurationError(ValueError):
    """Text that is not a duration the API accepts."""


def parse(text: str) -> datetime.timedelta:
    """`1h30m` -> `timedelta(hours=1, minutes=30)`; raises DurationError naming the text and the syntax."""
    match = _REGEX.fullmatch(text) if text and len(text) <= MAX_LENGTH else None
    if match is None:
        raise DurationError(f"{text!r} is not a duration: {_HINT}")
    milliseconds = 0
    for group, (_, factor) in zip(match.groups(), _UNITS, strict=True):
        if group is not None:
            milliseconds += int(group.rstrip("hms")) * factor
    try:
        return datetime.timedelta(milliseconds=milliseconds)
    except OverflowError:
        raise DurationError(f"{text!r} is too long a duration") from None


def render(value: datetime.timedelta) -> str:
    """The shortest text `parse` reads back as `value`; sub-millisecond parts are refused, not rounded."""
    if value < datetime.timedelta(0):
        raise DurationError(f"{value!r} is negative")
    milliseconds, remainder = divmod(value, datetime.timedelta(milliseconds=1))
    if remainder:
        raise DurationError(f"{value!r} is finer than a millisecond")
    if milliseconds == 0:
        return "0s"
    parts = []
    for unit, factor in _UNITS:
        count, milliseconds = divmod(milliseconds, factor)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


@functools.total_ordering
class Duration:
    """A positive span of time that remembers how it was written; compares and hashes by length.

    Not a dataclass: pydantic would then serialize it field by field (e.g. in schema defaults).
    """

    __slots__ = ("_text", "_value")

    def __init__(self, text: str) -> None:
        value = parse(text)
        if not value:
            raise DurationError(f"{text!r} {POSITIVE_RULE.message}")
        if value > MAX:
            raise DurationError(
                f"{text!r} is longer than {render(MAX)}, the longest duration the operator accepts"
            )
        self._text = text
        self._value = value

    @classmethod
    def of(cls, value: datetime.timedelta) -> Duration:
        return cls(render(value))

    @property
    def text(self) -> str:
        return self._text

    @property
    def value(self) -> datetime.timedelta:
        return self._value

    @property
    def seconds(self) -> float:
        return self._value.total_seconds()

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Duration({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and self._value == other._value

    def __lt__(self, other: Duration) -> bool:
        return self._value < other._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def _validate(cls, raw: Any) -> Duration:
        if isinstance(raw, Duration):
            return raw
        if isinstance(raw, datetime.timedelta):
            return cls.of(raw)
        if isinstance(raw, str):
            return cls(raw)
        raise DurationError(f"{raw!r} is not a duration: {_HINT}")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> pydantic_core_schema.CoreSchema:
        return pydantic_core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=pydantic_core_schema.to_string_ser_schema(),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls,
        core_schema: pydantic_core_schema.CoreSchema,
        handler: pydantic.GetJsonSchemaHandler,
    ) -> pydantic_json_schema.JsonSchemaValue:
        return {
            "type": "string",
            "pattern": PATTERN,
            "minLength": 2,
            "maxLength": MAX_LENGTH,
            "x-kubernetes-validations": [POSITIVE_RULE.as_json()],
        }
