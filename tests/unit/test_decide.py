"""The release state machine, driven through whole releases with literal observations.

Each test walks the world forward the way the cluster would after the plan's actions ran, so the
transitions are checked in the order they happen, including replays after a crash.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from releaseguard.analysis import measurement
from releaseguard.models import conditions, v1alpha1
from releaseguard.rollout import decide, observation, pacing, plan, templates

NS, TARGET, RV = "shop", "checkout", "guard"
T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
Request = observation.Request


def template(image: str, *, hash_label: str | None = None) -> dict[str, Any]:
    labels = {"app": TARGET} | ({"pod-template-hash": hash_label} if hash_label else {})
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}]}}


V1, V2, V3 = (template(f"shop/checkout:{v}") for v in ("1.0", "2.0", "3.0"))
RS1 = observation.ReplicaSetObservation(
    name="checkout-aaa", pod_template_hash="aaa", template=template("shop/checkout:1.0", hash_label="aaa")
)
RS2 = observation.ReplicaSetObservation(
    name="checkout-bbb", pod_template_hash="bbb", template=template("shop/checkout:2.0", hash_label="bbb")
)


def spec(**changes: Any) -> v1alpha1.ReleaseValidationSpec:
    raw: dict[str, Any] = {
        "targetRef": {"kind": "Deployment", "name": TARGET},
        "service": TARGET,
        "steps": [{"weight": 20, "duration": "1m"}, {"weight": 50, "duration": "1m"}],
        "analysis": {
            "interval": "10s",
            "failureLimit": 2,
            "inconclusiveLimit": 2,
            "prometheus": {"url": "http://prometheus:9090"},
            "metrics": [
                {
                    "name": "error-rate",
                    "kind": "ratio",
                    "errors": "sum(rate(e{{{ selector }}}[{{ window }}]))",
                    "total": "sum(rate(t{{{ selector }}}[{{ window }}]))",
                    "judge": {"type": "threshold", "max": 0.01},
                },
                {
                    "name": "crashes",
                    "kind": "gauge",
                    "query": "max(crashes{{{ selector }}})",
                    "judge": {"type": "threshold", "max": 0},
                    "critical": True,
                },
            ],
        },
    }
    raw.update(changes)
    return v1alpha1.ReleaseValidationSpec.model_validate(raw)


SPEC = spec()


def target(
    tmpl: dict[str, Any] = V1, *, rs: tuple[observation.ReplicaSetObservation, ...] = (RS1,), **changes: Any
) -> observation.TargetObservation:
    """The target with its ReplicaSets' Ready pods as the Deployment controller leaves them: all on the newest
    one once a rollout is complete, split between the two newest while it runs."""
    base = observation.TargetObservation(
        namespace=NS,
        name=TARGET,
        exists=True,
        replicas=4,
        ready_replicas=4,
        paused=True,
        guarded_by=RV,
        template=tmpl,
        rollout_complete=True,
    )
    observed = dataclasses.replace(base, **changes)
    ready = [observed.ready_replicas] + [0] * (len(rs) - 1)
    if not observed.rollout_complete and len(rs) > 1:
        ready[0], ready[1] = (
            observed.ready_replicas // 2,
            observed.ready_replicas - observed.ready_replicas // 2,
        )
    return dataclasses.replace(
        observed,
        replica_sets=tuple(dataclasses.replace(r, ready_replicas=n) for r, n in zip(rs, ready, strict=True)),
    )


def canary(tmpl: dict[str, Any] = V2, *, ready: int = 1) -> observation.CanaryObservation:
    return observation.CanaryObservation(
        name=f"{TARGET}-canary",
        exists=True,
        template=templates.canary_template(tmpl),
        replicas=ready,
        ready_replicas=ready,
    )


NO_CANARY = observation.CanaryObservation(name=f"{TARGET}-canary", exists=False)


def side(value: float | None) -> measurement.Side:
    if value is None:
        return measurement.Side(unavailable=measurement.Unavailable.NO_DATA)
    return measurement.Side(value=value, samples=1000)


def measured(
    *, errors: float | None = 0.0, crashes: float | None = 0.0
) -> tuple[measurement.Measurement, ...]:
    return (
        measurement.Measurement(name="error-rate", canary=side(errors), baseline=side(0.0)),
        measurement.Measurement(name="crashes", canary=side(crashes), baseline=side(0.0)),
    )


@dataclasses.dataclass
class Release:
    """A release under test: the stored status, the clock, and the plan of the last decision."""

    spec: v1alpha1.ReleaseValidationSpec = SPEC
    status: v1alpha1.ReleaseValidationStatus = dataclasses.field(
        default_factory=v1alpha1.ReleaseValidationStatus
    )
    now: datetime.datetime = T0
    last: plan.Plan | None = None

    def step(
        self,
        tgt: observation.TargetObservation | None,
        can: observation.CanaryObservation = NO_CANARY,
        *,
        after: float = 0,
        requests: frozenset[Request] = frozenset(),
        measurements: tuple[measurement.Measurement, ...] | None = None,
    ) -> plan.Plan:
        self.now += datetime.timedelta(seconds=after)
        seen = observation.Observed(
            name=RV,
            uid="uid-1",
            generation=1,
            target=tgt,
            canary=can,
            requests=requests,
            measurements=measurements,
        )
        self.last = decide.decide(spec=self.spec, status=self.status, observed=seen, now=self.now)
        self.status = self.last.status
        assert_consistent(self.last)
        return self.last

    def adopted(self) -> Release:
        self.step(target(paused=False, guarded_by=None))
        return self

    @property
    def phase(self) -> str | None:
        return self.status.phase

    def condition(self, kind: conditions.ConditionType) -> conditions.Condition | None:
        return conditions.find(self.status.conditions, condition_type=kind)


def assert_consistent(decision: plan.Plan) -> None:
    """A plan states one end per object: never both pause and unpause, or keep and delete the canary."""
    names = kinds(decision)
    assert len(names) == len(set(names)), names
    assert len({"PauseTarget", "UnpauseTarget", "ReleaseTarget"} & set(names)) <= 1, names
    assert len({"EnsureCanary", "DeleteCanary"} & set(names)) <= 1, names


def kinds(decision: plan.Plan) -> list[str]:
    return [type(action).__name__ for action in decision.actions]


def of_type(decision: plan.Plan, kind: type) -> list[Any]:
    return [action for action in decision.actions if isinstance(action, kind)]


def reasons(decision: plan.Plan) -> list[str]:
    return [event.reason for event in decision.events]


# --- adoption and degraded states ----------------------------------------------------------------------


def test_adoption_records_the_running_revision_pauses_and_reports() -> None:
    release = Release()
    decision = release.step(target(paused=False, guarded_by=None))

    assert kinds(decision) == ["PauseTarget"]
    assert release.phase == "Idle"
    stable = release.status.stable_revision
    assert stable is not None
    assert (stable.replica_set, stable.images) == ("checkout-aaa", {"app": "shop/checkout:1.0"})
    assert stable.template_hash == templates.fingerprint(V1)
    ready = release.condition(conditions.ConditionType.READY)
    assert ready is not None
    assert (ready.status, ready.reason) == ("True", "TargetAdopted")
    assert reasons(decision) == ["TargetAdopted"]


def test_adoption_waits_for_the_targets_own_rollout() -> None:
    release = Release()
    decision = release.step(target(paused=False, guarded_by=None, rollout_complete=False, ready_replicas=2))
    assert decision.actions == ()
    assert release.status.stable_revision is None
    ready = release.condition(conditions.ConditionType.READY)
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", "TargetRollingOut")
    assert "2/4 ready" in ready.message


@pytest.mark.parametrize(
    ("observed_target", "reason", "message"),
    [
        (None, "TargetNotFound", "Deployment checkout not found"),
        (
            observation.TargetObservation(namespace=NS, name=TARGET, exists=False),
            "TargetNotFound",
            "shop/checkout",
        ),
        (target(guarded_by="other"), "TargetGuardedElsewhere", "guarded by ReleaseValidation other"),
    ],
)
def test_degraded_when_the_target_cannot_be_guarded(observed_target, reason, message) -> None:
    release = Release()
    decision = release.step(observed_target)
    assert decision.actions == ()
    assert release.phase == "Degraded"
    ready = release.condition(conditions.ConditionType.READY)
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", reason)
    assert message in ready.message


def test_invalid_spec_is_degraded_with_the_models_words() -> None:
    seen = observation.Observed(name=RV, generation=2, target=None)
    decision = decide.decide(
        spec=decide.InvalidSpec(message="spec.steps: weights must increase"),
        status=v1alpha1.ReleaseValidationStatus(),
        observed=seen,
        now=T0,
    )
    assert decision.status.phase == "Degraded"
    assert decision.status.message == "spec.steps: weights must increase"
    assert decision.status.observed_generation == 2


def test_target_at_its_stable_revision_rests_and_stays_paused() -> None:
    release = Release().adopted()
    decision = release.step(target(), after=5)
    assert kinds(decision) == ["PauseTarget"]
    assert decision.events == ()
    assert release.phase == "Idle"


def test_a_new_template_on_a_target_scaled_to_zero_waits_for_replicas() -> None:
    release = Release().adopted()
    held = release.step(target(V2, replicas=0, ready_replicas=0), after=5)
    assert kinds(held) == ["PauseTarget"]
    assert release.phase == "Idle"
    progressing = release.condition(conditions.ConditionType.PROGRESSING)
    assert progressing is not None
    assert (progressing.status, progressing.reason) == ("False", "TargetScaledToZero")
    assert "has 0 replicas" in progressing.message

    started = release.step(target(V2), after=5)
    assert reasons(started) == ["CanaryStarted"]
    assert release.phase == "Progressing"


# --- a healthy release ---------------------------------------------------------------------------------


def test_healthy_release_goes_through_every_step_then_promotes_and_succeeds() -> None:
    release = Release().adopted()

    started = release.step(target(V2), after=5)
    assert release.phase == "Progressing"
    assert reasons(started) == ["CanaryStarted"]
    [ensure] = of_type(started, plan.EnsureCanary)
    assert ensure.replicas == 1  # 20% of Ready pods next to 4 target pods
    assert ensure.template["metadata"]["labels"][templates.TRACK_LABEL] == "canary"
    assert ensure.selector["matchLabels"][templates.TRACK_LABEL] == "canary"
    assert (ensure.owner_name, ensure.owner_uid) == (RV, "uid-1")
    assert release.status.step_started_at is None

    release.step(target(V2), canary(ready=0), after=5)
    assert release.status.step_started_at is None
    assert "waiting for canary pods (0/1 Ready)" in (release.status.message or "")

    release.step(target(V2), canary(ready=1), after=5)
    assert release.status.step_started_at == release.now
    assert release.status.canary_weight == 20

    release.step(target(V2), canary(ready=1), after=30, measurements=measured())
    assert release.status.current_step_index == 0  # passing, but the step's minute is not over

    advanced = release.step(target(V2), canary(ready=1), after=31, measurements=measured())
    assert reasons(advanced) == ["StepAdvanced"]
    assert release.status.current_step_index == 1
    assert [a.replicas for a in of_type(advanced, plan.EnsureCanary)] == [4]  # 50%: 4 canary next to 4

    release.step(target(V2), canary(ready=4), after=5)
    promoting = release.step(target(V2), canary(ready=4), after=61, measurements=measured())
    assert release.phase == "Promoting"
    assert reasons(promoting) == ["Promoting"]
    assert kinds(promoting) == ["UnpauseTarget"]

    rolling = release.step(
        target(V2, rs=(RS2, RS1), paused=False, rollout_complete=False), canary(ready=4), after=5
    )
    assert kinds(rolling) == ["UnpauseTarget"]
    assert release.phase == "Promoting"

    done = release.step(target(V2, rs=(RS2, RS1), paused=False), canary(ready=4), after=5)
    assert kinds(done) == ["DeleteCanary", "PauseTarget"]
    assert release.phase == "Succeeded"
    stable = release.status.stable_revision
    assert stable is not None
    assert (stable.replica_set, stable.template_hash) == ("checkout-bbb", templates.fingerprint(V2))
    assert release.status.canary_revision is None


def test_bake_keeps_validating_then_succeeds() -> None:
    release = Release(spec=spec(bake={"duration": "2m"})).adopted()
    release.step(target(V2), after=1)
    release.step(target(V2), canary(ready=1), after=1)
    promoted_at = release.now
    release.step(target(V2), canary(ready=1), after=1, requests=frozenset({Request.PROMOTE}))
    assert release.status.promotion_started_at == release.now
    baking = release.step(target(V2, rs=(RS2, RS1), paused=False), canary(ready=1), after=30)
    assert release.phase == "Baking"
    assert reasons(baking) == ["Baking"]

    request = decide.analysis_request(
        spec=release.spec,
        status=release.status,
        observed=observation.Observed(name=RV, generation=1, target=target(V2, rs=(RS2, RS1))),
        now=release.now,
    )
    assert request is not None
    assert request.canary.pod_regex == "checkout\\-bbb-[a-z0-9]+"
    assert request.baseline.pod_regex == "checkout\\-aaa-[a-z0-9]+"
    assert request.baseline.at is not None
    assert request.baseline.at > promoted_at

    release.step(target(V2, rs=(RS2, RS1)), after=60, measurements=measured())
    assert release.phase == "Baking"
    release.step(target(V2, rs=(RS2, RS1)), after=61, measurements=measured(errors=None))
    release.step(target(V2, rs=(RS2, RS1)), after=10, measurements=measured(errors=None))
    assert release.phase == "Baking"  # inconclusive neither pauses the bake nor lets it end
    release.step(target(V2, rs=(RS2, RS1)), after=10, measurements=measured())
    assert release.phase == "Succeeded"


# --- failures and rollbacks ----------------------------------------------------------------------------


def progressing(release: Release) -> Release:
    release.adopted()
    release.step(target(V2), after=1)
    release.step(target(V2), canary(ready=1), after=1)
    return release


def test_failure_limit_rolls_back_reverting_the_template_and_holds_it() -> None:
    release = progressing(Release())
    release.step(target(V2), canary(), after=10, measurements=measured(errors=0.2))
    assert release.phase == "Progressing"

    failed = release.step(target(V2), canary(), after=10, measurements=measured(errors=0.3))
    assert release.phase == "RollingBack"
    assert reasons(failed) == ["FailureLimitReached"]
    assert "error-rate Fail" in failed.events[0].message
    assert "0.3" in failed.events[0].message
    assert release.status.rejected_template_hash == templates.fingerprint(V2)
    [revert] = of_type(failed, plan.RevertTarget)
    assert revert.template == templates.normalized(RS1.template)
    assert "pod-template-hash" not in revert.template["metadata"]["labels"]
    assert kinds(failed) == ["DeleteCanary", "RevertTarget", "PauseTarget"]
    healthy = release.condition(conditions.ConditionType.HEALTHY)
    assert healthy is not None
    assert (healthy.status, healthy.reason) == ("False", "AnalysisFailed")

    waiting = release.step(target(V1), canary(), after=5)
    assert release.phase == "RollingBack"
    assert "DeleteCanary" in kinds(waiting)

    done = release.step(target(V1), after=5)
    assert release.phase == "RolledBack"
    assert reasons(done) == ["RolledBack"]
    decision = release.status.last_decision
    assert decision is not None
    assert decision.reason == "FailureLimitReached"
    assert "error-rate Fail (canary 0.3, baseline 0): canary 0.3 > max 0.01" in decision.message

    # Someone re-applies the rejected template: it is held, not rolled out again.
    held = release.step(target(V2), after=60)
    assert release.phase == "RolledBack"
    assert of_type(held, plan.EnsureCanary) == []
    rejected = release.condition(conditions.ConditionType.REVISION_REJECTED)
    assert rejected is not None
    assert rejected.status == "True"
    assert "releaseguard.io/retry" in rejected.message

    retried = release.step(target(V2), after=5, requests=frozenset({Request.RETRY}))
    assert release.phase == "Progressing"
    assert retried.consumed == frozenset({Request.RETRY})
    assert release.condition(conditions.ConditionType.REVISION_REJECTED) is None


def test_hold_mode_keeps_the_rejected_template_and_holds_it() -> None:
    release = progressing(Release(spec=spec(rollback={"mode": "hold"})))
    failed = release.step(target(V2), canary(), after=10, measurements=measured(crashes=1))
    assert reasons(failed) == ["CriticalMetricFailed"]
    assert kinds(failed) == ["DeleteCanary", "PauseTarget"]

    release.step(target(V2), after=5)
    assert release.phase == "RolledBack"
    release.step(target(V2), after=5)
    rejected = release.condition(conditions.ConditionType.REVISION_REJECTED)
    assert rejected is not None
    assert rejected.status == "True"


def test_a_new_template_after_a_rollback_starts_a_new_release() -> None:
    release = progressing(Release(spec=spec(rollback={"mode": "hold"})))
    release.step(target(V2), canary(), after=10, measurements=measured(crashes=1))
    release.step(target(V2), after=5)
    release.step(target(V3), after=5)
    assert release.phase == "Progressing"
    assert release.status.canary_revision is not None
    assert release.status.canary_revision.template_hash == templates.fingerprint(V3)


def test_failure_during_bake_rolls_the_stable_revision_out_again() -> None:
    release = Release(spec=spec(bake={"duration": "5m"})).adopted()
    release.step(target(V2), after=1)
    release.step(target(V2), canary(ready=1), after=1, requests=frozenset({Request.PROMOTE}))
    release.step(target(V2, rs=(RS2, RS1), paused=False), canary(), after=30)
    assert release.phase == "Baking"

    failed = release.step(target(V2, rs=(RS2, RS1)), after=10, measurements=measured(crashes=2))
    assert release.phase == "RollingBack"
    assert kinds(failed) == ["DeleteCanary", "RevertTarget", "UnpauseTarget"]

    rolling = release.step(target(V1, rs=(RS1, RS2), paused=False, rollout_complete=False), after=5)
    assert kinds(rolling) == ["DeleteCanary", "UnpauseTarget"]
    done = release.step(target(V1, rs=(RS1, RS2), paused=False), after=5)
    assert kinds(done) == ["DeleteCanary", "PauseTarget"]
    assert release.phase == "RolledBack"
    stable = release.status.stable_revision
    assert stable is not None
    assert stable.replica_set == "checkout-aaa"


def test_inconclusive_analysis_pauses_and_resume_restarts_the_step() -> None:
    release = progressing(Release())
    release.step(target(V2), canary(), after=10, measurements=measured(errors=None))
    paused = release.step(target(V2), canary(), after=10, measurements=measured(errors=None))
    assert release.phase == "Paused"
    assert reasons(paused) == ["InconclusiveLimitReached"]
    assert kinds(paused) == ["PauseTarget", "EnsureCanary"]

    still = release.step(target(V2), canary(), after=60)
    assert release.phase == "Paused"
    assert still.events == ()

    resumed = release.step(target(V2), canary(), after=5, requests=frozenset({Request.RESUME}))
    assert release.phase == "Progressing"
    assert resumed.consumed == frozenset({Request.RESUME})
    assert release.status.last_analysis is not None
    assert release.status.last_analysis.consecutive_inconclusive == 0


@pytest.mark.parametrize("phase_setup", ["progressing", "paused"])
def test_abort_rolls_back_and_promote_skips_the_remaining_steps(phase_setup: str) -> None:
    def setup() -> Release:
        release = progressing(Release())
        if phase_setup == "paused":
            release.step(target(V2), canary(), after=1, requests=frozenset({Request.PAUSE}))
            assert release.phase == "Paused"
        return release

    aborted = setup()
    decision = aborted.step(target(V2), canary(), after=1, requests=frozenset({Request.ABORT}))
    assert aborted.phase == "RollingBack"
    assert decision.consumed == frozenset({Request.ABORT})
    assert reasons(decision) == ["Aborted"]

    promoted = setup()
    decision = promoted.step(target(V2), canary(), after=1, requests=frozenset({Request.PROMOTE}))
    assert promoted.phase == "Promoting"
    assert decision.consumed == frozenset({Request.PROMOTE})


def test_template_changed_during_the_release_restarts_with_the_newer_one() -> None:
    release = progressing(Release())
    decision = release.step(target(V3), canary(), after=5)
    assert release.phase == "Progressing"
    assert release.status.current_step_index == 0
    assert release.status.canary_revision is not None
    assert release.status.canary_revision.images == {"app": "shop/checkout:3.0"}
    [ensure] = of_type(decision, plan.EnsureCanary)
    assert ensure.template["spec"]["containers"][0]["image"] == "shop/checkout:3.0"


def test_template_set_back_to_stable_abandons_the_release() -> None:
    release = progressing(Release())
    decision = release.step(target(V1), canary(), after=5)
    assert release.phase == "Idle"
    assert kinds(decision) == ["DeleteCanary"]


# --- replays after a crash -----------------------------------------------------------------------------


def test_replaying_a_decision_gives_the_same_plan() -> None:
    """A crash before the status write: the same inputs come back, and must give the same answer."""
    release = progressing(Release())
    stored = release.status
    first = release.step(target(V2), canary(), after=10, measurements=measured(errors=0.5))
    release.status, release.now = stored, release.now
    again = release.step(target(V2), canary(), after=0, measurements=measured(errors=0.5))
    assert again == first


@pytest.mark.parametrize(
    ("world", "expected_phase"),
    [
        ((target(V2), NO_CANARY), "Progressing"),
        ((target(V2), canary(ready=1)), "Progressing"),
    ],
)
def test_after_the_status_write_the_same_world_changes_nothing_more(world, expected_phase) -> None:
    """A crash after the status write: deciding again on the same world repeats actions, not transitions."""
    release = Release().adopted()
    release.step(target(V2), after=1)
    release.step(*world, after=1)
    before = release.status
    decision = release.step(*world, after=1)
    assert release.phase == expected_phase
    assert decision.events == ()
    assert release.status.canary_revision == before.canary_revision
    assert len(of_type(decision, plan.EnsureCanary)) == 1


# --- analysis requests ---------------------------------------------------------------------------------


def request_for(release: Release, *, after: float = 0) -> decide.AnalysisRequest | None:
    return decide.analysis_request(
        spec=release.spec,
        status=release.status,
        observed=observation.Observed(name=RV, generation=1, target=target(V2)),
        now=release.now + datetime.timedelta(seconds=after),
    )


def test_analysis_starts_once_the_canary_is_ready_and_follows_the_interval() -> None:
    release = Release().adopted()
    release.step(target(V2), after=1)
    assert request_for(release) is None  # no Ready canary yet

    release.step(target(V2), canary(), after=1)
    request = request_for(release)
    assert request is not None
    assert request.canary.pod_regex == "checkout\\-canary-[a-z0-9]+-[a-z0-9]+"
    assert request.baseline.pod_regex == "checkout\\-aaa-[a-z0-9]+"
    assert request.baseline.at is None
    assert request.window == decide.MIN_WINDOW

    release.step(target(V2), canary(), after=1, measurements=measured())
    assert request_for(release, after=9) is None
    assert request_for(release, after=10) is not None


def test_the_evidence_accumulates_from_the_first_step_and_starts_over_for_the_bake() -> None:
    release = Release(spec=spec(bake={"duration": "2m"})).adopted()
    release.step(target(V2), after=1)
    release.step(target(V2), canary(ready=1), after=1)
    started = release.status.analysis_started_at
    assert started == release.now
    request = request_for(release, after=5)
    assert request is not None
    assert request.since == started
    # The metric's history: every pod of the target but the canary's, before the release began.
    assert request.history.pod_regex == "checkout-[a-z0-9]+-[a-z0-9]+"
    assert request.history.at == started

    release.step(target(V2), canary(ready=1), after=1, requests=frozenset({Request.PROMOTE}))
    promoted_at = release.status.promotion_started_at
    release.step(target(V2, rs=(RS2, RS1), paused=False), canary(ready=1), after=30)
    assert release.phase == "Baking"
    assert release.status.analysis_started_at == release.now
    baking = decide.analysis_request(
        spec=release.spec,
        status=release.status,
        observed=observation.Observed(name=RV, generation=1, target=target(V2, rs=(RS2, RS1))),
        now=release.now,
    )
    assert baking is not None
    assert baking.since == release.now
    assert baking.history.at == promoted_at


@pytest.mark.parametrize(
    ("weight", "replicas", "expected"),
    [(20, 4, 1), (50, 4, 4), (10, 10, 1), (25, 3, 1), (50, 3, 3), (75, 3, 9), (1, 3, 1), (99, 1, 99)],
)
def test_canary_replicas_give_the_weight_of_ready_pods(weight: int, replicas: int, expected: int) -> None:
    assert templates.canary_replicas(weight=weight, target_replicas=replicas) == expected


def test_fingerprint_ignores_placement_labels_only() -> None:
    assert templates.fingerprint(RS1.template) == templates.fingerprint(V1)
    assert templates.fingerprint(templates.canary_template(V1)) == templates.fingerprint(V1)
    assert templates.fingerprint(V1) != templates.fingerprint(V2)


@pytest.mark.parametrize(
    ("setup", "request_"),
    [
        ("idle", Request.PROMOTE),
        ("idle", Request.RETRY),
        ("idle", Request.RESUME),
        ("progressing", Request.RESUME),
    ],
)
def test_requests_that_mean_nothing_now_are_dropped_with_a_warning(setup: str, request_: Request) -> None:
    release = progressing(Release()) if setup == "progressing" else Release().adopted()
    world = (target(V2), canary()) if setup == "progressing" else (target(),)
    phase = release.phase
    decision = release.step(*world, after=1, requests=frozenset({request_}))
    assert release.phase == phase
    assert decision.consumed == frozenset({request_})
    assert reasons(decision)[-1] == "RequestIgnored"
    assert request_.annotation in decision.events[-1].message


def test_pause_for_inconclusive_analysis_ends_with_the_first_conclusive_verdict() -> None:
    release = progressing(Release())
    release.step(target(V2), canary(), after=10, measurements=measured(errors=None))
    release.step(target(V2), canary(), after=10, measurements=measured(errors=None))
    assert release.phase == "Paused"
    assert request_for(release, after=10) is not None  # still measuring, to notice the source is back

    release.step(target(V2), canary(), after=10, measurements=measured(errors=None))
    assert release.phase == "Paused"
    resumed = release.step(target(V2), canary(), after=10, measurements=measured())
    assert release.phase == "Progressing"
    assert reasons(resumed) == ["Resumed"]
    assert release.status.step_started_at is None


def test_paused_by_request_stays_paused_and_is_not_measured() -> None:
    release = progressing(Release())
    release.step(target(V2), canary(), after=1, requests=frozenset({Request.PAUSE}))
    assert release.phase == "Paused"
    assert request_for(release, after=30) is None
    release.step(target(V2), canary(), after=30)
    assert release.phase == "Paused"


def test_failure_while_paused_for_inconclusive_analysis_still_rolls_back() -> None:
    release = progressing(Release())
    release.step(target(V2), canary(), after=10, measurements=measured(errors=None))
    release.step(target(V2), canary(), after=10, measurements=measured(errors=None))
    release.step(target(V2), canary(), after=10, measurements=measured(crashes=3))
    assert release.phase == "RollingBack"


def test_a_new_template_while_paused_starts_over_with_it() -> None:
    release = progressing(Release())
    release.step(target(V2), canary(), after=1, requests=frozenset({Request.PAUSE}))
    assert release.phase == "Paused"
    restarted = release.step(target(V3), canary(), after=5, requests=frozenset({Request.PROMOTE}))
    assert release.phase == "Progressing"
    assert release.status.canary_revision is not None
    assert release.status.canary_revision.template_hash == templates.fingerprint(V3)
    # The promotion was asked of the revision that is gone.
    assert reasons(restarted)[-1] == "RequestIgnored"
    [ensured] = of_type(restarted, plan.EnsureCanary)
    assert templates.fingerprint(ensured.template) == templates.fingerprint(templates.canary_template(V3))


def test_a_template_set_back_while_paused_abandons_the_release() -> None:
    release = progressing(Release())
    release.step(target(V2), canary(), after=1, requests=frozenset({Request.PAUSE}))
    abandoned = release.step(target(V1), canary(), after=5)
    assert release.phase == "Idle"
    assert kinds(abandoned)[0] == "DeleteCanary"
    assert of_type(abandoned, plan.EnsureCanary) == []


RS3 = observation.ReplicaSetObservation(
    name="checkout-ccc", pod_template_hash="ccc", template=template("shop/checkout:3.0", hash_label="ccc")
)


def promoting(release: Release) -> Release:
    """Promotion under way: the target rolls V2 out natively, half its pods on each revision."""
    progressing(release)
    release.step(target(V2), canary(), after=1, requests=frozenset({Request.PROMOTE}))
    release.step(target(V2, rs=(RS2, RS1), paused=False, rollout_complete=False), canary(), after=5)
    assert release.phase == "Promoting"
    return release


def test_a_newer_template_during_a_promotion_is_paused_and_starts_over_as_a_canary() -> None:
    release = promoting(Release())
    mixed = target(V3, rs=(RS3, RS2, RS1), paused=False, rollout_complete=False)
    restarted = release.step(mixed, canary(), after=5)
    assert release.phase == "Progressing"
    assert kinds(restarted) == ["PauseTarget", "EnsureCanary"]
    [ensured] = of_type(restarted, plan.EnsureCanary)
    assert templates.fingerprint(ensured.template) == templates.fingerprint(templates.canary_template(V3))
    assert release.status.canary_revision is not None
    assert release.status.canary_revision.template_hash == templates.fingerprint(V3)
    assert release.status.promotion_started_at is None
    stable = release.status.stable_revision
    assert stable is not None
    assert (
        stable.replica_set == "checkout-aaa"
    )  # the promoted revision never finished, so never became stable


def test_a_template_set_back_during_a_promotion_is_rolled_back_out_before_the_target_is_paused() -> None:
    release = promoting(Release())
    abandoned = release.step(
        target(V1, rs=(RS1, RS2), paused=False, rollout_complete=False), canary(), after=5
    )
    assert release.phase == "Idle"
    assert kinds(abandoned) == ["DeleteCanary"]
    assert reasons(abandoned) == ["UpToDate"]

    rolling = release.step(target(V1, rs=(RS1, RS2), paused=False, rollout_complete=False), after=10)
    assert kinds(rolling) == ["UnpauseTarget"]
    progress = release.condition(conditions.ConditionType.PROGRESSING)
    assert progress is not None
    assert (progress.status, progress.reason) == ("True", "TargetRollingOut")

    rested = release.step(target(V1, rs=(RS1, RS2), paused=False), after=10)
    assert kinds(rested) == ["PauseTarget"]
    progress = release.condition(conditions.ConditionType.PROGRESSING)
    assert progress is not None
    assert (progress.status, progress.reason) == ("False", "UpToDate")


def test_a_target_at_rest_is_not_unpaused_for_a_stable_pod_that_is_not_ready() -> None:
    release = Release().adopted()
    decision = release.step(target(V1, ready_replicas=3, rollout_complete=False), after=10)
    assert kinds(decision) == ["PauseTarget"]


def test_only_decisions_whose_actions_undo_the_stored_phase_are_stored_first() -> None:
    release = progressing(Release())
    assert not release.last.store_first
    release.step(target(V2), canary(), after=10, measurements=measured(errors=0.2))
    assert not release.last.store_first
    failed = release.step(target(V2), canary(), after=10, measurements=measured(errors=0.3))
    assert failed.store_first
    assert not release.step(target(V1), after=5).store_first

    promoted = progressing(Release()).step(
        target(V2), canary(), after=1, requests=frozenset({Request.PROMOTE})
    )
    assert promoted.status.phase == "Promoting"
    assert promoted.store_first


def test_waiting_for_the_targets_rollout_says_so_whatever_other_conditions_exist() -> None:
    progressing = conditions.Condition(
        type=conditions.ConditionType.PROGRESSING,
        status=conditions.ConditionStatus.FALSE,
        reason=conditions.Reason.UP_TO_DATE,
        message="from before",
        last_transition_time=T0,
    )
    release = Release()
    release.step(None)  # Degraded: Ready comes first
    release.status = release.status.model_copy(
        update={"conditions": (*release.status.conditions, progressing)}
    )
    release.step(target(paused=False, guarded_by=None, rollout_complete=False, ready_replicas=2), after=1)
    assert release.status.message is not None
    assert "is rolling out (2/4 ready)" in release.status.message


# --- actions whose end the world is already at -----------------------------------------------------------


def observed_world(
    target_: observation.TargetObservation, canary_: observation.CanaryObservation = NO_CANARY
) -> observation.Observed:
    return observation.Observed(name=RV, uid="uid-1", generation=1, target=target_, canary=canary_)


def test_actions_already_carried_out_are_left_out() -> None:
    release = progressing(Release())
    steady = release.step(target(V2), canary(ready=1), after=1)
    assert kinds(steady) == ["PauseTarget", "EnsureCanary"]
    # Paused and guarded, the canary at its template and size: nothing to call the apiserver for.
    assert decide.outstanding(steady.actions, observed=observed_world(target(V2), canary(ready=1))) == ()
    # Unpaused by someone, the canary at another size: both actions are due again.
    drifted = observed_world(target(V2, paused=False), canary(ready=2))
    assert kinds(
        plan.Plan(status=steady.status, actions=decide.outstanding(steady.actions, observed=drifted))
    ) == [
        "PauseTarget",
        "EnsureCanary",
    ]
    # Guarded by another name, a canary of another template: due.
    other = observed_world(target(V2, guarded_by="other"), canary(V3, ready=1))
    assert len(decide.outstanding(steady.actions, observed=other)) == 2


def test_a_rollback_leaves_out_only_what_is_already_so() -> None:
    release = progressing(Release())
    release.step(target(V2), canary(), after=10, measurements=measured(errors=0.2))
    failed = release.step(target(V2), canary(), after=10, measurements=measured(errors=0.3))
    assert kinds(failed) == ["DeleteCanary", "RevertTarget", "PauseTarget"]
    midway = observed_world(target(V1), NO_CANARY)  # killed after the canary went and the revert
    assert decide.outstanding(failed.actions, observed=midway) == ()
    before = observed_world(target(V2), canary())
    assert decide.outstanding(failed.actions, observed=before) == failed.actions[:2]


# --- the next pass ----------------------------------------------------------------------------------------


def test_a_release_under_analysis_plans_its_next_pass_for_the_next_analysis_or_the_steps_end() -> None:
    release = progressing(Release())
    started = release.status.step_started_at
    assert started is not None
    analysed = release.step(target(V2), canary(), after=1, measurements=measured())
    assert analysed.next_pass == release.now + datetime.timedelta(seconds=10)
    # 55 s into the one-minute step, the step's end comes before the next analysis.
    late = release.step(target(V2), canary(), after=54, measurements=measured())
    assert late.next_pass == started + datetime.timedelta(minutes=1)


def test_waiting_for_canary_pods_plans_nothing() -> None:
    release = Release().adopted()
    waiting = release.step(target(V2), after=1)
    assert release.phase == "Progressing"
    assert waiting.next_pass is None


def test_a_pause_plans_the_next_analysis_or_only_a_look_now_and_then() -> None:
    release = progressing(Release())
    release.step(target(V2), canary(), after=10, measurements=measured(errors=None))
    inconclusive = release.step(target(V2), canary(), after=10, measurements=measured(errors=None))
    assert release.phase == "Paused"
    assert inconclusive.next_pass == release.now + datetime.timedelta(seconds=10)

    human = progressing(Release())
    paused = human.step(target(V2), canary(), after=1, requests=frozenset({Request.PAUSE}))
    assert human.phase == "Paused"
    assert paused.next_pass == human.now + pacing.STEADY
    again = human.step(target(V2), canary(), after=2)
    assert again.next_pass == human.now + pacing.STEADY


def test_a_synthetic_check_failing_on_the_stable_pods_too_pauses_instead_of_rolling_back() -> None:
    journey = {"name": "journey", "http": {"path": "/checkout"}}
    with_check = spec(
        analysis={**SPEC.analysis.model_dump(by_alias=True, mode="json"), "syntheticChecks": [journey]}
    )

    def checked(canary: float, baseline: float) -> tuple[measurement.Measurement, ...]:
        journey_measured = measurement.Measurement(
            name="journey", canary=measurement.Side(value=canary), baseline=measurement.Side(value=baseline)
        )
        return (*measured(), journey_measured)

    everywhere = progressing(Release(spec=with_check))
    for _ in range(3):
        everywhere.step(target(V2), canary(), after=10, measurements=checked(0.0, 0.0))
    assert everywhere.phase == "Paused"
    results = {r.name: r for r in everywhere.status.last_analysis.results}  # type: ignore[union-attr]
    assert (results["journey"].verdict, results["journey"].reason) == ("Inconclusive", "GlobalAnomaly")

    canary_only = progressing(Release(spec=with_check))
    for _ in range(2):
        canary_only.step(target(V2), canary(), after=10, measurements=checked(0.0, 1.0))
    assert canary_only.phase == "RollingBack"
