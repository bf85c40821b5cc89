"""The kubectl plugin's views, completion and `--until-done`, from objects as the apiserver returns them."""

from __future__ import annotations

import copy
import re
import typing
from typing import Any

import pytest

from releaseguard import plugin
from releaseguard.kube import client
from releaseguard.models import v1alpha1

ANSI = re.compile(r"\x1b\[[0-9;]*m")
GREEN, YELLOW, RED = "\x1b[32m", "\x1b[33m", "\x1b[31m"

RELEASE: dict[str, Any] = {
    "metadata": {"name": "checkout", "namespace": "shop"},
    "spec": {
        "targetRef": {"kind": "Deployment", "name": "checkout"},
        "service": "checkout-svc",
        "steps": [{"weight": 25, "duration": "1m"}, {"weight": 50, "duration": "2m"}],
        "analysis": {"interval": "15s", "failureLimit": 3},
    },
    "status": {
        "phase": "Progressing",
        "message": "step 1/2 at 25%: analysing (last verdict Fail)",
        "currentStepIndex": 0,
        "stepStartedAt": "2026-05-04T10:00:07.873800Z",
        "canaryWeight": 25,
        "verdict": "Fail",
        "stableRevision": {
            "templateHash": "fc1d7084ea171421",
            "images": {"app": "shop/checkout:1.0"},
            "replicaSet": "checkout-85ddc64869",
        },
        "canaryRevision": {
            "templateHash": "f278de36bc1b086b",
            "images": {"app": "shop/checkout:1.1", "proxy": "envoy:1.30"},
        },
        "lastDecision": {
            "time": "2026-05-04T10:00:05.1Z",
            "reason": "CanaryStarted",
            "message": "canary f278de36bc1b086b started;\nstep 1/2 at 25%",
        },
        "lastAnalysis": {
            "time": "2026-05-04T10:00:37.000001Z",
            "verdict": "Fail",
            "consecutiveFailures": 1,
            "consecutiveInconclusive": 0,
            "results": [
                {
                    "name": "error-rate",
                    "verdict": "Fail",
                    "canary": 0.0412345,
                    "baseline": 0.001,
                    "message": "canary 0.04123 > max 0.02",
                },
                {"name": "p95-latency", "verdict": "Inconclusive", "canary": None, "reason": "NoData"},
                {"name": "checkout-journey", "verdict": "Pass", "canary": 1.0, "baseline": 1.0},
            ],
        },
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "TargetAdopted",
                "lastTransitionTime": "2026-05-04T09:00:00Z",
                "message": "Deployment shop/checkout is guarded",
            },
            {
                "type": "Healthy",
                "status": "False",
                "reason": "AnalysisFailed",
                "lastTransitionTime": "2026-05-04T10:00:37Z",
                "message": "error-rate Fail",
            },
        ],
    },
}


def release(**status: Any) -> dict[str, Any]:
    """RELEASE with some status fields replaced (None removes one)."""
    obj = copy.deepcopy(RELEASE)
    for key, value in status.items():
        if value is None:
            obj["status"].pop(key, None)
        else:
            obj["status"][key] = value
    return obj


def line(view: str, label: str) -> str:
    [found] = [text for text in view.splitlines() if text.startswith(f"{label}:")]
    return found.removeprefix(f"{label}:").strip()


# --- colours ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "tty", "environ", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # no-color.org: set and not empty
        ("always", False, {"NO_COLOR": "1"}, True),  # an explicit flag wins over the environment
        ("never", True, {}, False),
    ],
)
def test_colour_choice(choice: str, tty: bool, environ: dict[str, str], expected: bool) -> None:
    assert plugin.use_colour(choice, tty=tty, environ=environ) is expected


@pytest.mark.parametrize(
    ("phase", "colour"),
    [
        ("Idle", GREEN),
        ("Succeeded", GREEN),
        ("Progressing", YELLOW),
        ("Paused", YELLOW),
        ("Promoting", YELLOW),
        ("Baking", YELLOW),
        ("RollingBack", RED),
        ("RolledBack", RED),
        ("Degraded", RED),
    ],
)
def test_each_phase_has_its_colour(phase: str, colour: str) -> None:
    view = plugin.render_release(release(phase=phase), colour=True)
    assert line(view, "Phase") == f"{colour}{phase}\x1b[0m"
    [row] = plugin.format_table([release(phase=phase)], colour=True).splitlines()[1:]
    assert f"{colour}{phase}\x1b[0m" in row


