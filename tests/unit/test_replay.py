"""Replaying scenarios through the judges, and `releaseguard judge` printing one line per file."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from releaseguard import cli
from releaseguard.analysis import replay
from releaseguard.models import v1alpha1

SCENARIOS = pathlib.Path(__file__).parent.parent / "fixtures" / "scenarios"


def scenario(judge: dict[str, Any], canary: list[Any], baseline: list[Any], **extra: Any) -> replay.Scenario:
    return replay.Scenario.model_validate(
        {
            "metric": {"name": "error-rate", "kind": "ratio", "judge": judge},
            "interval_s": 10,
            "canary": canary,
            "baseline": baseline,
            **extra,
        }
    )


def counts(errors: int, total: int = 100) -> dict[str, int]:
    return {"errors": errors, "total": total}


def test_a_threshold_judges_each_interval_alone_and_the_replay_stops_at_the_first_fail() -> None:
    replayed = replay.replay(
        scenario(
            {"type": "threshold", "max": 0.05},
            canary=[counts(1), None, counts(9), counts(0)],
            baseline=[counts(1)] * 4,
        )
    )
    assert replayed.verdict == v1alpha1.Verdict.FAIL
    assert replayed.decided_at == 2
    assert [evaluation.judgement.verdict for evaluation in replayed.evaluations] == [
        v1alpha1.Verdict.PASS,
        v1alpha1.Verdict.INCONCLUSIVE,  # a missing interval has no value
        v1alpha1.Verdict.FAIL,
    ]


def test_without_a_fail_the_verdict_is_the_last_looks() -> None:
    replayed = replay.replay(
        scenario({"type": "threshold", "max": 0.05}, canary=[counts(1), None], baseline=[counts(1)] * 2)
    )
    assert (replayed.verdict, replayed.decided_at) == (v1alpha1.Verdict.INCONCLUSIVE, None)
    empty = replay.replay(scenario({"type": "compare"}, canary=[], baseline=[]))
    assert (empty.verdict, empty.decided_at, empty.evaluations) == (v1alpha1.Verdict.INCONCLUSIVE, None, ())


def test_the_judge_sees_only_the_intervals_up_to_each_look() -> None:
    clear_regression = [counts(50)] * 10
    replayed = replay.replay(
        scenario({"type": "compare"}, canary=clear_regression, baseline=[counts(2)] * 10)
    )
    assert replayed.verdict == v1alpha1.Verdict.FAIL
    assert replayed.decided_at is not None
    assert replayed.decided_at < 9
    assert len(replayed.evaluations) == replayed.decided_at + 1


def test_an_anomaly_judge_reads_the_whole_history_at_every_look() -> None:
    history = [counts(1)] * 30
    replayed = replay.replay(
        scenario({"type": "anomaly"}, canary=[counts(1)] * 5, baseline=history, seasonal=[[counts(1)] * 5])
    )
    assert replayed.verdict != v1alpha1.Verdict.FAIL
    assert all(evaluation.judgement.reason != "NoHistory" for evaluation in replayed.evaluations)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"canary": [counts(1)], "baseline": []}, "baseline has 0 intervals and canary 1"),
        ({"canary": [{"errors": 1}], "baseline": [counts(1)]}, "canary[0]: a ratio entry is {errors, total}"),
        ({"canary": [counts(5, 1)], "baseline": [counts(1)]}, "canary[0]: counts must satisfy"),
        ({"canary": [{"errors": 1, "total": "x"}], "baseline": [counts(1)]}, "'x' is not a number"),
    ],
)
def test_malformed_scenarios_are_refused_naming_the_entry(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("{", r"\{")):
        scenario({"type": "compare"}, **raw).measurement()


def test_a_burn_rate_judge_on_a_latency_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="burnRate judge reads an error ratio"):
        replay.Scenario.model_validate(
            {
                "metric": {
                    "name": "p90",
                    "kind": "latency",
                    "judge": {"type": "burnRate", "objective": 0.99},
                },
                "interval_s": 10,
                "canary": [],
                "baseline": [],
            }
        )


def test_judge_prints_one_line_per_file_in_order(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"metric": {}}')
    files = [
        str(SCENARIOS / "regressed-error-rate.json"),
        str(broken),
        str(SCENARIOS / "healthy-error-rate.json"),
        str(SCENARIOS / "regressed-latency.json"),
        str(tmp_path / "missing.json"),
    ]
    assert cli.main(["judge", *files]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == files
    regressed, refused, healthy, slow, missing = lines
    assert regressed["verdict"] == "fail"
    assert regressed["decided_at"] == len(regressed["evaluations"]) - 1
    assert regressed["evaluations"][-1]["reason"] == "SignificantRegression"
    assert set(regressed["evaluations"][0]) == {
        "interval",
        "verdict",
        "reason",
        "canary",
        "baseline",
        "message",
    }
    assert healthy["verdict"] in {"pass", "inconclusive"}
    assert healthy["decided_at"] is None
    assert len(healthy["evaluations"]) == 30
    assert slow["verdict"] == "fail"
    assert "metric" in refused["error"]
    assert "No such file" in missing["error"]
