"""The ReleaseValidation API, v1alpha1: what a user asks for (spec) and what the operator knows (status).

These classes are the API's only definition: the CRD, its descriptions and its CEL rules are generated
from them (`python -m releaseguard.models.crd`), and the operator parses every object through them. A rule
the apiserver enforces in CEL is enforced here too where the object alone decides it, with the same
message, so a spec that slipped past an older CRD is refused with a clear reason rather than misread.

Field docstrings are user documentation: they end up in `kubectl explain`.
"""

from __future__ import annotations

import enum
import itertools
import re
from typing import Annotated, ClassVar, Literal

import pydantic

from releaseguard.models import conditions, duration, schema

MAX_STEPS = 20
MAX_METRICS = 20
MAX_CHECKS = 20
MAX_NOTIFICATIONS = 20
MAX_SEGMENTS = 5
MAX_SEVERITY_RULES = 20

# RFC 1123 names, as Kubernetes spells them; the canary Deployment is "<target>-canary", hence 246.
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_SERVICE_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
_HTTP_URL = r"^https?://[^\s]+$"
_CREDENTIALS_IN_URL = "^[a-zA-Z]+://[^/?#]*@"
# `{{ selector }}` in a query; character classes instead of escapes keep it readable in CEL and YAML.
_SELECTOR = "[{][{] *selector *[}][}]"

# Fields named `duration` and `conditions` would shadow the modules inside class bodies.
_Duration = duration.Duration
_Condition = conditions.Condition

Name = Annotated[str, pydantic.Field(min_length=1, max_length=63, pattern=_DNS_LABEL)]
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LabelName = Annotated[str, pydantic.Field(min_length=1, max_length=128, pattern=_LABEL_NAME.pattern)]
"""A Prometheus label name: safe to write into a query as it is."""


_SELECTOR_RULE = schema.Rule(
    rule=f"self.matches('{_SELECTOR}')",
    message="must contain {{ selector }}, which the operator fills for the canary and the baseline pods",
)


def _require_selector(query: str) -> str:
    if re.search(_SELECTOR, query) is None:
        raise ValueError(_SELECTOR_RULE.message)
    return query


Query = Annotated[
    str,
    pydantic.Field(min_length=1, max_length=4096),
    pydantic.AfterValidator(_require_selector),
    schema.Rules(rules=(_SELECTOR_RULE,)),
]
"""A PromQL query written once, with `{{ selector }}` (label matchers) and optionally `{{ window }}`."""


# --- spec -----------------------------------------------------------------------------------------------


class TargetRef(schema.KubeModel):
    kind: Literal["Deployment"] = "Deployment"
    """The kind of the workload to guard; only Deployment is supported."""
    name: str = pydantic.Field(min_length=1, max_length=246, pattern=_DNS_SUBDOMAIN)
    """The name of the Deployment, in the ReleaseValidation's namespace."""


class Step(schema.KubeModel):
    weight: int = pydantic.Field(ge=1, le=99)
    """Percent of the Ready pods that run the new revision during this step."""
    duration: _Duration
    """How long the step lasts; it ends early only by failing, and advances only on a passing verdict."""