def test_every_phase_is_coloured() -> None:
    assert set(plugin.PHASE_COLOURS) == set(v1alpha1.Phase)


def test_without_colour_no_escape_codes_and_the_same_text() -> None:
    plain = plugin.render_release(RELEASE, colour=False)
    coloured = plugin.render_release(RELEASE, colour=True)
    assert "\x1b" not in plain
    assert "\x1b" in coloured
    # Padding is computed on the text, so columns line up the same with colours on.
    assert ANSI.sub("", coloured) == plain
    table = [RELEASE, release(phase="RolledBack", verdict="Pass")]
    assert ANSI.sub("", plugin.format_table(table, colour=True)) == plugin.format_table(table)


# --- get NAME ---------------------------------------------------------------------------------------------


def test_get_shows_target_phase_step_and_revisions() -> None:
    view = plugin.render_release(RELEASE)
    assert line(view, "Name") == "checkout"
    assert line(view, "Namespace") == "shop"
    assert line(view, "Target") == "Deployment/checkout, Service checkout-svc"
    assert line(view, "Phase") == "Progressing"
    assert line(view, "Message") == "step 1/2 at 25%: analysing (last verdict Fail)"
    assert line(view, "Step") == "1/2: 25% for at least 1m, since 2026-05-04T10:00:07Z"
    assert line(view, "Weight") == "25%"
    assert line(view, "Verdict") == "Fail"
    assert line(view, "Stable") == "fc1d7084ea171421 shop/checkout:1.0 (ReplicaSet checkout-85ddc64869)"
    assert line(view, "Canary") == "f278de36bc1b086b app=shop/checkout:1.1, proxy=envoy:1.30"
    assert line(view, "Decision") == (
        "CanaryStarted at 2026-05-04T10:00:05Z: canary f278de36bc1b086b started; step 1/2 at 25%"
    )


def test_get_shows_the_last_analysis_per_metric() -> None:
    view = plugin.render_release(RELEASE).splitlines()
    start = view.index(next(text for text in view if text.startswith("Analysis:")))
    # The limits come from the spec (failureLimit 3) or, when left out, the API's defaults (inconclusive 4).
    assert view[start] == "Analysis:  Fail at 2026-05-04T10:00:37Z (in a row: 1/3 failed, 0/4 inconclusive)"
    assert view[start + 1 : start + 5] == [
        "  NAME              VERDICT       CANARY   BASELINE  MESSAGE",
        "  error-rate        Fail          0.04123  0.001     canary 0.04123 > max 0.02",
        "  p95-latency       Inconclusive  -        -         NoData",
        "  checkout-journey  Pass          1        1",
    ]


def test_verdicts_are_coloured_in_the_metric_table() -> None:
    view = plugin.render_release(RELEASE, colour=True)
    assert f"  error-rate        {RED}Fail\x1b[0m          0.04123" in view
    assert f"{YELLOW}Inconclusive\x1b[0m" in view
    assert f"  checkout-journey  {GREEN}Pass\x1b[0m          1" in view


def test_get_shows_conditions_incident_and_report() -> None:
    incident = {
        "severity": "SEV2",
        "severityReason": "1.2% of requests hurt",
        "summary": "checkout failed for 1.2% of requests; rolling back",
        "revision": "f278de36bc1b086b",
        "stage": "canary",
        "openedAt": "2026-05-04T10:01:00.5Z",
        "resolvedAt": "2026-05-04T10:02:00Z",
        "impact": {"trafficShare": 0.25, "affectedShare": 0.012, "affectedRequests": 119.6},
        "suspectedCause": ["image shop/checkout:1.0 -> 1.1"],
    }
    view = plugin.render_release(
        release(phase="RolledBack", incident=incident, report="checkout-report-f278de36")
    ).splitlines()
    assert "  TYPE     STATUS  REASON          SINCE                 MESSAGE" in view
    assert "  Healthy  False   AnalysisFailed  2026-05-04T10:00:37Z  error-rate Fail" in view
    start = view.index(next(text for text in view if text.startswith("Incident:")))
    assert view[start : start + 4] == [
        "Incident:  SEV2 in the canary of revision f278de36bc1b086b, opened 2026-05-04T10:01:00Z,"
        " resolved 2026-05-04T10:02:00Z",
        "  checkout failed for 1.2% of requests; rolling back",
        "  impact: 1.2% of requests hurt (about 120), 25% of traffic on the revision",
        "  suspected: image shop/checkout:1.0 -> 1.1",
    ]
    assert view[-2:] == [
        "Report:    ConfigMap checkout-report-f278de36",
        "           (kubectl releaseguard report checkout -n shop)",
    ]


