"""The ReleaseValidation models: durations, fixtures in and out, and the same refusals as the apiserver.

Each invalid fixture starts with `# expect: <apiserver error substring>` (checked on a real apiserver by
tests/integration) and `# model: <pydantic error substring>` (checked here).
"""

from __future__ import annotations

import copy
import datetime
import pathlib
from typing import Any

import hypothesis
import pydantic
import pytest
import yaml
from hypothesis import strategies

from releaseguard.models import conditions, crd, duration, v1alpha1

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "rv"
VALID = sorted(FIXTURES.glob("valid-*.yaml"))
INVALID = sorted(FIXTURES.glob("invalid-*.yaml"))


def load(path: pathlib.Path) -> dict[str, Any]:
    manifest = yaml.safe_load(path.read_text())
    assert isinstance(manifest, dict)
    return manifest


def header(path: pathlib.Path, key: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(f"# {key}: "):
            return line.removeprefix(f"# {key}: ")
    raise AssertionError(f"{path.name} has no '# {key}:' line")


# --- Duration -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", datetime.timedelta(seconds=30)),
        ("2m", datetime.timedelta(minutes=2)),
        ("1h", datetime.timedelta(hours=1)),
        ("1h30m", datetime.timedelta(hours=1, minutes=30)),
        ("500ms", datetime.timedelta(milliseconds=500)),
        ("90s", datetime.timedelta(seconds=90)),
        ("1h2m3s4ms", datetime.timedelta(hours=1, minutes=2, seconds=3, milliseconds=4)),
        ("0s", datetime.timedelta(0)),
        ("48h", datetime.timedelta(days=2)),
        ("007s", datetime.timedelta(seconds=7)),
    ],
)
def test_parse_reads_kubernetes_durations(text: str, expected: datetime.timedelta) -> None:
    assert duration.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "5 minutes",
        "30",
        "s",
        "1.5h",
        "1d",
        "1w",
        "-1s",
        " 1s",
        "1s ",
        "1m1h",
        "1ms1s",
        "1S",
        "30s\n",
        "1h1h",
    ],
)
def test_parse_refuses_other_text_and_shows_the_syntax(text: str) -> None:
    with pytest.raises(duration.DurationError, match=r"is not a duration: write whole numbers with units"):
        duration.parse(text)


def test_parse_refuses_durations_beyond_timedelta() -> None:
    with pytest.raises(duration.DurationError, match="too long"):
        duration.parse("9" * 30 + "h")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime.timedelta(0), "0s"),
        (datetime.timedelta(seconds=30), "30s"),
        (datetime.timedelta(seconds=90), "1m30s"),
        (datetime.timedelta(hours=26), "26h"),
        (datetime.timedelta(milliseconds=1500), "1s500ms"),
    ],
)
def test_render_writes_the_shortest_text(value: datetime.timedelta, expected: str) -> None:
    assert duration.render(value) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [(datetime.timedelta(seconds=-1), "negative"), (datetime.timedelta(microseconds=1), "finer than")],
)
def test_render_refuses_what_cannot_be_written(value: datetime.timedelta, match: str) -> None:
    with pytest.raises(duration.DurationError, match=match):
        duration.render(value)


@hypothesis.given(strategies.integers(min_value=0, max_value=10**12))
def test_render_then_parse_is_identity(milliseconds: int) -> None:
    value = datetime.timedelta(milliseconds=milliseconds)
    assert duration.parse(duration.render(value)) == value


def test_duration_keeps_its_text_but_compares_by_length() -> None:
    ninety, minute_and_half = duration.Duration("90s"), duration.Duration("1m30s")
    assert ninety.text == "90s"
    assert str(minute_and_half) == "1m30s"
    assert ninety == minute_and_half
    assert hash(ninety) == hash(minute_and_half)
    assert duration.Duration("500ms") < ninety <= duration.Duration("2m")
    assert ninety.seconds == 90.0
    assert duration.Duration.of(datetime.timedelta(minutes=2)).text == "2m"


