"""From the judgements of one evaluation to what the release does next.

One evaluation is noisy; a run of them is evidence. So the verdicts of an evaluation are aggregated
(`aggregate`), folded into consecutive counters kept in the status (`advance`), and only the counters,
compared with the spec's limits, decide (`outcome`). The counters live in the status, not in memory, so an
operator restart resumes the count where it was. A critical metric is the exception: its failure rolls
back at once, because waiting for more evidence costs more than a false alarm.

Everything is pure and takes `now` as a parameter, so the rules are pinned by tests without a clock.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Sequence

from releaseguard.analysis import judgement as judgements
from releaseguard.models import v1alpha1

_MAX_MESSAGE = 1024  # v1alpha1.Result.message


@dataclasses.dataclass(frozen=True, kw_only=True)
class MetricJudgement:
    """The judgement of one metric or synthetic check, under its name."""

    name: str
    critical: bool
    """A failure rolls back at once, without waiting for failureLimit."""
    judgement: judgements.Judgement


@dataclasses.dataclass(frozen=True, kw_only=True)
class Aggregate:
    """The verdict of one evaluation over all its metrics and checks."""

    verdict: v1alpha1.Verdict
    critical_failure: bool
    """A critical metric failed: the caller rolls back at once, without waiting for failureLimit."""
    results: tuple[MetricJudgement, ...]


class Outcome(enum.StrEnum):
    """What the release does after an evaluation."""

    CONTINUE = "Continue"
    """Keep going: the step advances when its duration has passed and the verdict is Pass."""
    ROLL_BACK = "RollBack"
    """failureLimit consecutive failures were reached, or a critical metric failed."""
    PAUSE = "Pause"
    """inconclusiveLimit consecutive inconclusive evaluations were reached: a human decides."""


def aggregate(results: Sequence[MetricJudgement]) -> Aggregate:
    """Fail if any result fails; else Inconclusive if any is; else Pass.

    No results is Inconclusive: an evaluation that judged nothing is no evidence that the canary is good.
    """
    verdicts = {result.judgement.verdict for result in results}
    if v1alpha1.Verdict.FAIL in verdicts:
        verdict = v1alpha1.Verdict.FAIL
    elif v1alpha1.Verdict.INCONCLUSIVE in verdicts or not verdicts:
        verdict = v1alpha1.Verdict.INCONCLUSIVE
    else:
        verdict = v1alpha1.Verdict.PASS
    critical_failure = any(
        result.critical and result.judgement.verdict == v1alpha1.Verdict.FAIL for result in results
    )
    return Aggregate(verdict=verdict, critical_failure=critical_failure, results=tuple(results))


def advance(
    previous: v1alpha1.AnalysisSummary | None, aggregate: Aggregate, *, now: datetime.datetime
) -> v1alpha1.AnalysisSummary:
    """The summary of this evaluation, its consecutive counters carried on from `previous`.

    A Fail adds one to `consecutive_failures` and ends a run of inconclusive evaluations. A Pass resets
    both counters. An Inconclusive adds one to `consecutive_inconclusive` and leaves
    `consecutive_failures` as it was: a metrics outage between two failures is no evidence that the canary
    recovered, and must not wipe the evidence that it did not. Counting the two apart is also why there
    are two limits, as with Argo Rollouts' failureLimit and consecutiveErrorLimit.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    failures = 0 if previous is None else previous.consecutive_failures
    inconclusive = 0 if previous is None else previous.consecutive_inconclusive
    match aggregate.verdict:
        case v1alpha1.Verdict.PASS:
            failures, inconclusive = 0, 0
        case v1alpha1.Verdict.FAIL:
            failures, inconclusive = failures + 1, 0
        case v1alpha1.Verdict.INCONCLUSIVE:
            inconclusive += 1
    return v1alpha1.AnalysisSummary(
        time=now.astimezone(datetime.UTC),
        verdict=aggregate.verdict,
        consecutive_failures=failures,
        consecutive_inconclusive=inconclusive,
        results=tuple(_result(result) for result in aggregate.results),
    )


def outcome(
    summary: v1alpha1.AnalysisSummary, *, failure_limit: int, inconclusive_limit: int, critical_failure: bool
) -> Outcome:
    """What the release does next. Rolling back wins over pausing: a release that failed is not held."""
    if critical_failure or summary.consecutive_failures >= failure_limit:
        return Outcome.ROLL_BACK
    if summary.consecutive_inconclusive >= inconclusive_limit:
        return Outcome.PAUSE
    return Outcome.CONTINUE


def _result(result: MetricJudgement) -> v1alpha1.Result:
    judgement = result.judgement
    message = f"{judgement.message} (judge: {judgement.threshold})"
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return v1alpha1.Result(
        name=result.name,
        verdict=judgement.verdict,
        reason=judgement.reason,
        canary=judgement.canary,
        baseline=judgement.baseline,
        message=message,
    )
