"""The decision: from spec, stored status and what was observed, the status to store and the actions to take.

Pure: no I/O and no clock of its own (`now` comes in), so every transition is a table-driven unit test and
replaying a decision after a crash gives the same answer. Each phase has one function; a transition that
needs the world to catch up (a canary becoming Ready, a rollout completing) waits in its phase until the
next observation shows it, so the stored phase always says what is under way.
"""

from __future__ import annotations

import dataclasses
import datetime
import re

from releaseguard.analysis import judgement, judges, measurement, series, verdicts
from releaseguard.models import conditions, v1alpha1
from releaseguard.rollout import observation, pacing, plan, templates

Phase = v1alpha1.Phase
Reason = conditions.Reason
Status = conditions.ConditionStatus
Request = observation.Request


@dataclasses.dataclass(frozen=True, kw_only=True)
class InvalidSpec:
    """A spec the models refuse (it slipped past the CRD's validation, e.g. an older CRD)."""

    message: str


def decide(
    *,
    spec: v1alpha1.ReleaseValidationSpec | InvalidSpec,
    status: v1alpha1.ReleaseValidationStatus,
    observed: observation.Observed,
    now: datetime.datetime,
) -> plan.Plan:
    draft = _Draft(status=status, observed=observed, now=now)
    if isinstance(spec, InvalidSpec):
        return draft.degraded(Reason.INVALID_SPEC, spec.message)
    target = observed.target
    if target is None or not target.exists:
        name = f"{target.namespace}/{target.name}" if target else spec.target_ref.name
        return draft.degraded(Reason.TARGET_NOT_FOUND, f"Deployment {name} not found")
    if target.guarded_by not in (None, observed.name):
        message = f"{_described(target)} is guarded by ReleaseValidation {target.guarded_by}"
        return draft.degraded(Reason.TARGET_GUARDED_ELSEWHERE, message)
    stable = status.stable_revision
    if stable is None:
        return _adopt(draft, target)
    release = _Release(spec=spec, target=target, stable=stable, draft=draft)
    draft.ready(Status.TRUE, Reason.TARGET_ADOPTED, _guarded(target, stable))
    phase_step = _PHASES.get(status.phase or Phase.IDLE, _at_rest)
    phase_step(release)
    return draft.plan()


