import hypothesis
import pytest
from hypothesis import strategies as st

from releaseguard.models import patch


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, {}, {}),
        ({"phase": "Idle"}, {"phase": "Idle"}, {}),
        ({"phase": "Idle"}, {"phase": "Degraded"}, {"phase": "Degraded"}),
        ({"phase": "Idle", "message": "x"}, {"phase": "Idle"}, {"message": None}),
        ({}, {"conditions": [{"type": "Ready"}]}, {"conditions": [{"type": "Ready"}]}),
        ({"conditions": [{"type": "Ready"}]}, {"conditions": [{"type": "Ready"}]}, {}),
        (
            {"rev": {"hash": "a", "images": {"app": "x"}}},
            {"rev": {"hash": "a", "images": {"app": "y"}}},
            {"rev": {"images": {"app": "y"}}},
        ),
        ({"rev": {"hash": "a"}}, {"rev": 3}, {"rev": 3}),
    ],
)
def test_merge_patch(old, new, expected) -> None:
    assert patch.merge_patch(old, new) == expected


def apply(document, merge):
    """RFC 7386 application, to check that a computed patch really leads from old to new."""
    result = dict(document)
    for key, value in merge.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = apply(result[key], value)
        else:
            result[key] = value
    return result


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 2}}),
        ({"a": [1, 2]}, {"a": [2], "e": {"f": {"g": 1}}}),
    ],
)
def test_patch_applied_to_old_gives_new(old, new) -> None:
    assert apply(old, patch.merge_patch(old, new)) == new


json_values = st.recursive(
    st.integers() | st.text(max_size=5) | st.booleans(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)
documents = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@hypothesis.given(old=documents, new=documents)
def test_merge_patch_round_trips(old, new) -> None:
    assert apply(old, patch.merge_patch(old, new)) == new
