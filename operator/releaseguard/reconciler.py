"""One reconciliation of a ReleaseValidation: observe, measure if due, decide, act.

Free of kopf so it can be driven by the handlers and by tests alike; the handler only stores what the
returned plan says (status, events, consumed requests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

import pydantic

from releaseguard.analysis import measurement
from releaseguard.kube import client, execute, observe
from releaseguard.models import v1alpha1
from releaseguard.providers import registry, selector
from releaseguard.rollout import decide, plan


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReleaseValidation:
    """The parts of the object a reconciliation reads."""

    name: str
    namespace: str
    uid: str
    generation: int
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]


async def reconcile(
    kube: client.Kube, rv: ReleaseValidation, *, now: datetime.datetime
) -> tuple[v1alpha1.ReleaseValidationStatus, plan.Plan]:
    """The stored status and the plan, whose actions have been carried out."""
    spec = parse_spec(rv.spec)
    status = v1alpha1.ReleaseValidationStatus.model_validate(rv.status)
    observed = await observe.observe(
        kube,
        name=rv.name,
        uid=rv.uid,
        namespace=rv.namespace,
        generation=rv.generation,
        annotations=rv.annotations,
        target_name=None if isinstance(spec, decide.InvalidSpec) else spec.target_ref.name,
    )
    request = decide.analysis_request(spec=spec, status=status, observed=observed, now=now)
    if request is not None and not isinstance(spec, decide.InvalidSpec):
        observed = dataclasses.replace(observed, measurements=await measure(spec, request))
    decision = decide.decide(spec=spec, status=status, observed=observed, now=now)
    await execute.execute(kube, decision.actions)
    return status, decision


async def release(kube: client.Kube, rv: ReleaseValidation) -> None:
    """Hand the target back to Kubernetes; even a spec the models refuse names its target."""
    target_name = (rv.spec.get("targetRef") or {}).get("name")
    if not isinstance(target_name, str):
        return
    observed = await observe.observe(
        kube,
        name=rv.name,
        uid=rv.uid,
        namespace=rv.namespace,
        generation=rv.generation,
        annotations=rv.annotations,
        target_name=target_name,
    )
    await execute.execute(kube, decide.release(observed=observed))


async def measure(
    spec: v1alpha1.ReleaseValidationSpec, request: decide.AnalysisRequest
) -> tuple[measurement.Measurement, ...]:
    prometheus = spec.analysis.prometheus
    if prometheus is None or not spec.analysis.metrics:
        return ()
    provider = registry.metric_provider(prometheus)
    measured = await asyncio.gather(
        *(
            provider.measure(
                metric,
                canary=_selector(request.canary),
                baseline=_selector(request.baseline),
                window=request.window,
                baseline_at=request.baseline.at,
            )
            for metric in spec.analysis.metrics
        )
    )
    return tuple(measured)


def _selector(pods: decide.PodGroup) -> selector.Selector:
    return (
        selector.Matcher(label="namespace", op="=", value=pods.namespace),
        selector.Matcher(label="pod", op="=~", value=pods.pod_regex),
    )


def parse_spec(spec: Mapping[str, Any]) -> v1alpha1.ReleaseValidationSpec | decide.InvalidSpec:
    try:
        return v1alpha1.ReleaseValidationSpec.model_validate(dict(spec))
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"spec.{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        return decide.InvalidSpec(message=problems)