def test_get_of_a_release_the_operator_has_not_seen() -> None:
    obj = {"metadata": {"name": "new", "namespace": "shop"}, "spec": {"targetRef": {"name": "web"}}}
    view = plugin.render_release(obj, colour=True)
    assert view.splitlines() == [
        "Name:      new",
        "Namespace: shop",
        "Target:    Deployment/web",
        "Phase:     - (no status yet: is the operator running?)",
    ]


def test_get_while_baking_and_after_success() -> None:
    baking = release(phase="Baking", currentStepIndex=None, canaryWeight=None)
    baking["spec"]["bake"] = {"duration": "30m"}
    view = plugin.render_release(baking)
    assert line(view, "Bake") == "30m, since 2026-05-04T10:00:07Z"
    assert "Step:" not in view
    assert "Weight:" not in view
    done = plugin.render_release(release(phase="Succeeded", currentStepIndex=None, canaryRevision=None))
    assert "Bake:" not in done
    assert "Canary:" not in done


# --- list -------------------------------------------------------------------------------------------------


def test_list_table() -> None:
    idle = {
        "metadata": {"name": "search", "namespace": "web"},
        "spec": {"targetRef": {"name": "search-api"}},
        "status": {"phase": "Idle", "message": "up to date", "conditions": [{"status": "True"}]},
    }
    lines = plugin.format_table([RELEASE, idle]).splitlines()
    assert lines == [
        "NAMESPACE  NAME      TARGET      PHASE        WEIGHT  VERDICT  MESSAGE",
        # The message of the first condition that is not True: why it is not healthy.
        "shop       checkout  checkout    Progressing  25      Fail     error-rate Fail",
        "web        search    search-api  Idle                          up to date",
    ]


# --- --until-done -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phases", "done"),
    [
        ([], False),
        (["Idle"], False),
        (["Succeeded"], False),  # the previous release's outcome
        (["RolledBack", "Idle"], False),
        (["Idle", "Progressing"], False),
        (["Idle", "Progressing", "Promoting", "Succeeded"], True),
        (["Succeeded", "Progressing", "Succeeded"], True),
        (["Progressing", "RollingBack", "RolledBack"], True),
        (["Baking", "RolledBack"], True),
        (["Paused", "Succeeded"], True),
        (["Progressing", "Degraded"], False),
        ([None, "Progressing", "Idle"], False),  # superseded: back to stable, nothing ended
        ([None, "Progressing", "Idle", "Progressing", "Succeeded"], True),
    ],
)
def test_until_done(phases: list[str | None], done: bool) -> None:
    assert plugin.release_finished(phases) is done


class ScriptedCluster:
    """Answers a watch's reads in turn: a ReleaseValidation's phase, None once it is deleted, or an error."""

    def __init__(self, *answers: str | client.KubeError | None) -> None:
        self.answers = list(answers)

    async def list_release_validations(
        self, *, namespace: str | None, name: str | None
    ) -> list[dict[str, Any]]:
        answer = self.answers.pop(0)
        if isinstance(answer, client.KubeError):
            raise answer
        return [] if answer is None else [RELEASE | {"status": RELEASE["status"] | {"phase": answer}}]