def release(*, observed: observation.Observed) -> tuple[plan.Action, ...]:
    """What deleting the ReleaseValidation does: hand the target back to Kubernetes, if it is ours.

    The canary is owned by the ReleaseValidation, so the garbage collector removes it; deleting it here too
    makes the hand-back immediate.
    """
    target = observed.target
    if target is None or not target.exists or target.guarded_by != observed.name:
        return ()
    return (
        plan.DeleteCanary(namespace=target.namespace, name=_canary_name(target.name)),
        plan.ReleaseTarget(namespace=target.namespace, name=target.name),
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class PodGroup:
    """Pods to measure: a namespace and a regex over pod names, which any Prometheus pod relabeling keeps."""

    namespace: str
    pod_regex: str
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    """The same pods as a label selector, for what asks the apiserver (synthetic checks list pods)."""
    at: datetime.datetime | None = None
    """Evaluate as of this time instead of now (the baseline during the bake: the stable pods before)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class AnalysisRequest:
    canary: PodGroup
    baseline: PodGroup
    window: datetime.timedelta
    """What one value covers: the window of a threshold's query, the length of one interval of a series."""
    since: datetime.datetime
    """When the analysis began: a series covers the intervals from then to now."""
    history: PodGroup
    """Every pod of the target except the canary's, ending where the release began: the metric's history."""


MIN_WINDOW = datetime.timedelta(seconds=30)


def outstanding(
    actions: tuple[plan.Action, ...], *, observed: observation.Observed
) -> tuple[plan.Action, ...]:
    """The actions whose end the world was not already at when observed; the others would cost an
    apiserver call each to change nothing. What changed since is seen and mended by the next pass."""
    target, canary = observed.target, observed.canary
    if target is None or not target.exists:
        return actions

    def done(action: plan.Action) -> bool:
        match action:
            case plan.PauseTarget():
                return target.paused and target.guarded_by == action.guarded_by
            case plan.UnpauseTarget():
                return not target.paused
            case plan.ReleaseTarget():
                return not target.paused and target.guarded_by is None
            case plan.RevertTarget():
                return templates.fingerprint(target.template) == templates.fingerprint(action.template)
            case plan.EnsureCanary():
                return (
                    canary is not None
                    and canary.exists
                    and canary.replicas == action.replicas
                    and templates.fingerprint(canary.template) == templates.fingerprint(action.template)
                )
            case plan.DeleteCanary():
                return canary is not None and not canary.exists
        return False

    return tuple(action for action in actions if not done(action))


def analysis_request(
    *,
    spec: v1alpha1.ReleaseValidationSpec | InvalidSpec,
    status: v1alpha1.ReleaseValidationStatus,
    observed: observation.Observed,
    now: datetime.datetime,
) -> AnalysisRequest | None:
    """What to measure now; None when no analysis is due (other phase, canary not Ready, too early)."""
    target, stable = observed.target, status.stable_revision
    if isinstance(spec, InvalidSpec) or target is None or stable is None or status.step_started_at is None:
        return None
    interval = spec.analysis.interval.value
    last = status.last_analysis
    if last is not None and now - last.time < interval and last.time >= status.step_started_at:
        return None
    window = max(interval, MIN_WINDOW)
    since = status.analysis_started_at or status.step_started_at
    match_labels = dict(target.selector.get("matchLabels") or {})
    stable_rs = target.replica_set(stable.replica_set)
    baseline_pods = PodGroup(
        namespace=target.namespace,
        pod_regex=_pods_of(stable.replica_set or ""),
        labels=match_labels
        | {templates.POD_TEMPLATE_HASH_LABEL: stable_rs.pod_template_hash if stable_rs else ""},
    )
    history = PodGroup(
        namespace=target.namespace,
        pod_regex=f"{re.escape(target.name)}-[a-z0-9]+-[a-z0-9]+",
        labels=match_labels,
        at=status.promotion_started_at if status.phase == Phase.BAKING else since,
    )
    if status.phase == Phase.PROGRESSING or paused_for_inconclusive(status):
        canary_pods = canary_group(target)
        return AnalysisRequest(
            canary=canary_pods, baseline=baseline_pods, window=window, since=since, history=history
        )
    current = target.current_replica_set
    if status.phase == Phase.BAKING and current is not None:
        canary_pods = replica_set_group(target, current)
        before = dataclasses.replace(baseline_pods, at=status.promotion_started_at)
        return AnalysisRequest(
            canary=canary_pods, baseline=before, window=window, since=since, history=history
        )
    return None


def canary_group(target: observation.TargetObservation) -> PodGroup:
    """The pods of the target's canary Deployment."""
    return PodGroup(
        namespace=target.namespace,
        pod_regex=f"{re.escape(_canary_name(target.name))}-[a-z0-9]+-[a-z0-9]+",
        labels=dict(target.selector.get("matchLabels") or {})
        | {templates.TRACK_LABEL: templates.CANARY_TRACK},
    )


def replica_set_group(
    target: observation.TargetObservation, replica_set: observation.ReplicaSetObservation
) -> PodGroup:
    """The pods of one of the target's ReplicaSets: one revision of it."""
    return PodGroup(
        namespace=target.namespace,
        pod_regex=_pods_of(replica_set.name),
        labels=dict(target.selector.get("matchLabels") or {})
        | {templates.POD_TEMPLATE_HASH_LABEL: replica_set.pod_template_hash},
    )


class _Draft:
    """The plan under construction: status updates, actions, events and consumed requests."""

    def __init__(
        self,
        *,
        status: v1alpha1.ReleaseValidationStatus,
        observed: observation.Observed,
        now: datetime.datetime,
    ) -> None:
        self.status = status
        self.observed = observed
        self.now = now
        self.actions: list[plan.Action] = []
        self.events: list[plan.Event] = []
        self.consumed: set[observation.Request] = set()
        self.store_first = False
        self.next_pass: datetime.datetime | None = None

    def update(self, **fields: object) -> None:
        self.status = self.status.model_copy(update=fields)

    def act(self, *actions: plan.Action) -> None:
        self.actions.extend(actions)

    def event(self, type_: plan.EventType, reason: Reason, message: str) -> None:
        self.events.append(plan.Event(type=type_, reason=reason, message=message))

    def decision(self, type_: plan.EventType, reason: Reason, message: str) -> None:
        """An Event that is also the status' last decision: what was decided, when and why."""
        self.event(type_, reason, message)
        self.update(last_decision=v1alpha1.Decision(time=self.now, reason=reason, message=message[:4096]))

    def consume(self, request: observation.Request) -> bool:
        """Whether `request` was made; it counts as handled from now on."""
        if request not in self.observed.requests:
            return False
        self.consumed.add(request)
        return True

    def condition(self, type_: conditions.ConditionType, value: Status, reason: Reason, message: str) -> None:
        new = conditions.Condition(
            type=type_,
            status=value,
            reason=reason,
            message=message,
            last_transition_time=self.now,
            observed_generation=self.observed.generation,
        )
        updated, _ = conditions.set_condition(self.status.conditions, new, now=self.now)
        self.update(conditions=updated)

    def drop_condition(self, type_: conditions.ConditionType) -> None:
        kept, _ = conditions.remove_condition(self.status.conditions, condition_type=type_)
        self.update(conditions=kept)

    def ready(self, value: Status, reason: Reason, message: str) -> None:
        self.condition(conditions.ConditionType.READY, value, reason, message)

    def progressing(self, value: Status, reason: Reason, message: str) -> None:
        self.condition(conditions.ConditionType.PROGRESSING, value, reason, message)
        self.update(message=message)

    def degraded(self, reason: Reason, message: str) -> plan.Plan:
        self.ready(Status.FALSE, reason, message)
        self.update(phase=Phase.DEGRADED, message=message)
        return self.plan()

    def plan(self) -> plan.Plan:
        # A request that meant nothing now is dropped, so it cannot take effect by surprise later.
        for request in sorted(self.observed.requests - self.consumed):
            self.consumed.add(request)
            phase = self.status.phase or Phase.IDLE
            self.event(
                plan.EventType.WARNING, Reason.REQUEST_IGNORED, f"{request.annotation} ignored in {phase}"
            )
        status = self.status.model_copy(update={"observed_generation": self.observed.generation})
        return plan.Plan(
            status=status,
            actions=tuple(self.actions),
            events=tuple(self.events),
            consumed=frozenset(self.consumed),
            store_first=self.store_first and bool(self.actions),
            next_pass=self.next_pass,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Release:
    """The facts every phase step reads, gathered once."""

    spec: v1alpha1.ReleaseValidationSpec
    target: observation.TargetObservation
    stable: v1alpha1.Revision
    draft: _Draft

    @property
    def described(self) -> str:
        return _described(self.target)

    @property
    def desired(self) -> str:
        """The fingerprint of the template the target's spec asks for."""
        return templates.fingerprint(self.target.template)

    @property
    def canary(self) -> observation.CanaryObservation | None:
        canary = self.draft.observed.canary
        return canary if canary is not None and canary.exists else None

    def pause(self) -> plan.PauseTarget:
        return _pause_target(self.target, guarded_by=self.draft.observed.name)

    def delete_canary(self) -> plan.DeleteCanary:
        return plan.DeleteCanary(namespace=self.target.namespace, name=_canary_name(self.target.name))

    def running(self, fingerprint: str) -> bool:
        """The target's pods all run the template with `fingerprint` and are Ready.

        Read from the ReplicaSets, not the Deployment's status: a paused Deployment whose template changed
        counts none of its pods as updated although they all run the stable revision.
        """
        current, *older = self.target.replica_sets or (None,)
        return (
            current is not None
            and templates.fingerprint(current.template) == fingerprint
            and current.ready_replicas >= self.target.replicas
            and all(replica_set is None or replica_set.ready_replicas == 0 for replica_set in older)
        )


def _adopt(draft: _Draft, target: observation.TargetObservation) -> plan.Plan:
    """Record the running revision as stable and pause the target, once its own rollout has finished."""
    current = target.current_replica_set
    if current is None or not target.rollout_complete:
        waiting = (
            f"{_described(target)} is rolling out ({target.ready_replicas}/{target.replicas} ready); "
            "it is adopted once the rollout completes"
        )
        draft.ready(Status.FALSE, Reason.TARGET_ROLLING_OUT, waiting)
        draft.update(phase=Phase.IDLE, message=waiting)
        return draft.plan()
    stable = v1alpha1.Revision(
        template_hash=templates.fingerprint(current.template),
        images=templates.images(current.template),
        replica_set=current.name,
    )
    draft.update(stable_revision=stable, phase=Phase.IDLE)
    message = _guarded(target, stable)
    draft.ready(Status.TRUE, Reason.TARGET_ADOPTED, message)
    draft.update(message=message)
    draft.act(_pause_target(target, guarded_by=draft.observed.name))
    draft.event(plan.EventType.NORMAL, Reason.TARGET_ADOPTED, message)
    return draft.plan()


# --- phases ---------------------------------------------------------------------------------------------


def _at_rest(release: _Release) -> None:
    """Idle, Succeeded, RolledBack: the target serves its stable revision; a new template starts a release."""
    draft, target = release.draft, release.target
    if draft.status.phase in (None, Phase.DEGRADED):
        draft.update(phase=Phase.IDLE)
    desired = release.desired
    # The template was set back to stable during a promotion: pausing now would freeze a mix of pods.
    returning = desired == release.stable.template_hash and _runs_other_revisions(release)
    if desired != release.stable.template_hash and target.replicas == 0:
        # A canary next to no stable pods would take all the traffic, with no baseline to judge it by.
        message = (
            f"{release.described} has 0 replicas: template {desired} waits, and its canary starts "
            "once the target is scaled up"
        )
        draft.progressing(Status.FALSE, Reason.TARGET_SCALED_TO_ZERO, message)
    elif desired != release.stable.template_hash:
        if desired != draft.status.rejected_template_hash:
            _start(release)
            return
        if draft.consume(Request.RETRY):
            draft.event(
                plan.EventType.NORMAL, Reason.RETRY_REQUESTED, f"retrying rejected template {desired}"
            )
            _start(release)
            return
        message = (
            f"template {desired} ({_images(target.template)}) was rolled back "
            f"and is held; change the template or annotate {Request.RETRY.annotation}=true to retry it"
        )
        draft.condition(
            conditions.ConditionType.REVISION_REJECTED, Status.TRUE, Reason.REVISION_REJECTED, message
        )
        draft.update(message=message)
    elif returning:
        draft.drop_condition(conditions.ConditionType.REVISION_REJECTED)
        message = (
            f"{release.described} is rolling its stable revision back out "
            f"({target.ready_replicas}/{target.replicas} pods Ready)"
        )
        draft.progressing(Status.TRUE, Reason.TARGET_ROLLING_OUT, message)
        draft.update(message=message)
    else:
        draft.drop_condition(conditions.ConditionType.REVISION_REJECTED)
        draft.progressing(Status.FALSE, Reason.UP_TO_DATE, f"{release.described} runs its stable revision")
    draft.act(
        plan.UnpauseTarget(namespace=target.namespace, name=target.name) if returning else release.pause()
    )
    if release.canary is not None:
        draft.act(release.delete_canary())


def _runs_other_revisions(release: _Release) -> bool:
    """Some Ready pods of the target run another template than its stable one."""
    stable = release.stable.template_hash
    return any(
        replica_set.ready_replicas > 0 and templates.fingerprint(replica_set.template) != stable
        for replica_set in release.target.replica_sets
    )


def _start(release: _Release) -> None:
    draft, spec = release.draft, release.spec
    desired = release.desired
    canary = v1alpha1.Revision(template_hash=desired, images=templates.images(release.target.template))
    draft.update(
        phase=Phase.PROGRESSING,
        current_step_index=0,
        step_started_at=None,
        analysis_started_at=None,
        promotion_started_at=None,
        canary_weight=0,
        canary_revision=canary,
        rejected_template_hash=None,
        verdict=None,
        last_analysis=None,
    )
    draft.drop_condition(conditions.ConditionType.REVISION_REJECTED)
    draft.drop_condition(conditions.ConditionType.HEALTHY)
    message = f"canary {_show(canary)} started; step 1/{len(spec.steps)} at {spec.steps[0].weight}%"
    draft.progressing(Status.TRUE, Reason.CANARY_STARTED, message)
    draft.decision(plan.EventType.NORMAL, Reason.CANARY_STARTED, message)
    _keep_canary(release)


def _canary_replicas(release: _Release) -> int:
    """How many canary pods give the current step's weight."""
    step = release.spec.steps[release.draft.status.current_step_index or 0]
    return templates.canary_replicas(weight=step.weight, target_replicas=release.target.replicas)


def _keep_canary(release: _Release) -> None:
    """The target stays paused and the canary runs the new template at the current step's size."""
    draft, target = release.draft, release.target
    draft.act(
        release.pause(),
        plan.EnsureCanary(
            namespace=target.namespace,
            name=_canary_name(target.name),
            target=target.name,
            selector=templates.canary_selector(target.selector),
            template=templates.canary_template(target.template),
            replicas=_canary_replicas(release),
            owner_name=draft.observed.name,
            owner_uid=draft.observed.uid,
        ),
    )


def _progressing(release: _Release) -> None:
    draft, spec = release.draft, release.spec
    canary_revision = draft.status.canary_revision
    if draft.consume(Request.ABORT):
        _start_rollback(release, Reason.ABORTED, f"aborted by {Request.ABORT.annotation}")
        return
    if canary_revision is None or release.desired != canary_revision.template_hash:
        _superseded(release)
        return
    replicas = _canary_replicas(release)
    canary = release.canary
    canary_ready = canary.ready_replicas if canary else 0
    weight = templates.actual_weight(canary_ready=canary_ready, target_ready=release.target.ready_replicas)
    draft.update(canary_weight=weight)
    index = draft.status.current_step_index or 0
    step = spec.steps[index]
    if draft.status.step_started_at is None:
        if (
            canary is None
            or canary_ready < replicas
            or templates.fingerprint(canary.template) != release.desired
        ):
            draft.update(
                message=f"step {index + 1}/{len(spec.steps)}: waiting for canary pods "
                f"({canary_ready}/{replicas} Ready)"
            )
            _keep_canary(release)
            return
        draft.update(step_started_at=draft.now)
        if draft.status.analysis_started_at is None:
            draft.update(analysis_started_at=draft.now)
    if not _analyse(release):
        return
    if draft.consume(Request.PROMOTE):
        _start_promotion(release, f"promoted by {Request.PROMOTE.annotation}")
        return
    if draft.consume(Request.PAUSE):
        _pause(release, Reason.PAUSE_REQUESTED, f"paused by {Request.PAUSE.annotation}")
        return
    started, last = draft.status.step_started_at, draft.status.last_analysis
    assert started is not None
    passed = last is not None and last.time >= started and last.verdict == v1alpha1.Verdict.PASS
    if draft.now - started < step.duration.value or not passed:
        draft.update(
            message=f"step {index + 1}/{len(spec.steps)} at {step.weight}%: analysing ({_verdict(draft)})"
        )
        draft.next_pass = min(_next_analysis(release), started + step.duration.value)
        _keep_canary(release)
        return
    if index + 1 == len(spec.steps):
        _start_promotion(release, f"all {len(spec.steps)} steps passed")
        return
    next_step = spec.steps[index + 1]
    message = f"step {index + 1}/{len(spec.steps)} passed; step {index + 2} at {next_step.weight}%"
    draft.update(current_step_index=index + 1, step_started_at=None)
    draft.progressing(Status.TRUE, Reason.STEP_ADVANCED, message)
    draft.decision(plan.EventType.NORMAL, Reason.STEP_ADVANCED, message)
    _keep_canary(release)


def _superseded(release: _Release) -> None:
    """The target's template changed during the release: back to stable, or start over with the newer one."""
    draft = release.draft
    if release.desired == release.stable.template_hash:
        draft.act(release.delete_canary())
        message = "template set back to the stable revision; release abandoned"
        draft.update(phase=Phase.IDLE, current_step_index=None, step_started_at=None, canary_weight=None)
        draft.decision(plan.EventType.NORMAL, Reason.UP_TO_DATE, message)
        draft.progressing(Status.FALSE, Reason.UP_TO_DATE, message)
        return
    draft.event(
        plan.EventType.NORMAL, Reason.CANARY_STARTED, "a newer template replaces the one under validation"
    )
    _start(release)


def _analyse(release: _Release, *, may_pause: bool = True) -> bool:
    """Judge fresh measurements, if any; False when the verdict moved the release out of its phase.

    After promotion there is no canary to hold at a step, so inconclusive analysis does not pause the bake;
    it keeps the bake from finishing instead (see _baking).
    """
    draft, spec = release.draft, release.spec
    measurements = draft.observed.measurements
    if measurements is None:
        return True
    rules = _judging_rules(spec)
    results = [
        verdicts.MetricJudgement(
            name=measured.name,
            critical=rules[measured.name][1],
            judgement=_judge(rules[measured.name][0], measured),
        )
        for measured in measurements
        if measured.name in rules
    ]
    aggregate = verdicts.aggregate(results)
    summary = verdicts.advance(draft.status.last_analysis, aggregate, now=draft.now)
    draft.update(last_analysis=summary, verdict=summary.verdict)
    draft.condition(
        conditions.ConditionType.HEALTHY,
        _HEALTH[summary.verdict],
        _HEALTH_REASON[summary.verdict],
        _evidence(summary) or f"all {len(summary.results)} metrics within limits",
    )
    outcome = verdicts.outcome(
        summary,
        failure_limit=spec.analysis.failure_limit,
        inconclusive_limit=spec.analysis.inconclusive_limit,
        critical_failure=aggregate.critical_failure,
    )
    if outcome == verdicts.Outcome.ROLL_BACK:
        reason = Reason.CRITICAL_METRIC_FAILED if aggregate.critical_failure else Reason.FAILURE_LIMIT_REACHED
        _start_rollback(release, reason, _evidence(summary))
        return False
    if outcome == verdicts.Outcome.PAUSE and may_pause:
        _pause(release, Reason.INCONCLUSIVE_LIMIT_REACHED, _evidence(summary))
        return False
    return True


@dataclasses.dataclass(frozen=True)
class _CheckRule:
    """A synthetic check's rule: its minSuccessRatio, with the stable pods called alongside as a witness."""

    min_success_ratio: float


def _judge(
    judge: v1alpha1.Judge | _CheckRule, measured: measurement.Measurement | series.SeriesMeasurement
) -> judgement.Judgement:
    """A measurement of the shape its judge reads (see reconciler.measure_metrics) gets judged."""
    if isinstance(judge, _CheckRule) and isinstance(measured, measurement.Measurement):
        return judges.judge_check(judge.min_success_ratio, measured)
    if isinstance(judge, v1alpha1.ThresholdJudge) and isinstance(measured, measurement.Measurement):
        return judges.judge(judge, measured)
    if isinstance(judge, v1alpha1.SeriesJudge) and isinstance(measured, series.SeriesMeasurement):
        return judges.judge_series(judge, measured)
    raise TypeError(f"{measured.name}: {judge} cannot read a {type(measured).__name__}")


def _judging_rules(
    spec: v1alpha1.ReleaseValidationSpec,
) -> dict[str, tuple[v1alpha1.Judge | _CheckRule, bool]]:
    """Each metric's judge and criticality; a synthetic check is judged on its success ratio."""
    rules: dict[str, tuple[v1alpha1.Judge | _CheckRule, bool]] = {
        metric.name: (metric.judge, metric.critical) for metric in spec.analysis.metrics
    }
    for check in spec.analysis.synthetic_checks:
        rules[check.name] = (_CheckRule(check.min_success_ratio), False)
    return rules


def _pause(release: _Release, reason: Reason, message: str) -> None:
    draft = release.draft
    draft.update(phase=Phase.PAUSED)
    choices = f"{Request.RESUME.annotation}, {Request.PROMOTE.annotation} or {Request.ABORT.annotation}"
    text = f"paused: {message}; annotate {choices}"
    draft.progressing(Status.UNKNOWN, reason, text)
    draft.decision(plan.EventType.WARNING, reason, text)
    _plan_paused(release)
    _keep_canary(release)


def _paused(release: _Release) -> None:
    """A human decides; or, when analysis was only inconclusive, the first conclusive analysis decides."""
    draft = release.draft
    if draft.consume(Request.ABORT):
        _start_rollback(release, Reason.ABORTED, f"aborted by {Request.ABORT.annotation}")
        return
    canary_revision = draft.status.canary_revision
    if canary_revision is None or release.desired != canary_revision.template_hash:
        _superseded(release)
        return
    if draft.consume(Request.PROMOTE):
        _start_promotion(release, f"promoted by {Request.PROMOTE.annotation}")
        return
    if draft.consume(Request.RESUME):
        _resume(release, f"resumed by {Request.RESUME.annotation}")
        return
    if paused_for_inconclusive(draft.status) and draft.observed.measurements is not None:
        if not _analyse(release, may_pause=False):
            return
        last = draft.status.last_analysis
        if last is not None and last.verdict == v1alpha1.Verdict.PASS:
            _resume(release, "analysis is conclusive again")
            return
    _plan_paused(release)
    _keep_canary(release)


def _plan_paused(release: _Release) -> None:
    """Only the next analysis, a human's request or a new template can end a pause."""
    draft = release.draft
    draft.next_pass = (
        _next_analysis(release) if paused_for_inconclusive(draft.status) else draft.now + pacing.STEADY
    )


def _next_analysis(release: _Release) -> datetime.datetime:
    """When the step's next analysis is due: now if it has had none."""
    draft = release.draft
    last, started = draft.status.last_analysis, draft.status.step_started_at
    if last is None or started is None or last.time < started:
        return draft.now
    return last.time + release.spec.analysis.interval.value


def _resume(release: _Release, why: str) -> None:
    draft = release.draft
    last = draft.status.last_analysis
    reset = last.model_copy(update={"consecutive_inconclusive": 0}) if last else None
    # The step starts over: its duration must pass again with a Pass after the pause.
    draft.update(phase=Phase.PROGRESSING, step_started_at=None, last_analysis=reset)
    draft.progressing(Status.TRUE, Reason.RESUMED, why)
    draft.decision(plan.EventType.NORMAL, Reason.RESUMED, why)
    _keep_canary(release)


def paused_for_inconclusive(status: v1alpha1.ReleaseValidationStatus) -> bool:
    progressing = conditions.find(status.conditions, condition_type=conditions.ConditionType.PROGRESSING)
    return (
        status.phase == Phase.PAUSED
        and progressing is not None
        and progressing.reason == Reason.INCONCLUSIVE_LIMIT_REACHED
    )


def _start_promotion(release: _Release, why: str) -> None:
    draft = release.draft
    message = f"promoting {_show(draft.status.canary_revision)}: {why}"
    draft.update(phase=Phase.PROMOTING, promotion_started_at=draft.now, step_started_at=None)
    draft.store_first = True
    draft.progressing(Status.TRUE, Reason.PROMOTING, message)
    draft.decision(plan.EventType.NORMAL, Reason.PROMOTING, message)
    _promoting(release)


def _promoting(release: _Release) -> None:
    """The target rolls out the new template natively; once every pod runs it, the canary goes.

    A template changed meanwhile would roll out unguarded: a newer one is paused at once and starts over as
    a canary (the promoted revision never became stable); the stable one is a hand-made rollback, which
    Kubernetes finishes (see _at_rest).
    """
    draft, target = release.draft, release.target
    canary_revision = draft.status.canary_revision
    assert canary_revision is not None
    if release.desired != canary_revision.template_hash:
        _superseded(release)
        return
    if not release.running(canary_revision.template_hash):
        draft.act(plan.UnpauseTarget(namespace=target.namespace, name=target.name))
        draft.update(message=f"promoting: {target.ready_replicas}/{target.replicas} pods Ready")
        return
    draft.act(release.delete_canary(), release.pause())
    current = target.current_replica_set
    assert current is not None
    draft.update(
        canary_revision=canary_revision.model_copy(update={"replica_set": current.name}), canary_weight=100
    )
    bake = release.spec.bake
    if bake is None:
        _succeed(release)
        return
    message = f"promoted; baking for {bake.duration}"
    draft.update(
        phase=Phase.BAKING, step_started_at=draft.now, analysis_started_at=draft.now, last_analysis=None
    )
    draft.progressing(Status.TRUE, Reason.BAKING, message)
    draft.decision(plan.EventType.NORMAL, Reason.BAKING, message)


def _baking(release: _Release) -> None:
    draft, spec = release.draft, release.spec
    if draft.consume(Request.ABORT):
        _start_rollback(release, Reason.ABORTED, f"aborted by {Request.ABORT.annotation}")
        return
    if not _analyse(release, may_pause=False):
        return
    draft.act(release.pause())
    if draft.consume(Request.PROMOTE):
        _succeed(release)
        return
    started, bake, last = draft.status.step_started_at, spec.bake, draft.status.last_analysis
    baked = bake is None or started is None or draft.now - started >= bake.duration.value
    # With something to analyse, the bake ends on a Pass: an inconclusive stretch is not evidence of health.
    judged = not spec.analysis.metrics or (last is not None and last.verdict == v1alpha1.Verdict.PASS)
    if baked and judged:
        _succeed(release)
        return
    draft.update(message=f"baking: {_verdict(draft)}")
    draft.next_pass = _next_analysis(release)
    if started is not None and bake is not None:
        draft.next_pass = min(draft.next_pass, started + bake.duration.value)


def _succeed(release: _Release) -> None:
    draft = release.draft
    new_stable = draft.status.canary_revision
    assert new_stable is not None
    message = f"{_show(new_stable)} is the stable revision"
    draft.update(
        phase=Phase.SUCCEEDED,
        stable_revision=new_stable,
        canary_revision=None,
        current_step_index=None,
        step_started_at=None,
        promotion_started_at=None,
        canary_weight=None,
    )
    draft.progressing(Status.FALSE, Reason.SUCCEEDED, message)
    draft.decision(plan.EventType.NORMAL, Reason.SUCCEEDED, message)


def _start_rollback(release: _Release, reason: Reason, evidence: str) -> None:
    draft = release.draft
    canary_revision = draft.status.canary_revision
    rejected = canary_revision.template_hash if canary_revision else None
    message = f"rolling back {_show(canary_revision)}: {evidence}"
    draft.update(phase=Phase.ROLLING_BACK, rejected_template_hash=rejected, step_started_at=None)
    draft.store_first = True
    draft.progressing(Status.TRUE, Reason.ROLLING_BACK, message)
    draft.decision(plan.EventType.WARNING, reason, message)
    _rolling_back(release)


def _rolling_back(release: _Release) -> None:
    """The canary goes; the target serves the stable revision again (in revert mode its spec says so too)."""
    draft, target, stable = release.draft, release.target, release.stable
    stable_rs = target.replica_set(stable.replica_set)
    promoted = not release.running(stable.template_hash)
    revert = release.spec.rollback.mode == v1alpha1.RollbackMode.REVERT or promoted
    draft.act(release.delete_canary())
    if revert and stable_rs is not None and release.desired != stable.template_hash:
        draft.act(
            plan.RevertTarget(
                namespace=target.namespace,
                name=target.name,
                template=templates.normalized(stable_rs.template),
            )
        )
    if promoted:
        # The target already ran the rejected revision (bake): roll the stable one out again.
        draft.act(plan.UnpauseTarget(namespace=target.namespace, name=target.name))
        draft.update(message=f"rolling back: {target.ready_replicas}/{target.replicas} pods Ready")
        return
    draft.act(release.pause())
    if release.canary is not None or (revert and release.desired != stable.template_hash):
        return
    message = f"rolled back to {_show(stable)}"
    draft.update(phase=Phase.ROLLED_BACK, current_step_index=None, canary_weight=0, promotion_started_at=None)
    draft.progressing(Status.FALSE, Reason.ROLLED_BACK, message)
    draft.event(plan.EventType.WARNING, Reason.ROLLED_BACK, message)


_PHASES = {
    Phase.IDLE: _at_rest,
    Phase.SUCCEEDED: _at_rest,
    Phase.ROLLED_BACK: _at_rest,
    Phase.DEGRADED: _at_rest,
    Phase.PROGRESSING: _progressing,
    Phase.PAUSED: _paused,
    Phase.PROMOTING: _promoting,
    Phase.BAKING: _baking,
    Phase.ROLLING_BACK: _rolling_back,
}

_HEALTH = {
    v1alpha1.Verdict.PASS: Status.TRUE,
    v1alpha1.Verdict.FAIL: Status.FALSE,
    v1alpha1.Verdict.INCONCLUSIVE: Status.UNKNOWN,
}
_HEALTH_REASON = {
    v1alpha1.Verdict.PASS: Reason.ANALYSIS_PASSED,
    v1alpha1.Verdict.FAIL: Reason.ANALYSIS_FAILED,
    v1alpha1.Verdict.INCONCLUSIVE: Reason.ANALYSIS_INCONCLUSIVE,
}


def _evidence(summary: v1alpha1.AnalysisSummary) -> str:
    """The results that were not Pass, in words: metric, verdict, canary and baseline, the judge's numbers."""
    return "; ".join(
        f"{result.name} {result.verdict} (canary {_number(result.canary)}, "
        f"baseline {_number(result.baseline)}): {result.message or result.reason}"
        for result in summary.results
        if result.verdict != v1alpha1.Verdict.PASS
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _verdict(draft: _Draft) -> str:
    last = draft.status.last_analysis
    return "no analysis yet" if last is None else f"last verdict {last.verdict}"


def _canary_name(target: str) -> str:
    return f"{target}-canary"


def _pods_of(replica_set: str) -> str:
    return f"{re.escape(replica_set)}-[a-z0-9]+"


def _described(target: observation.TargetObservation) -> str:
    return f"Deployment {target.namespace}/{target.name}"


def _guarded(target: observation.TargetObservation, stable: v1alpha1.Revision) -> str:
    return f"{_described(target)} is guarded; stable revision {_show(stable)}"


def _pause_target(target: observation.TargetObservation, *, guarded_by: str) -> plan.PauseTarget:
    return plan.PauseTarget(namespace=target.namespace, name=target.name, guarded_by=guarded_by)


def _images(template: dict[str, object]) -> str:
    return ", ".join(templates.images(template).values())


def _show(revision: v1alpha1.Revision | None) -> str:
    if revision is None:
        return "(none)"
    images = ", ".join(revision.images.values())
    return f"{revision.replica_set or revision.template_hash} ({images})"
