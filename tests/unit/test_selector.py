"""Label matchers render to PromQL that reads back as exactly the values given, whatever they hold."""

from __future__ import annotations

import re

import hypothesis
import pytest
from hypothesis import strategies

from releaseguard.providers import selector

HOSTILE = [
    '"}',
    "\\",
    '"} or vector(1) #',
    'a"}[5m]) or on() vector(1) or sum(x{y="',
    "line\nbreak",
    "carriage\rreturn\ttab",
    '\\"',
    "\x00\x1b\x7f",
    "{{ window }}",
    "ünïcødé ✓",
    "",
]

_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


def parse_matchers(text: str) -> list[tuple[str, str, str]]:
    """Read `label="value",label=~"value"` as PromQL does (Go string literals); fail on anything else.

    Only the escapes the renderer writes are accepted, so a value that leaks out of its literal, or an
    escape the renderer should not produce, fails the parse instead of being read generously.
    """
    matchers: list[tuple[str, str, str]] = []
    position = 0
    while position < len(text):
        if matchers:
            assert text[position] == ",", f"expected ',' at {position} in {text!r}"
            position += 1
        label = _LABEL.match(text, position)
        assert label is not None, f"expected a label name at {position} in {text!r}"
        position = label.end()
        op = "=~" if text.startswith("=~", position) else "="
        assert text.startswith(op, position), f"expected a matcher op at {position} in {text!r}"
        position += len(op)
        value, position = parse_string(text, position)
        matchers.append((label.group(), op, value))
    return matchers


def parse_string(text: str, position: int) -> tuple[str, int]:
    """A double-quoted PromQL string starting at `position`: its value and the position after it."""
    assert text[position] == '"', f"expected '\"' at {position} in {text!r}"
    position += 1
    chars: list[str] = []
    while True:
        char = text[position]
        assert char != "\n", "a raw newline ends a PromQL query with a syntax error"
        if char == '"':
            return "".join(chars), position + 1
        if char == "\\":
            escape = text[position + 1]
            if escape == "x":
                chars.append(chr(int(text[position + 2 : position + 4], 16)))
                position += 4
            else:
                chars.append(_SIMPLE_ESCAPES[escape])
                position += 2
        else:
            chars.append(char)
            position += 1


@pytest.mark.parametrize(
    ("matchers", "rendered"),
    [
        ((), ""),
        ((selector.Matcher(label="namespace", op="=", value="shop"),), 'namespace="shop"'),
        (
            (
                selector.Matcher(label="namespace", op="=", value="shop"),
                selector.Matcher(label="pod", op="=~", value="checkout-canary-.*"),
            ),
            'namespace="shop",pod=~"checkout-canary-.*"',
        ),
        ((selector.Matcher(label="_x9", op="=", value='"}'),), '_x9="\\"}"'),
        ((selector.Matcher(label="a", op="=", value="\\"),), 'a="\\\\"'),
        ((selector.Matcher(label="a", op="=", value="x\ny"),), 'a="x\\ny"'),
        ((selector.Matcher(label="a", op="=", value="\x1b"),), 'a="\\x1b"'),
        ((selector.Matcher(label="a", op="=", value="ü"),), 'a="ü"'),
        (
            (selector.Matcher(label="pod", op="=", value='"} or vector(1) #'),),
            'pod="\\"} or vector(1) #"',
        ),
    ],
)
def test_render(matchers, rendered) -> None:
    assert selector.render(matchers) == rendered


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_stay_inside_their_literal(value) -> None:
    matchers = (
        selector.Matcher(label="namespace", op="=", value=value),
        selector.Matcher(label="pod", op="=~", value=value),
    )
    rendered = selector.render(matchers)

    assert "\n" not in rendered
    assert parse_matchers(rendered) == [("namespace", "=", value), ("pod", "=~", value)]


@pytest.mark.parametrize("label", ["", "1abc", "a-b", "a.b", "a b", 'a"', "a=", "a}", "ü", "a\n"])
def test_invalid_label_names_are_refused(label) -> None:
    with pytest.raises(ValueError, match="not a Prometheus label name"):
        selector.Matcher(label=label, op="=", value="x")


def test_render_refuses_a_matcher_that_bypassed_validation() -> None:
    matcher = selector.Matcher(label="ok", op="=", value="x")
    object.__setattr__(matcher, "label", 'x="1"} or vector(1) or up{a')
    with pytest.raises(ValueError, match="invalid matcher"):
        selector.render((matcher,))


@pytest.mark.parametrize("op", ["!=", "!~", "==", "", "=~ "])
def test_unsupported_ops_are_refused(op) -> None:
    with pytest.raises(ValueError, match="not a supported matcher"):
        selector.Matcher(label="a", op=op, value="x")


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("checkout", "checkout"),
        ("a.b", "a\\.b"),
        ("1+1=2?", "1\\+1=2\\?"),
        ("(a|b)[c]{2}^$*", "\\(a\\|b\\)\\[c\\]\\{2\\}\\^\\$\\*"),
        ("back\\slash", "back\\\\slash"),
        ("pod-7f9c-x_y", "pod-7f9c-x_y"),
    ],
)
def test_regex_escape(text, escaped) -> None:
    assert selector.regex_escape(text) == escaped


@hypothesis.given(value=strategies.text())
def test_any_value_reads_back_exactly(value) -> None:
    matcher = selector.Matcher(label="pod", op="=", value=value)
    assert parse_matchers(selector.render((matcher,))) == [("pod", "=", value)]


@hypothesis.given(
    values=strategies.lists(
        strategies.text(alphabet=strategies.sampled_from('"\\\n{}=~,#()[] aZ9\x00\t')), max_size=4
    )
)
def test_lists_of_hostile_values_read_back_exactly(values) -> None:
    matchers = tuple(selector.Matcher(label=f"l{index}", op="=~", value=v) for index, v in enumerate(values))
    assert parse_matchers(selector.render(matchers)) == [
        (f"l{index}", "=~", value) for index, value in enumerate(values)
    ]


@hypothesis.given(text=strategies.text())
def test_regex_escape_matches_exactly_the_text(text) -> None:
    # RE2 and Python's re agree on backslash-escaped punctuation; Prometheus anchors =~ like fullmatch.
    pattern = re.compile(selector.regex_escape(text), re.DOTALL)
    assert pattern.fullmatch(text) is not None
    assert pattern.fullmatch(text + "x") is None