def watch(cluster: ScriptedCluster, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(plugin, "POLL_SECONDS", 0.01)
    return plugin._watch(
        typing.cast(client.Kube, cluster),
        namespace="shop",
        name="checkout",
        until_done=True,
        timeout=None,
        colour=False,
        tty=False,
    )


DOWN = client.Unreachable("list", host="https://127.0.0.1:26443", cause="connection refused")


def test_a_watch_lives_through_an_unreachable_apiserver(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert watch(ScriptedCluster("Progressing", DOWN, DOWN, DOWN, "Succeeded"), monkeypatch) == 0
    out, err = capsys.readouterr()
    assert "Progressing" in out
    assert "Succeeded" in out
    assert err.splitlines() == [f"warning: {DOWN}; trying again every 0.01s"]  # once per outage


def test_a_watch_ends_when_its_first_read_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(client.Unreachable):
        watch(ScriptedCluster(DOWN, "Succeeded"), monkeypatch)


def test_a_watch_ends_when_the_release_is_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(plugin._Missing):
        watch(ScriptedCluster("Progressing", DOWN, None, "Succeeded"), monkeypatch)


# --- completion -------------------------------------------------------------------------------------------


def complete(*words: str, names: tuple[str, ...] = ()) -> tuple[list[str], int]:
    return plugin.candidates(plugin.read_typed(words), names=names)


def test_completes_verbs_with_their_help() -> None:
    lines, directive = complete("")
    assert [text.split("\t")[0] for text in lines] == [
        "list",
        "get",
        "promote",
        "abort",
        "retry",
        "pause",
        "resume",
        "report",
        "completion",
    ]
    assert directive == plugin.NO_FILE_COMPLETION
    assert complete("p") == (
        [f"promote\t{plugin.VERBS['promote'].help}", f"pause\t{plugin.VERBS['pause'].help}"],
        4,
    )


@pytest.mark.parametrize("verb", ["get", "promote", "abort", "retry", "pause", "resume", "report"])
def test_completes_release_names_for_verbs_that_take_one(verb: str) -> None:
    typed = plugin.read_typed([verb, ""])
    assert plugin.wants_names(typed)
    assert plugin.candidates(typed, names=["web", "checkout", "cart"]) == (["cart", "checkout", "web"], 4)
    assert complete(verb, "c", names=("web", "checkout", "cart")) == (["cart", "checkout"], 4)


@pytest.mark.parametrize(
    "words",
    [
        ("list", ""),
        ("completion", ""),
        ("get", "checkout", ""),  # one name is all it takes
        ("get", "-"),
        ("get", "-n", ""),
        ("",),
    ],
)
def test_no_name_lookup_where_no_name_goes(words: tuple[str, ...]) -> None:
    assert not plugin.wants_names(plugin.read_typed(words))


@pytest.mark.parametrize(
    ("words", "namespace"),
    [
        (("get", ""), None),
        (("get", "-n", "shop", ""), "shop"),
        (("-n", "shop", "pause", ""), "shop"),
        (("abort", "--namespace", "shop", ""), "shop"),
        (("abort", "--namespace=shop", ""), "shop"),
        (("abort", "-nshop", ""), "shop"),
    ],
)
def test_names_come_from_the_namespace_typed(words: tuple[str, ...], namespace: str | None) -> None:
    typed = plugin.read_typed(words)
    assert typed.namespace == namespace
    assert typed.verb == ("pause" if "pause" in words else words[0])
    assert plugin.wants_names(typed)


def test_completes_flags_of_the_verb() -> None:
    lines, directive = complete("get", "--w")
    assert lines == [f"--watch\t{plugin.VERBS['get'].flags[2].help}"]
    assert directive == 4
    names = [text.split("\t")[0] for text in complete("report", "checkout", "-")[0]]
    assert names == ["-n", "--namespace", "--html"]
    assert complete("get", "--color=") == ([], 4)


def test_completes_flag_values() -> None:
    assert complete("get", "--color", "") == (["auto", "always", "never"], 4)
    assert complete("list", "--color", "a") == (["auto", "always"], 4)
    assert complete("get", "-n", "") == ([], 4)
    # --html takes a file name: the shell offers files.
    assert complete("report", "checkout", "--html", "") == ([], plugin.DEFAULT_COMPLETION)


def test_completes_shells_and_nothing_after_a_full_command() -> None:
    assert complete("completion", "") == (["bash", "zsh"], 4)
    assert complete("completion", "bash", "") == ([], 4)
    assert complete("nonsense", "") == ([], 4)


def test_completion_scripts_read_the_directive() -> None:
    for shell in ("bash", "zsh"):
        script = plugin.completion_script(shell)
        assert "kubectl_complete-releaseguard" in script
        assert "directive & 4" in script


# --- parsing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "namespace"),
    [
        (["get", "checkout"], None),
        (["get", "checkout", "-n", "shop"], "shop"),
        (["-n", "shop", "get", "checkout"], "shop"),
        (["-n", "shop", "pause", "checkout"], "shop"),
    ],
)
def test_namespace_before_or_after_the_verb(argv: list[str], namespace: str | None) -> None:
    assert plugin.build_parser().parse_args(argv).namespace == namespace


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "--watch"],
        ["get", "checkout", "--timeout", "soon"],
        ["get", "checkout", "-A"],
        ["list", "-n", "shop", "-A"],
        ["list", "--color", "sometimes"],
        ["completion", "fish"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        plugin.main(argv)
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_completion_verb_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.main(["completion", "bash"]) == 0
    assert capsys.readouterr().out == plugin.completion_script("bash")
