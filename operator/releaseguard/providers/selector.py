"""Label matchers that pick the canary or the baseline pods out of a query the user wrote once.

The values come from the cluster (namespaces, pod names, template hashes) and end up inside a PromQL query,
so they are quoted here and nowhere else: whatever a value holds, it stays inside its string literal.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal, Protocol, TypeAlias

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPS = ("=", "=~")

# Inside a PromQL double-quoted string (Go syntax) a raw newline ends the query with a syntax error; other
# control characters are legal but unreadable in evidence, so they are written as \xNN too.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# The characters RE2 gives a meaning to; a backslash before any of them makes it literal.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Matcher:
    """One label matcher: `label="value"` (equality) or `label=~"value"` (a fully anchored RE2 regex)."""

    label: str
    op: Literal["=", "=~"]
    value: str

    def __post_init__(self) -> None:
        if _LABEL_NAME.fullmatch(self.label) is None:
            raise ValueError(f"{self.label!r} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        if self.op not in _OPS:
            raise ValueError(f"{self.op!r} is not a supported matcher; use one of {', '.join(_OPS)}")


Selector: TypeAlias = tuple[Matcher, ...]
"""The matchers for one group of pods; they are ANDed, as inside PromQL braces."""


class PodsByName(Protocol):
    """A group of pods as the operator picks them: a namespace and a regex over pod names."""

    @property
    def namespace(self) -> str: ...

    @property
    def pod_regex(self) -> str: ...


def pods(group: PodsByName) -> Selector:
    """The matchers for the pods of `group`, as the operator picks canary and baseline."""
    return (
        Matcher(label="namespace", op="=", value=group.namespace),
        Matcher(label="pod", op="=~", value=group.pod_regex),
    )


def render(selector: Selector) -> str:
    """`namespace="shop",pod=~"checkout-canary-.*"`: the matchers to put inside a query's braces."""
    return ",".join(_render_matcher(matcher) for matcher in selector)


def quote(value: str) -> str:
    """`value` as a PromQL double-quoted string literal that reads back as exactly `value`."""
    return '"' + "".join(_escape_char(char) for char in value) + '"'


def regex_escape(text: str) -> str:
    """`text` as an RE2 pattern that matches exactly `text`, to embed literal text in a `=~` value."""
    return "".join("\\" + char if char in _RE2_SPECIAL else char for char in text)


def _render_matcher(matcher: Matcher) -> str:
    # Checked again, not only on construction: this is the boundary that keeps queries safe.
    if _LABEL_NAME.fullmatch(matcher.label) is None or matcher.op not in _OPS:
        raise ValueError(f"invalid matcher {matcher!r}")
    return f"{matcher.label}{matcher.op}{quote(matcher.value)}"


def _escape_char(char: str) -> str:
    escaped = _ESCAPES.get(char)
    if escaped is not None:
        return escaped
    if char < " " or char == "\x7f":
        return f"\\x{ord(char):02x}"
    return char