def test_duration_is_positive() -> None:
    with pytest.raises(duration.DurationError, match="must be longer than 0s"):
        duration.Duration("0s")


def test_duration_is_at_most_a_year() -> None:
    assert duration.Duration("8760h").value == duration.MAX
    assert duration.Duration("525600m") == duration.Duration("8760h")
    for text in ("8760h1ms", "99999999h", "999999999999s"):
        with pytest.raises(duration.DurationError, match=f"'{text}' is longer than 8760h"):
            duration.Duration(text)


def test_durations_the_crd_admits_but_no_clock_reaches_are_refused_by_field() -> None:
    # The pattern and "some digit is not 0" admit these; counted back from now they would leave the calendar.
    spec = {
        "targetRef": {"name": "web"},
        "service": "web",
        "steps": [{"weight": 10, "duration": "99999999h"}],
        "analysis": {
            "interval": "9999999999m",
            "syntheticChecks": [{"name": "home", "http": {"path": "/"}}],
        },
    }
    with pytest.raises(pydantic.ValidationError) as raised:
        v1alpha1.ReleaseValidationSpec.model_validate(spec)
    assert [problem["loc"] for problem in raised.value.errors()] == [
        ("steps", 0, "duration"),
        ("analysis", "interval"),
    ]


@pytest.mark.parametrize("raw", ["45s", datetime.timedelta(seconds=45), duration.Duration("45s")])
def test_duration_fields_accept_text_timedelta_or_duration(raw: object) -> None:
    step = v1alpha1.Step.model_validate({"weight": 10, "duration": raw})
    assert step.duration.value == datetime.timedelta(seconds=45)
    assert step.to_json() == {"weight": 10, "duration": "45s"}


@pytest.mark.parametrize(("raw", "match"), [(30, "is not a duration"), ("1 hour", "is not a duration")])
def test_duration_fields_explain_bad_input(raw: object, match: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=match):
        v1alpha1.Step.model_validate({"weight": 10, "duration": raw})


# --- Fixtures in and out --------------------------------------------------------------------------------


def with_schema_defaults(schema: dict[str, Any], value: Any) -> Any:
    """`value` with the CRD schema's defaults filled in, the way the apiserver does on create."""
    value = copy.deepcopy(value)
    if schema.get("type") == "object" and isinstance(value, dict):
        for name, prop in schema.get("properties", {}).items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                value[name] = with_schema_defaults(prop, value[name])
    elif schema.get("type") == "array" and isinstance(value, list):
        value = [with_schema_defaults(schema["items"], item) for item in value]
    return value


SPEC_SCHEMA = crd.open_api_schema()["properties"]["spec"]


