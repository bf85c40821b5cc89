"""kopf handlers for ReleaseValidation: parse, observe, decide, write status. Nothing else happens here.

Reconciliation is level-based: one timer per object re-observes the world and decides from scratch, so an
operator restart, a missed event or a crash between two writes all heal on the next tick.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

import kopf
import pydantic

from releaseguard.kube import client, execute, observe
from releaseguard.models import crd, v1alpha1
from releaseguard.models import patch as models_patch
from releaseguard.rollout import decide

RECONCILE_INTERVAL_SECONDS = 5.0


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # kopf's own bookkeeping lives in annotations under our group; the status is ours alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=crd.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=crd.GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{crd.GROUP}/finalizer"
    settings.posting.level = logging.WARNING
    memo.kube = client.Kube.from_environment()


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    memo.kube.close()


@kopf.timer(crd.GROUP, crd.VERSION, crd.PLURAL, interval=RECONCILE_INTERVAL_SECONDS)
async def reconcile(
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    name: str,
    namespace: str | None,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    if namespace is None:
        raise kopf.PermanentError("a ReleaseValidation must be namespaced")
    parsed_spec = parse_spec(spec)
    status = v1alpha1.ReleaseValidationStatus.model_validate(body.get("status") or {})
    target_name = None if isinstance(parsed_spec, decide.InvalidSpec) else parsed_spec.target_ref.name
    observed = await observe.observe(
        memo.kube,
        name=name,
        namespace=namespace,
        target_name=target_name,
        generation=meta.get("generation", 0),
    )
    plan = decide.decide(
        spec=parsed_spec, status=status, observed=observed, now=datetime.datetime.now(datetime.UTC)
    )
    await execute.execute(memo.kube, plan.actions)
    patch.status.update(models_patch.model_patch(old=status, new=plan.status))


@kopf.on.delete(crd.GROUP, crd.VERSION, crd.PLURAL)
async def release(spec: kopf.Spec, name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Hand the target back to Kubernetes: no Deployment stays paused by a ReleaseValidation that is gone."""
    # Only the target's name is needed, so even a spec the models refuse releases its target.
    target_name = (spec.get("targetRef") or {}).get("name")
    if namespace is None or not isinstance(target_name, str):
        return
    observed = await observe.observe(
        memo.kube, name=name, namespace=namespace, target_name=target_name, generation=0
    )
    await execute.execute(memo.kube, decide.release(observed=observed))


def parse_spec(spec: kopf.Spec) -> v1alpha1.ReleaseValidationSpec | decide.InvalidSpec:
    try:
        return v1alpha1.ReleaseValidationSpec.model_validate(dict(spec))
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"spec.{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        return decide.InvalidSpec(message=problems)
