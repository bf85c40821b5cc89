"""Hypothesis strategies for ReleaseValidation specs: valid ones, and the same with one hostile mutation.

A mutation replaces, removes or adds one value anywhere in a valid spec, so every part of the schema is
reached: wrong types, numbers out of range, bad durations, unknown and missing fields, odd unicode, lists
far beyond their limits and PromQL templates that try to break out of the operator's rendering.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from hypothesis import strategies as st

_NAMES = st.from_regex(r"\A[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,8})?\Z")
_DURATIONS = st.builds(
    lambda number, unit: f"{number}{unit}", st.integers(1, 600), st.sampled_from(["ms", "s", "m", "h"])
)
_SELECTOR = "{{ selector }}"
_WINDOW = "{{ window }}"

BAD_DURATIONS = st.sampled_from(
    [
        "0s",
        "0",
        "-5s",
        "1.5s",
        "5 minutes",
        "1d",
        "1m1h",
        "s",
        "",
        "ms",
        "99999999999999999h",
        "1e3s",
        "\uff15s",
    ]
)
"""Text the duration syntax refuses, or that is a duration no clock can reach."""

OVERLONG_DURATIONS = st.sampled_from(
    ["8761h", "99999999h", "9999999999m", "999999999999999s", "1h99999999999ms"]
)
"""Durations the CRD's pattern admits but the operator refuses: longer than a year."""

SLIPPING_URLS = st.sampled_from(["http://prometheus\u00a0.monitoring:9090", "http://host\u2003:9090"])
"""URLs the apiserver's RE2 `\\s` (ASCII) admits and the operator's Unicode-aware one refuses."""

_DURATION_KEYS = frozenset({"duration", "interval", "maxLatency", "timeout"})

HOSTILE_QUERIES = st.sampled_from(
    [
        "up",
        "sum(rate(x[5m]))",
        f"up{{{_SELECTOR}}} or vector(1)",
        f'up{{{_SELECTOR},job="}} or vector(1) #"}}',
        f"{{{{ selectr }}}} {_SELECTOR[:-1]}",
        f"{_SELECTOR} {{{{ window }}}} {{{{ __import__('os') }}}}",
        f"{_SELECTOR}\n# comment\n) or on() vector(1)",
        f"sum(rate(http_requests_total{{{_SELECTOR}}}[{_WINDOW}])) / 0",
        "{{ selector }" + "}" * 5000,
    ]
)
"""PromQL templates that are invalid, lack `{{ selector }}`, are too long or try to smuggle in matchers."""

ODD_STRINGS = st.one_of(
    st.text(min_size=0, max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "Ünïcødé",
            "名前",
            "a" * 300,
            "x" * 70_000,
            "\u202eevil",
            "http://ok\u00a0host:9090",
            "../../etc/passwd",
            "default/demo",
            "${HOME}",
            '"}; drop',
        ]
    ),
)

HOSTILE_VALUES: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([-1, 0, 100, 101, 2**31, 2**53 + 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.5, 0.0, 1.0, 1.5, 1e308, 5e-324]),
    ODD_STRINGS,
    BAD_DURATIONS,
    HOSTILE_QUERIES,
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(_NAMES, st.integers(), max_size=2),
)


def _step_weights(draw: st.DrawFn) -> list[int]:
    return sorted(draw(st.sets(st.integers(1, 99), min_size=1, max_size=4)))


@st.composite
def _ratio_metric(draw: st.DrawFn, name: str) -> dict[str, Any]:
    selector = _SELECTOR
    return {
        "name": name,
        "kind": "ratio",
        "errors": f'sum(increase(http_requests_total{{code=~"5..",{selector}}}[{_WINDOW}]))',
        "total": f"sum(increase(http_requests_total{{{selector}}}[{_WINDOW}]))",
        "judge": draw(
            st.sampled_from(
                [
                    {"type": "threshold", "max": 0.01},
                    {"type": "compare", "maxRelativeIncrease": 0.5, "maxAbsolute": 0.05},
                    {"type": "burnRate", "objective": 0.999},
                ]
            )
        ),
        "critical": draw(st.booleans()),
    }