def within(part: Any, whole: Any) -> bool:
    """Every value in `part` is in `whole` at the same place; `whole` may have more object keys."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(key in whole and within(part[key], whole[key]) for key in part)
    if isinstance(part, list):
        return (
            isinstance(whole, list)
            and len(part) == len(whole)
            and all(within(a, b) for a, b in zip(part, whole, strict=True))
        )
    return bool(part == whole)


def test_there_are_valid_and_enough_invalid_fixtures() -> None:
    assert len(VALID) >= 2
    assert len(INVALID) >= 10


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
def test_valid_fixture_round_trips_with_the_crd_defaults_filled(path: pathlib.Path) -> None:
    given = load(path)["spec"]
    spec = v1alpha1.ReleaseValidationSpec.model_validate(given)
    stored = with_schema_defaults(SPEC_SCHEMA, given)
    # What the apiserver stores reads as the same spec: the CRD's defaults agree with the model's. (The
    # model alone defaults a field only some members of a tagged union have, e.g. a judge's tolerance.)
    assert v1alpha1.ReleaseValidationSpec.model_validate(stored) == spec
    assert within(stored, spec.to_json())
    assert v1alpha1.ReleaseValidationSpec.model_validate(spec.to_json()) == spec


def test_minimal_fixture_gets_the_documented_defaults() -> None:
    spec = v1alpha1.ReleaseValidationSpec.model_validate(load(FIXTURES / "valid-minimal.yaml")["spec"])
    assert spec.target_ref.kind == "Deployment"
    assert spec.analysis.interval == duration.Duration("30s")
    assert (spec.analysis.failure_limit, spec.analysis.inconclusive_limit) == (2, 4)
    assert spec.analysis.prometheus is None
    assert spec.analysis.metrics == ()
    assert spec.rollback.mode == v1alpha1.RollbackMode.REVERT
    assert spec.bake is None
    assert spec.notifications == ()
    (check,) = spec.analysis.synthetic_checks
    assert check.min_success_ratio == 0.99
    assert check.http.method == v1alpha1.HttpMethod.GET
    assert check.http.expect.status == 200
    assert check.http.headers == {}
    assert check.http.timeout is None


def test_tagged_unions_parse_to_their_member_types() -> None:
    spec = v1alpha1.ReleaseValidationSpec.model_validate(load(FIXTURES / "valid-every-field.yaml")["spec"])
    kinds = [type(metric) for metric in spec.analysis.metrics]
    assert kinds == [
        v1alpha1.LatencyMetric,
        v1alpha1.LatencyMetric,
        v1alpha1.GaugeMetric,
        v1alpha1.RatioMetric,
        v1alpha1.RatioMetric,
        v1alpha1.GaugeMetric,
    ]
    judges = [type(metric.judge) for metric in spec.analysis.metrics]
    assert judges == [
        v1alpha1.ThresholdJudge,
        v1alpha1.CompareJudge,
        v1alpha1.ThresholdJudge,
        v1alpha1.CompareJudge,
        v1alpha1.BurnRateJudge,
        v1alpha1.AnomalyJudge,
    ]
    notifications = [type(notification) for notification in spec.notifications]
    assert notifications == [
        v1alpha1.SlackNotification,
        v1alpha1.WebhookNotification,
        v1alpha1.WebhookNotification,
        v1alpha1.LogNotification,
    ]
    assert spec.steps[0].duration.value == datetime.timedelta(milliseconds=500)


@pytest.mark.parametrize("path", INVALID, ids=lambda path: path.stem)
def test_invalid_fixture_names_the_field_for_the_apiserver(path: pathlib.Path) -> None:
    assert path.read_text().startswith("# expect: ")
    expected = header(path, "expect")
    assert expected.startswith("spec.") or expected.startswith('unknown field "spec.')


@pytest.mark.parametrize("path", INVALID, ids=lambda path: path.stem)
def test_model_refuses_invalid_fixture_with_a_clear_reason(path: pathlib.Path) -> None:
    with pytest.raises(pydantic.ValidationError) as refused:
        v1alpha1.ReleaseValidationSpec.model_validate(load(path)["spec"])
    assert header(path, "model") in str(refused.value)


def test_spec_is_immutable() -> None:
    spec = v1alpha1.ReleaseValidationSpec.model_validate(load(FIXTURES / "valid-minimal.yaml")["spec"])
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.service = "other"  # type: ignore[misc]


def test_python_field_names_are_accepted_too() -> None:
    step = v1alpha1.Step(weight=5, duration=duration.Duration("1m"))
    ref = v1alpha1.TargetRef(name="web")
    assert ref.to_json() == {"kind": "Deployment", "name": "web"}
    assert step.to_json() == {"weight": 5, "duration": "1m"}


@pytest.mark.parametrize(
    ("query", "accepted"),
    [
        ("up{ {{ selector }} }", True),
        ("up{{{selector}}}", True),
        ("up{ {{  selector  }} }", True),
        ("up{ {{ selector } }", False),
        ("up{app='x'}", False),
        ("up{ {{ window }} }", False),
    ],
)
def test_queries_must_leave_room_for_the_selector(query: str, accepted: bool) -> None:
    metric = {"name": "m", "kind": "gauge", "query": query, "judge": {"type": "threshold", "max": 1}}
    adapter = pydantic.TypeAdapter(v1alpha1.Metric)
    if accepted:
        assert adapter.validate_python(metric).query == query  # type: ignore[union-attr]
    else:
        with pytest.raises(pydantic.ValidationError, match=r"must contain \{\{ selector \}\}"):
            adapter.validate_python(metric)


def test_duplicate_notification_names_and_events_are_refused() -> None:
    base = load(FIXTURES / "valid-minimal.yaml")["spec"]
    twice = [{"name": "log", "type": "log"}, {"name": "log", "type": "webhook", "url": "http://x"}]
    with pytest.raises(pydantic.ValidationError, match="notifications: duplicate entry name=log"):
        v1alpha1.ReleaseValidationSpec.model_validate({**base, "notifications": twice})
    repeated = [{"name": "log", "type": "log", "events": ["paused", "paused"]}]
    with pytest.raises(pydantic.ValidationError, match="events: duplicate entry paused"):
        v1alpha1.ReleaseValidationSpec.model_validate({**base, "notifications": repeated})


# --- Status ---------------------------------------------------------------------------------------------

STORED_STATUS: dict[str, Any] = {
    "phase": "Progressing",
    "outbox": [],
    "notified": [],
    "observedGeneration": 3,
    "currentStepIndex": 1,
    "stepStartedAt": "2024-05-01T10:02:00Z",
    "canaryWeight": 50,
    "stableRevision": {
        "templateHash": "7d4b9c",
        "images": {"app": "shop/checkout:1.4"},
        "replicaSet": "checkout-7d4b9c",
    },
    "canaryRevision": {"templateHash": "5f6a1e", "images": {"app": "shop/checkout:1.5"}},
    "verdict": "Pass",
    "lastAnalysis": {
        "time": "2024-05-01T10:03:00Z",
        "verdict": "Pass",
        "consecutiveFailures": 0,
        "consecutiveInconclusive": 0,
        "results": [
            {
                "name": "error-rate",
                "verdict": "Pass",
                "canary": 0.001,
                "baseline": 0.0012,
                "reason": "WithinLimits",
            }
        ],
    },
    "message": "step 2 of 2: 50% canary",
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "TargetAdopted",
            "message": "",
            "lastTransitionTime": "2024-05-01T10:00:00Z",
            "observedGeneration": 3,
        }
    ],
}


def test_status_round_trips_as_the_apiserver_stores_it() -> None:
    status = v1alpha1.ReleaseValidationStatus.model_validate(STORED_STATUS)
    assert status.phase == v1alpha1.Phase.PROGRESSING
    assert status.conditions[0].last_transition_time == datetime.datetime(2024, 5, 1, 10, tzinfo=datetime.UTC)
    assert status.to_json() == STORED_STATUS


def test_empty_status_parses_and_dumps_to_defaults_only() -> None:
    status = v1alpha1.ReleaseValidationStatus.model_validate({})
    assert status.phase is None
    assert status.to_json() == {"conditions": [], "outbox": [], "notified": []}


def test_status_ignores_fields_it_does_not_know() -> None:
    status = v1alpha1.ReleaseValidationStatus.model_validate({"phase": "Idle", "fromTheFuture": 1})
    assert status.phase == v1alpha1.Phase.IDLE


def test_status_records_a_missing_target() -> None:
    now = datetime.datetime(2024, 5, 1, 10, tzinfo=datetime.UTC)
    ready = conditions.Condition(
        type=conditions.ConditionType.READY,
        status=conditions.ConditionStatus.FALSE,
        reason=conditions.Reason.TARGET_NOT_FOUND,
        message='Deployment "checkout" not found',
        last_transition_time=now,
        observed_generation=1,
    )
    status = v1alpha1.ReleaseValidationStatus(phase=v1alpha1.Phase.DEGRADED, conditions=(ready,))
    assert status.to_json()["conditions"][0]["reason"] == "TargetNotFound"
    assert status.to_json()["phase"] == "Degraded"