_SecretName = Annotated[str, pydantic.Field(min_length=1, max_length=253, pattern=_DNS_SUBDOMAIN)]
_SecretKey = Annotated[str, pydantic.Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class CredentialsRef(schema.KubeModel):
    name: _SecretName
    """The Secret, in the ReleaseValidation's namespace."""
    key: _SecretKey = "token"
    """The key within the Secret."""


class Authorization(schema.KubeModel):
    type: str = pydantic.Field(default="Bearer", max_length=64, pattern=r"^[A-Za-z][-A-Za-z0-9._~+]*$")
    """The scheme of the Authorization header: Bearer for a token, or Basic with the Secret holding
    base64 of user:password."""
    secret_ref: CredentialsRef
    """The Secret key holding the credentials, sent as `Authorization: <type> <credentials>`."""


class Prometheus(schema.KubeModel):
    kube_rules: ClassVar[tuple[schema.Rule, ...]] = (
        schema.Rule(
            rule=f"!self.url.matches('{_CREDENTIALS_IN_URL}')",
            message="url must hold no credentials (user:password@): name a Secret in authorization",
            field_path=".url",
            check=lambda prometheus: re.match(_CREDENTIALS_IN_URL, prometheus.url) is None,
        ),
    )

    url: str = pydantic.Field(max_length=2048, pattern=_HTTP_URL)
    """Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090."""
    timeout: _Duration | None = None
    """Time limit for one query; the operator's default applies when unset."""
    authorization: Authorization | None = None
    """Credentials for a Prometheus that asks for them (behind a gateway, or a hosted service)."""


class ThresholdJudge(schema.KubeModel):
    """Judges the canary's value alone against fixed bounds."""

    kube_rules: ClassVar[tuple[schema.Rule, ...]] = (
        schema.Rule(
            rule="has(self.min) || has(self.max)",
            message="a threshold judge needs min, max or both",
            check=lambda judge: judge.min is not None or judge.max is not None,
        ),
        schema.Rule(
            rule="!has(self.min) || !has(self.max) || self.min <= self.max",
            message="min must not exceed max",
            field_path=".min",
            check=lambda judge: judge.min is None or judge.max is None or judge.min <= judge.max,
        ),
    )

    type: Literal["threshold"]
    """threshold: bounds on the canary; compare: canary against baseline; burnRate: SLO error budget;
    anomaly: the new revision against the metric's own history."""
    min: float | None = None
    """The canary fails below this value."""
    max: float | None = None
    """The canary fails above this value."""


class Direction(enum.StrEnum):
    HIGHER_IS_WORSE = "higherIsWorse"
    LOWER_IS_WORSE = "lowerIsWorse"


_DIRECTION_DOC = (
    "higherIsWorse (error ratios, latencies): a rise is a regression; lowerIsWorse (success ratios,"
    " throughput): a fall is."
)
_TOLERANCE_DOC = (
    "The share of the reference value (the baseline, or the metric's history) by which the canary may be"
    " worse before it counts as a regression: 0.2 tolerates 20%."
)


class CompareJudge(schema.KubeModel):
    """Judges the canary against the baseline pods over the same intervals, with a sequential test.

    The canary regresses when, with the judge's confidence, canary - baseline exceeds
    max(maxRelativeIncrease * baseline, maxAbsoluteIncrease) in the bad direction: for ratio metrics the
    error ratio, for latency histograms the median and the metric's quantile, for gauges the median reading.
    The evidence accumulates over the whole analysis, and looking at every interval does not raise the
    false-alarm rate above 1 - confidence.
    """

    type: Literal["compare"]
    """threshold: bounds on the canary; compare: canary against baseline; burnRate: SLO error budget;
    anomaly: the new revision against the metric's own history."""
    max_relative_increase: float = pydantic.Field(
        default=0.2, ge=0, allow_inf_nan=False, description=_TOLERANCE_DOC
    )
    max_absolute_increase: float = pydantic.Field(default=0, ge=0, allow_inf_nan=False)
    """The absolute margin the canary may exceed the baseline by, e.g. 0.005 for half a point of error
    ratio; the larger of this and the relative margin applies."""
    max_absolute: float | None = pydantic.Field(default=None, allow_inf_nan=False)
    """A ceiling for the canary alone: it fails when, with the judge's confidence, it is above this (for
    latency, the metric's quantile), whatever the baseline."""
    direction: Direction = pydantic.Field(default=Direction.HIGHER_IS_WORSE, description=_DIRECTION_DOC)
    confidence: float = pydantic.Field(default=0.95, ge=0.5, le=0.9999)
    """How sure the judge must be before it fails the canary; 1 - confidence bounds the chance of failing a
    healthy canary over the whole analysis. The bound is loose: at 0.95, hack/bench-judge fails about 0.1%
    of healthy canaries."""
    min_samples: int | None = pydantic.Field(default=None, ge=1)
    """Canary requests (ratio, latency histograms) or intervals (readings) before a Pass may be given;
    until then the verdict is Inconclusive with the number still needed. A judge default applies if unset."""


class BurnRateWindow(schema.KubeModel):
    long: _Duration
    """The long window, which shows the burn is sustained."""
    short: _Duration
    """The short window, which shows the burn is still going on; usually a twelfth of the long one."""
    factor: float = pydantic.Field(gt=0, allow_inf_nan=False)
    """The burn rate (error ratio / error budget) both windows must exceed for the rule to fire."""
    severity: Literal["page", "ticket"] = "page"
    """page: the release fails; ticket: reported, the release goes on."""


def _default_burn_windows() -> tuple[BurnRateWindow, ...]:
    """The multiwindow, multi-burn-rate alerts of the SRE workbook for a 30-day SLO."""
    return (
        BurnRateWindow(long=_Duration("1h"), short=_Duration("5m"), factor=14.4, severity="page"),
        BurnRateWindow(long=_Duration("6h"), short=_Duration("30m"), factor=6, severity="page"),
        BurnRateWindow(long=_Duration("24h"), short=_Duration("2h"), factor=3, severity="ticket"),
        BurnRateWindow(long=_Duration("72h"), short=_Duration("6h"), factor=1, severity="ticket"),
    )


class BurnRateJudge(schema.KubeModel):
    """Judges the canary's error ratio against an SLO's error budget, with multiwindow burn-rate rules."""

    type: Literal["burnRate"]
    """threshold: bounds on the canary; compare: canary against baseline; burnRate: SLO error budget;
    anomaly: the new revision against the metric's own history."""
    objective: float = pydantic.Field(gt=0, lt=1)
    """The SLO: the share of events that must be good, e.g. 0.999."""
    windows: tuple[BurnRateWindow, ...] = pydantic.Field(
        default_factory=_default_burn_windows, min_length=1, max_length=8
    )
    """Burn-rate rules; a window longer than the data seen so far reads all of it. The default is the SRE
    workbook's: 1h/5m at 14.4 and 6h/30m at 6 page, 24h/2h at 3 and 72h/6h at 1 open a ticket."""


class AnomalyJudge(schema.KubeModel):
    """Judges the new revision against the metric's own history before the release (for the bake)."""

    type: Literal["anomaly"]
    """threshold: bounds on the canary; compare: canary against baseline; burnRate: SLO error budget;
    anomaly: the new revision against the metric's own history."""
    history: _Duration = _Duration("1h")
    """How much of the time before the release is the metric's recent history."""
    seasons: tuple[_Duration, ...] = pydantic.Field(
        default_factory=lambda: (_Duration("24h"), _Duration("168h")), max_length=4
    )
    """Seasonal periods: the same time one period ago (24h: yesterday, 168h: last week) is the reference
    when data exists."""
    max_deviation: float = pydantic.Field(default=4, gt=0, allow_inf_nan=False)
    """How many robust standard deviations (1.4826 MAD) from the reference count as an anomaly."""
    max_relative_increase: float = pydantic.Field(
        default=0.2, ge=0, allow_inf_nan=False, description=_TOLERANCE_DOC
    )
    direction: Direction = pydantic.Field(default=Direction.HIGHER_IS_WORSE, description=_DIRECTION_DOC)


Judge = Annotated[
    ThresholdJudge | CompareJudge | BurnRateJudge | AnomalyJudge, pydantic.Field(discriminator="type")
]
SeriesJudge = CompareJudge | BurnRateJudge | AnomalyJudge
"""The judges that read a metric as a series of intervals (`analysis.series`)."""


class MetricKind(enum.StrEnum):
    RATIO = "ratio"
    LATENCY = "latency"
    GAUGE = "gauge"


class _MetricBase(schema.KubeModel):
    name: Name
    """Identifies the metric in status, reports and notifications."""
    judge: Judge
    """How a value (or a pair of canary and baseline values) becomes Pass, Fail or Inconclusive."""
    critical: bool = False
    """A critical metric's failure rolls back at once, without waiting for failureLimit."""


class RatioMetric(_MetricBase):
    kind: Literal[MetricKind.RATIO]
    """ratio: errors/total; latency: a latency in seconds; gauge: any instant value."""
    errors: Query
    """Counts bad events in the window, e.g. sum(increase(x{code=~"5..",{{ selector }}}[{{ window }}]))."""
    total: Query
    """Counts all events in the window; the metric's value is errors/total."""


class _SingleQueryMetric(_MetricBase):
    kube_rules: ClassVar[tuple[schema.Rule, ...]] = (
        schema.Rule(
            rule="self.judge.type != 'burnRate'",
            message="a burnRate judge reads an error ratio: use it on a ratio metric",
            field_path=".judge",
            check=lambda metric: not isinstance(metric.judge, BurnRateJudge),
        ),
    )

    query: Query
    """The query whose single value is the metric."""


class LatencyMetric(_SingleQueryMetric):
    kind: Literal[MetricKind.LATENCY]
    """ratio: errors/total; latency: a latency in seconds; gauge: any instant value."""
    quantile: float | None = pydantic.Field(default=None, gt=0, lt=1)
    """If set, query returns histogram buckets summed by le and the value is this quantile of them."""


class GaugeMetric(_SingleQueryMetric):
    kind: Literal[MetricKind.GAUGE]
    """ratio: errors/total; latency: a latency in seconds; gauge: any instant value."""


Metric = Annotated[RatioMetric | LatencyMetric | GaugeMetric, pydantic.Field(discriminator="kind")]


class HttpMethod(enum.StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    OPTIONS = "OPTIONS"


class JsonFieldExpectation(schema.KubeModel):
    path: str = pydantic.Field(max_length=256, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    """Dotted path into the JSON response, list items by index, e.g. order.items.0.id; it must exist."""
    equals: str | None = pydantic.Field(default=None, max_length=1024)
    """If set, the field's value must equal this, numbers and booleans written as JSON writes them."""


class HttpExpectation(schema.KubeModel):
    status: int = pydantic.Field(default=200, ge=100, le=599)
    """The HTTP status code a successful call returns."""
    body_contains: str | None = pydantic.Field(default=None, max_length=1024)
    """If set, the response body must contain this text."""
    json_field: JsonFieldExpectation | None = None
    """If set, the response must be JSON with this field."""
    max_latency: _Duration | None = None
    """If set, a slower response counts as a failure."""


class HttpCheck(schema.KubeModel):
    path: str = pydantic.Field(max_length=2048, pattern=r"^/")
    """The request path, with any query string, e.g. /api/checkout?dryRun=true."""
    port: int | None = pydantic.Field(default=None, ge=1, le=65535)
    """The port to call; the Service's first port when unset."""
    method: HttpMethod = HttpMethod.GET
    """The HTTP method."""
    headers: dict[str, Annotated[str, pydantic.Field(max_length=4096)]] = pydantic.Field(
        default={}, max_length=32
    )
    """Request headers."""
    body: str | None = pydantic.Field(default=None, max_length=65536)
    """The request body."""
    expect: HttpExpectation = HttpExpectation()
    """What makes a call successful."""
    timeout: _Duration | None = None
    """Time limit for one call, counted as a failure when exceeded; the operator's default when unset."""


class SyntheticCheck(schema.KubeModel):
    name: Name
    """Identifies the check in status, reports and notifications."""
    http: HttpCheck
    """An HTTP request sent to the canary and to the baseline pods."""
    min_success_ratio: float = pydantic.Field(default=0.99, ge=0, le=1)
    """The share of calls to the canary that must succeed in the window for the check to pass."""


class Analysis(schema.KubeModel):
    kube_rules: ClassVar[tuple[schema.Rule, ...]] = (
        schema.Rule(
            rule="has(self.prometheus) || !has(self.metrics) || self.metrics.size() == 0",
            message="metrics need prometheus",
            field_path=".prometheus",
            reason="FieldValueRequired",
            check=lambda analysis: analysis.prometheus is not None or not analysis.metrics,
        ),
        schema.Rule(
            rule="(has(self.metrics) && self.metrics.size() > 0)"
            " || (has(self.syntheticChecks) && self.syntheticChecks.size() > 0)",
            message="analysis needs at least one metric or synthetic check",
            check=lambda analysis: bool(analysis.metrics or analysis.synthetic_checks),
        ),
    )

    interval: _Duration = _Duration("30s")
    """How often the canary is evaluated."""
    failure_limit: int = pydantic.Field(default=2, ge=1, le=100)
    """Consecutive failed evaluations that roll the release back."""
    inconclusive_limit: int = pydantic.Field(default=4, ge=1, le=100)
    """Consecutive inconclusive evaluations that pause the release for a human to decide."""
    prometheus: Prometheus | None = None
    """Where metrics are queried; required when there are metrics."""
    metrics: tuple[Metric, ...] = pydantic.Field(
        default=(), max_length=MAX_METRICS, json_schema_extra=schema.list_map("name")
    )
    """Metrics judged for the canary, each query written once for canary and baseline."""
    synthetic_checks: tuple[SyntheticCheck, ...] = pydantic.Field(
        default=(), max_length=MAX_CHECKS, json_schema_extra=schema.list_map("name")
    )
    """Requests the operator sends itself, so a release with little traffic is still judged."""


class Bake(schema.KubeModel):
    duration: _Duration
    """How long analysis continues after promotion; a failure then rolls back to the previous revision."""


class RollbackMode(enum.StrEnum):
    REVERT = "revert"
    HOLD = "hold"


class Rollback(schema.KubeModel):
    mode: RollbackMode = RollbackMode.REVERT
    """revert: put the stable template back into the Deployment. hold: leave the rejected template in the
    spec (for GitOps) while the paused Deployment keeps serving the stable pods."""


class Severity(enum.StrEnum):
    """How bad a failed release is, SEV1 the worst (many customers hurt now), SEV4 the mildest."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class Stage(enum.StrEnum):
    CANARY = "canary"
    """While the canary serves part of the traffic."""
    BAKE = "bake"
    """After promotion, when every request meets the new revision."""


class SeverityRule(schema.KubeModel):
    severity: Severity
    """The severity of a failed release this rule matches; the most severe matching rule wins."""
    min_affected_share: float | None = pydantic.Field(default=None, ge=0, le=1)
    """Matches when at least this share of all the service's requests is hurt, e.g. 0.01 for 1%."""
    min_burn_rate: float | None = pydantic.Field(default=None, gt=0, allow_inf_nan=False)
    """Matches when the error budget burns at least this many times as fast as the SLO allows (from a
    burnRate judge; without one, the canary's error ratio over the baseline's)."""
    min_business_drop: float | None = pydantic.Field(default=None, ge=0, allow_inf_nan=False)
    """Matches when a business metric is at least this much worse than on the baseline, e.g. 0.05 for 5%."""
    stage: Stage | None = None
    """Matches only in this stage; in both when unset."""


class Impact(schema.KubeModel):
    segments: tuple[LabelName, ...] = pydantic.Field(
        default=(), max_length=MAX_SEGMENTS, json_schema_extra=schema.list_set()
    )
    """Label names (route, region, customer_tier) to split a failing ratio metric by, to find the segments
    that explain the canary's excess. A metric's queries take part with `sum by ({{ segment }})`."""
    business_metrics: tuple[Metric, ...] = pydantic.Field(
        default=(), max_length=MAX_METRICS, json_schema_extra=schema.list_map("name")
    )
    """Metrics the business watches (orders per request, checkout success), compared canary against
    baseline and reported as business impact; they never decide a rollback."""
    severity_rules: tuple[SeverityRule, ...] = pydantic.Field(default=(), max_length=MAX_SEVERITY_RULES)
    """How a failed release's severity follows from its impact; every condition a rule sets must hold and
    the most severe matching rule wins, SEV4 when none does. Empty: the defaults, SEV1 at 5% of requests
    hurt, a burn rate of 14.4 or a 10% business drop; SEV2 at 1%, 6, 2%, or 0.1% hurt during the bake;
    SEV3 at 0.1%, 1, or any failure during the bake."""


class NotificationEvent(enum.StrEnum):
    STARTED = "started"
    STEP_ADVANCED = "stepAdvanced"
    PAUSED = "paused"
    PROMOTED = "promoted"
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rollingBack"
    ROLLED_BACK = "rolledBack"


class SecretKeyRef(schema.KubeModel):
    name: _SecretName
    """The Secret, in the ReleaseValidation's namespace."""
    key: _SecretKey = "url"
    """The key within the Secret."""


class _NotificationBase(schema.KubeModel):
    name: Name
    """Identifies the notification."""
    events: tuple[NotificationEvent, ...] = pydantic.Field(
        default=(), max_length=len(NotificationEvent), json_schema_extra=schema.list_set()
    )
    """The events to send; all of them when empty."""
    min_severity: Severity = Severity.SEV4
    """Failures less severe than this are not sent; events without a failure always are."""


_TYPE_DOC = (
    "slack: a Slack incoming webhook; webhook: a signed JSON POST to any URL; alertmanager: alerts to an"
    " Alertmanager, firing while an incident is open; log: the operator's log."
)
_SECRET_REF_DOC = (
    "The Secret key holding the URL to post to (Alertmanager's base URL), so credentials stay out of the"
    " spec."
)
_URL_DOC = (
    "The URL to post to (Alertmanager's base URL, e.g. http://alertmanager:9093), if it holds no credentials."
)
_ONE_URL = schema.Rule(
    rule="has(self.url) != has(self.secretRef)",
    message="needs exactly one of url and secretRef",
    check=lambda route: (route.url is None) != (route.secret_ref is None),
)
_NO_CREDENTIALS = schema.Rule(
    rule=f"!has(self.url) || !self.url.matches('{_CREDENTIALS_IN_URL}')",
    message="url must hold no credentials (user:password@): put the URL in a Secret and name it in secretRef",
    field_path=".url",
    check=lambda route: route.url is None or re.match(_CREDENTIALS_IN_URL, route.url) is None,
)


class SlackNotification(_NotificationBase):
    type: Literal["slack"] = pydantic.Field(description=_TYPE_DOC)
    secret_ref: SecretKeyRef = pydantic.Field(description=_SECRET_REF_DOC)


class WebhookNotification(_NotificationBase):
    kube_rules: ClassVar[tuple[schema.Rule, ...]] = (_ONE_URL, _NO_CREDENTIALS)

    type: Literal["webhook"] = pydantic.Field(description=_TYPE_DOC)
    url: str | None = pydantic.Field(default=None, max_length=2048, pattern=_HTTP_URL, description=_URL_DOC)
    secret_ref: SecretKeyRef | None = pydantic.Field(default=None, description=_SECRET_REF_DOC)
    signing_secret_ref: SecretKeyRef | None = None
    """If set, the body is signed with HMAC-SHA256 under this Secret key's value, in the header
    X-Releaseguard-Signature: sha256=<hex>, so the receiver can tell our posts from forgeries."""


class AlertmanagerNotification(_NotificationBase):
    kube_rules: ClassVar[tuple[schema.Rule, ...]] = (
        _ONE_URL,
        _NO_CREDENTIALS,
        schema.Rule(
            rule="!has(self.labels) || self.labels.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$'))",
            message="label names must be Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*)",
            field_path=".labels",
            check=lambda route: all(_LABEL_NAME.fullmatch(name) for name in route.labels),
        ),
    )

    type: Literal["alertmanager"] = pydantic.Field(description=_TYPE_DOC)
    url: str | None = pydantic.Field(default=None, max_length=2048, pattern=_HTTP_URL, description=_URL_DOC)
    secret_ref: SecretKeyRef | None = pydantic.Field(default=None, description=_SECRET_REF_DOC)
    labels: dict[str, Annotated[str, pydantic.Field(max_length=256)]] = pydantic.Field(
        default={}, max_length=16
    )
    """Labels added to every alert, e.g. team: payments, for Alertmanager's routing."""


class LogNotification(_NotificationBase):
    type: Literal["log"] = pydantic.Field(description=_TYPE_DOC)


Notification = Annotated[
    SlackNotification | WebhookNotification | AlertmanagerNotification | LogNotification,
    pydantic.Field(discriminator="type"),
]


def _not_empty(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    # Not Field(min_length=1): on tuples pydantic then also reports "too short" when an item is invalid.
    if not steps:
        raise ValueError("needs at least one step")
    return steps


def _weights_increase(weights: list[int]) -> bool:
    return all(earlier < later for earlier, later in itertools.pairwise(weights))


class ReleaseValidationSpec(schema.KubeModel):
    kube_rules: ClassVar[tuple[schema.Rule, ...]] = (
        schema.Rule(
            # isSorted() allows equal neighbours; exists_one() rules them out. Both are bounded by maxItems.
            rule="self.steps.map(s, s.weight).isSorted()"
            " && self.steps.all(s, self.steps.exists_one(t, t.weight == s.weight))",
            message="step weights must increase from one step to the next, e.g. 10, 25, 50",
            field_path=".steps",
            check=lambda spec: _weights_increase([step.weight for step in spec.steps]),
        ),
    )

    target_ref: TargetRef = pydantic.Field(
        json_schema_extra=schema.with_rules(
            schema.Rule(
                rule="self == oldSelf",
                message="targetRef cannot change; create another ReleaseValidation for another target",
            )
        )
    )
    """The Deployment whose releases are guarded. It is paused while guarded: the operator rolls it out."""
    service: str = pydantic.Field(min_length=1, max_length=63, pattern=_SERVICE_NAME)
    """The Service in front of the target; it selects canary and stable pods alike."""
    steps: Annotated[tuple[Step, ...], pydantic.AfterValidator(_not_empty)] = pydantic.Field(
        max_length=MAX_STEPS, json_schema_extra={"minItems": 1}
    )
    """Canary weights to go through, in increasing order, before the release is promoted."""
    analysis: Analysis
    """How the canary is judged."""
    bake: Bake | None = None
    """If set, analysis continues this long after promotion before the release counts as succeeded."""
    rollback: Rollback = Rollback()
    """What a rollback does to the target Deployment."""
    notifications: tuple[Notification, ...] = pydantic.Field(
        default=(), max_length=MAX_NOTIFICATIONS, json_schema_extra=schema.list_map("name")
    )
    """Where to report the release's progress and outcome."""
    impact: Impact | None = None
    """How a failed release's customer impact and severity are assessed."""


# --- status ---------------------------------------------------------------------------------------------


class _StatusModel(schema.KubeModel):
    # The operator is the only writer; fields a newer operator added should not stop an older one reading.
    model_config = pydantic.ConfigDict(extra="ignore")


class Phase(enum.StrEnum):
    """Where the release stands; for display, the conditions carry the details."""

    IDLE = "Idle"
    """The target runs its stable revision; nothing to validate."""
    PROGRESSING = "Progressing"
    """A canary runs and is being analysed step by step."""
    PAUSED = "Paused"
    """Analysis stayed inconclusive; a human decides."""
    PROMOTING = "Promoting"
    """All steps passed; the target rolls out the new revision."""
    BAKING = "Baking"
    """Promoted; analysis continues for spec.bake.duration."""
    SUCCEEDED = "Succeeded"
    """The new revision is the stable one."""
    ROLLING_BACK = "RollingBack"
    """Analysis failed; the stable revision is being restored."""
    ROLLED_BACK = "RolledBack"
    """The stable revision serves again; the rejected one is held until the template changes."""
    DEGRADED = "Degraded"
    """The operator cannot act: the target is missing or the spec cannot be used; see the Ready condition."""


class Verdict(enum.StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"


class Revision(_StatusModel):
    template_hash: str = pydantic.Field(max_length=64)
    """A fingerprint of the revision's pod template (placement labels left out)."""
    images: dict[str, str] = pydantic.Field(default={})
    """Container name to image."""
    replica_set: str | None = pydantic.Field(default=None, max_length=253)
    """The ReplicaSet that runs this revision, if any."""


class Result(_StatusModel):
    name: str = pydantic.Field(max_length=63)
    """The metric or synthetic check."""
    verdict: Verdict
    """This metric's or check's verdict."""
    reason: str | None = pydantic.Field(default=None, max_length=128)
    """Why, as one CamelCase word, e.g. ThresholdExceeded or NoData."""
    canary: float | None = None
    """The canary's value."""
    baseline: float | None = None
    """The baseline's value, for compare judges."""
    message: str | None = pydantic.Field(default=None, max_length=1024)
    """The evidence in words."""


class AnalysisSummary(_StatusModel):
    time: pydantic.AwareDatetime
    """When the evaluation ran."""
    verdict: Verdict
    """The aggregate verdict of this evaluation."""
    consecutive_failures: int = pydantic.Field(default=0, ge=0)
    """Failed evaluations in a row, this one included; compared with failureLimit."""
    consecutive_inconclusive: int = pydantic.Field(default=0, ge=0)
    """Inconclusive evaluations in a row, this one included; compared with inconclusiveLimit."""
    results: tuple[Result, ...] = ()
    """One entry per metric and synthetic check."""


class Decision(_StatusModel):
    time: pydantic.AwareDatetime
    """When it was taken."""
    reason: str = pydantic.Field(max_length=128)
    """What was decided, as one CamelCase word (the Event's reason), e.g. FailureLimitReached."""
    message: str = pydantic.Field(max_length=4096)
    """The decision and its evidence: the metrics, canary and baseline values and the judges' thresholds."""


class IncidentImpact(_StatusModel):
    traffic_share: float = pydantic.Field(ge=0, le=1)
    """The new revision's share of the service's traffic when the incident opened (1 once promoted)."""
    affected_share: float = pydantic.Field(ge=0, le=1)
    """The share of all the service's requests the release hurt: its worst failing metric's excess."""
    affected_requests: float = pydantic.Field(ge=0)
    """Requests hurt so far: beyond what the baseline's behaviour predicts."""
    business_drop: float | None = None
    """The largest relative drop of a business metric against the baseline, 0.1 for 10% worse."""


class SegmentContribution(_StatusModel):
    label: str = pydantic.Field(max_length=128)
    """The label split by, e.g. route."""
    value: str = pydantic.Field(max_length=256)
    """The segment, e.g. /api/checkout."""
    metric: str = pydantic.Field(max_length=63)
    """The failing ratio metric split."""
    excess: float
    """The canary's bad events in this segment beyond the baseline's ratio there."""
    share: float = pydantic.Field(ge=0, le=1)
    """This segment's part of the excess."""
    canary_ratio: float | None = None
    baseline_ratio: float | None = None


class TimelineEntry(_StatusModel):
    time: pydantic.AwareDatetime
    what: str = pydantic.Field(max_length=512)


class Incident(_StatusModel):
    """A failed release, with its impact and a first diagnosis: what a person paged needs first."""

    severity: Severity
    severity_reason: str = pydantic.Field(max_length=512)
    """The severity rule's conditions and the facts that met them."""
    summary: str = pydantic.Field(max_length=512)
    """One line: what failed, how many customers were hurt, what is being done."""
    revision: str = pydantic.Field(max_length=64)
    """The template hash of the revision at fault."""
    stage: Stage
    """Whether it failed as a canary or during the bake."""
    opened_at: pydantic.AwareDatetime
    resolved_at: pydantic.AwareDatetime | None = None
    """When the release stopped hurting customers: the rollback completed."""
    impact: IncidentImpact
    suspected_cause: tuple[Annotated[str, pydantic.Field(max_length=512)], ...] = pydantic.Field(
        default=(), max_length=20
    )
    """Facts pointing at the cause: what the revision changed, the segments that explain the excess."""
    segments: tuple[SegmentContribution, ...] = pydantic.Field(default=(), max_length=10)
    """The segments that explain most of the excess, largest first."""
    timeline: tuple[TimelineEntry, ...] = pydantic.Field(default=(), max_length=20)
    """From the release's start to the decision."""


class PendingNotification(_StatusModel):
    """A message not delivered yet; kept in status so that a restart neither loses nor repeats it."""

    id: str = pydantic.Field(max_length=256)
    """Names the message for deduplication: the revision and what happened, e.g. 3f2a9c01/rollingBack."""
    route: Name
    """The spec.notifications entry to deliver to."""
    event: NotificationEvent
    severity: Severity | None = None
    """The incident's severity for a failure; None for other events."""
    firing: bool = True
    """For Alertmanager: whether the alert fires or is resolved."""
    summary: str = pydantic.Field(max_length=1024)
    created_at: pydantic.AwareDatetime
    attempts: int = pydantic.Field(default=0, ge=0)
    next_attempt_at: pydantic.AwareDatetime
    last_error: str | None = pydantic.Field(default=None, max_length=256)
    """Why the last attempt failed, without the URL or any credential."""


class ReleaseValidationStatus(_StatusModel):
    phase: Phase | None = None
    """Where the release stands."""
    observed_generation: int | None = pydantic.Field(default=None, ge=0)
    """The .metadata.generation this status was computed from."""
    current_step_index: int | None = pydantic.Field(default=None, ge=0)
    """Index into spec.steps of the running step."""
    step_started_at: pydantic.AwareDatetime | None = None
    """When the running step (or the bake) began; its duration counts from here."""
    analysis_started_at: pydantic.AwareDatetime | None = None
    """When the evidence the statistical judges weigh began to accumulate: the first step's start, or the
    bake's. Looking at it every interval does not make a false alarm likelier."""
    promotion_started_at: pydantic.AwareDatetime | None = None
    """When promotion began: during the bake, the baseline is the stable pods' metrics as of this time."""
    canary_weight: int | None = pydantic.Field(default=None, ge=0, le=100)
    """Percent of the Ready pods running the canary revision."""
    stable_revision: Revision | None = None
    """The revision known good: the one rollbacks restore."""
    canary_revision: Revision | None = None
    """The revision under validation."""
    rejected_template_hash: str | None = pydantic.Field(default=None, max_length=64)
    """The template hash last rolled back; it is held, not retried, if applied again."""
    verdict: Verdict | None = None
    """The verdict of the latest analysis."""
    last_analysis: AnalysisSummary | None = None
    """The latest evaluation, with the evidence."""
    last_decision: Decision | None = None
    """The latest decision (start, step, promotion, pause, rollback) and why."""
    message: str | None = pydantic.Field(default=None, max_length=32768)
    """A human-readable summary of the phase."""
    outbox: tuple[PendingNotification, ...] = pydantic.Field(default=(), max_length=50)
    """Notifications waiting to be delivered, retried with backoff."""
    notified: tuple[Annotated[str, pydantic.Field(max_length=256)], ...] = pydantic.Field(
        default=(), max_length=50
    )
    """The ids of the latest messages delivered (route/id), so that none is sent twice."""
    report: str | None = pydantic.Field(default=None, max_length=253)
    """The ConfigMap holding the latest release's validation report (kubectl releaseguard report NAME)."""
    incident: Incident | None = None
    """The latest failed release's incident, kept until the next release starts."""
    conditions: tuple[_Condition, ...] = pydantic.Field(default=(), json_schema_extra=schema.list_map("type"))
    """The latest observations, one per type."""