@st.composite
def _single_query_metric(draw: st.DrawFn, name: str) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": name,
        "kind": draw(st.sampled_from(["latency", "gauge"])),
        "query": f"avg(process_resident_memory_bytes{{{_SELECTOR}}})",
        "judge": draw(
            st.sampled_from(
                [{"type": "threshold", "min": 0, "max": 1e9}, {"type": "compare"}, {"type": "anomaly"}]
            )
        ),
    }
    if metric["kind"] == "latency" and draw(st.booleans()):
        metric["quantile"] = 0.99
    return metric


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec both the CRD and the models accept; its target does not exist."""
    durations = st.lists(_DURATIONS, min_size=4, max_size=4)
    step_durations = draw(durations)
    metric_names = draw(st.lists(_NAMES, min_size=0, max_size=2, unique=True))
    check_names = draw(st.lists(_NAMES, min_size=0 if metric_names else 1, max_size=2, unique=True))
    analysis: dict[str, Any] = {"interval": draw(_DURATIONS)}
    if metric_names:
        analysis["prometheus"] = {"url": "http://127.0.0.1:9090"}
        analysis["metrics"] = [
            draw(st.one_of(_ratio_metric(name), _single_query_metric(name))) for name in metric_names
        ]
    if check_names:
        analysis["syntheticChecks"] = [
            {
                "name": name,
                "http": {"path": "/", "method": "GET", "expect": {"status": 200, "maxLatency": "500ms"}},
                "minSuccessRatio": 0.99,
            }
            for name in check_names
        ]
    spec: dict[str, Any] = {
        "targetRef": {"kind": "Deployment", "name": f"absent-{draw(_NAMES)}"},
        "service": draw(_NAMES),
        "steps": [
            {"weight": weight, "duration": step_durations[index]}
            for index, weight in enumerate(_step_weights(draw))
        ],
        "analysis": analysis,
    }
    if draw(st.booleans()):
        spec["bake"] = {"duration": draw(_DURATIONS)}
    if draw(st.booleans()):
        spec["rollback"] = {"mode": draw(st.sampled_from(["revert", "hold"]))}
    return spec


Path = tuple[str | int, ...]


def paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every path to a value inside `value` (dict keys and list indexes), parents before children."""
    found: list[Path] = []
    if isinstance(value, dict):
        items: list[tuple[str | int, Any]] = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return found
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


def _parent(spec: dict[str, Any], path: Path) -> Any:
    node: Any = spec
    for key in path[:-1]:
        node = node[key]
    return node


@dataclasses.dataclass(frozen=True)
class Case:
    """A spec and the mutation that made it, in words, for failure messages and the tally."""

    spec: dict[str, Any]
    mutation: str
    path: Path

    def field(self) -> str:
        """The mutated field as the apiserver spells it, e.g. spec.steps[0].weight."""
        text = "spec"
        for key in self.path:
            text += f"[{key}]" if isinstance(key, int) else f".{key}"
        return text


@st.composite
def mutated_specs(draw: st.DrawFn) -> Case:
    spec = draw(valid_specs())
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown", "huge", "slip"]))
    every = paths(spec)
    if kind == "slip":
        durations = [path for path in every if path[-1] in _DURATION_KEYS]
        path = draw(st.sampled_from([*durations, ("analysis", "prometheus", "url")]))
        value = draw(SLIPPING_URLS if path[-1] == "url" else OVERLONG_DURATIONS)
        if path[-1] == "url":
            spec["analysis"].setdefault("prometheus", {})["url"] = value
        else:
            _parent(spec, path)[path[-1]] = value
        return Case(spec=spec, mutation=f"set to {value!r}", path=path)
    if kind == "unknown":
        dicts = [()] + [path for path in every if isinstance(_parent(spec, (*path, "")), dict)]
        where = draw(st.sampled_from(dicts))
        key = draw(st.sampled_from(["namespace", "extra", "replicas", "Weight", "ñ"]))
        _parent(spec, (*where, key))[key] = draw(HOSTILE_VALUES)
        return Case(spec=spec, mutation=f"unknown field {key!r}", path=(*where, key))
    if kind == "huge":
        lists = [path for path in every if isinstance(node := _parent(spec, (*path, 0)), list) and node]
        where = draw(st.sampled_from(lists))
        items = _parent(spec, (*where, 0))
        items.extend(copy.deepcopy(items[-1]) for _ in range(draw(st.integers(20, 60))))
        return Case(spec=spec, mutation=f"{len(items)} items", path=where)
    path = draw(st.sampled_from(every))
    parent = _parent(spec, path)
    if kind == "delete":
        del parent[path[-1]]
        return Case(spec=spec, mutation="deleted", path=path)
    value = draw(HOSTILE_VALUES)
    parent[path[-1]] = value
    shown = repr(value) if len(repr(value)) < 60 else f"{repr(value)[:57]}..."
    return Case(spec=spec, mutation=f"set to {shown}", path=path)


cases: st.SearchStrategy[Case] = st.one_of(
    valid_specs().map(lambda spec: Case(spec=spec, mutation="none", path=())),
    mutated_specs(),
    mutated_specs(),
    mutated_specs(),
)
"""A valid spec one time in four, otherwise one mutation of a valid spec."""
