"""kopf handlers for ReleaseValidation: parse, observe, decide, write status. Nothing else happens here.

Reconciliation is level-based: one timer per object re-observes the world and decides from scratch, so an
operator restart, a missed event or a crash between two writes all heal on the next tick.
"""

from __future__ import annotations

import asyncio
import collections.abc
import concurrent.futures
import datetime
import logging
from typing import Any

import kopf

from releaseguard import delivery, logs, reconciler, reports, telemetry
from releaseguard.kube import client
from releaseguard.models import crd
from releaseguard.models import patch as models_patch
from releaseguard.notify import send
from releaseguard.providers import prometheus
from releaseguard.rollout import observation, pacing

# The timer ticks at the fastest pace; rollout.pacing says which ticks a ReleaseValidation actually uses.
TICK_SECONDS = pacing.TICK.total_seconds()
PEERING_LIFETIME_SECONDS = 20
WORKER_THREADS = prometheus.CONNECTIONS
"""Calls to the apiserver and to Prometheus that may wait at once."""
RETRY_SECONDS = 5
"""How soon a reconciliation the apiserver failed is tried again; a release waits at most this long
after an apiserver outage ends."""


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # kopf's own bookkeeping lives in annotations under our group; the status is ours alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=crd.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=crd.GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{crd.GROUP}/finalizer"
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = client.EVENT_SOURCE
    # A replica waiting in peering takes over once the acting one's record is this old (kopf refreshes it
    # 5-10 s sooner), so a killed replica is replaced within about this many seconds.
    settings.peering.lifetime = PEERING_LIFETIME_SECONDS
    settings.peering.stealth = True
    # Watching only namespaces named in full, the operator may not list CRDs or namespaces cluster-wide;
    # namespace patterns need kopf's scanning to find the namespaces they match.
    settings.scanning.disabled = bool(memo.get("fixed_namespaces"))
    # Every apiserver call and Prometheus query waits in a worker thread; the default pool (CPUs + 4)
    # queued hundreds of releases' waits behind a handful of threads.
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="releaseguard")
    )
    memo.kube = client.Kube.from_environment(connections=WORKER_THREADS)
    memo.settings = reconciler.Settings(
        pod_address_map=memo.get("pod_address_map"),
        default_notifications=memo.get("default_notifications"),
        keep_reports=memo.get("keep_reports", reports.KEEP),
    )
    memo.last_reconciled = dict[str, datetime.datetime]()
    memo.next_pass = dict[str, datetime.datetime]()


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    # Posts under way get a moment to land; what does not is posted again after the restart.
    await delivery.drain(timeout=send.TIMEOUT.total_seconds())
    memo.kube.close()


@kopf.timer(crd.GROUP, crd.VERSION, crd.PLURAL, interval=TICK_SECONDS)
async def reconcile(body: kopf.Body, uid: str, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    wait = pacing.wait(
        phase=body.status.get("phase"),
        last=memo.last_reconciled.get(uid),
        planned=memo.next_pass.get(uid),
        now=datetime.datetime.now(datetime.UTC),
    )
    if wait is None:
        return
    await asyncio.sleep(wait.total_seconds())
    now = datetime.datetime.now(datetime.UTC)
    memo.last_reconciled[uid] = now
    rv = release_validation(body)
    with logs.about(logs.Release(namespace=rv.namespace, name=rv.name, revision=_revision(rv.status))):
        try:
            stored, decision = await reconciler.reconcile(memo.kube, rv, settings=memo.settings, now=now)
        except client.KubeError as error:
            # The apiserver is away or refused a call: try again soon, not after kopf's minute of backoff.
            raise kopf.TemporaryError(str(error), delay=RETRY_SECONDS) from error
    if decision.next_pass is None:
        memo.next_pass.pop(uid, None)
    else:
        memo.next_pass[uid] = decision.next_pass
    for request in decision.consumed:
        patch.metadata.annotations[request.annotation] = None
    patch.status.update(models_patch.model_patch(old=stored, new=decision.status))


@kopf.on.event(crd.GROUP, crd.VERSION, crd.PLURAL)
async def wake(body: kopf.Body, uid: str, memo: kopf.Memo, **_: Any) -> None:
    """A human's request or a changed spec is acted on at the next tick, not at the pass planned."""
    requested = any(request.annotation in body.metadata.annotations for request in observation.Request)
    if requested or body.metadata.get("generation") != body.status.get("observedGeneration"):
        memo.next_pass.pop(uid, None)


@kopf.on.delete(crd.GROUP, crd.VERSION, crd.PLURAL)
async def release(body: kopf.Body, uid: str, memo: kopf.Memo, **_: Any) -> None:
    """Hand the target back to Kubernetes: no Deployment stays paused by a ReleaseValidation that is gone."""
    rv = release_validation(body)
    with logs.about(logs.Release(namespace=rv.namespace, name=rv.name, revision=_revision(rv.status))):
        await reconciler.release(memo.kube, rv)
    memo.last_reconciled.pop(uid, None)
    memo.next_pass.pop(uid, None)
    logs.forget(namespace=rv.namespace, name=rv.name)
    telemetry.forget_release(uid)


def _revision(status: collections.abc.Mapping[str, Any]) -> str:
    """The template hash under validation, else the stable one: what a log line about the release is about."""
    for key in ("canaryRevision", "stableRevision"):
        revision = status.get(key) or {}
        if revision.get("templateHash"):
            return str(revision["templateHash"])
    return ""


def release_validation(body: kopf.Body) -> reconciler.ReleaseValidation:
    metadata = body.metadata
    if metadata.namespace is None:
        raise kopf.PermanentError("a ReleaseValidation must be namespaced")
    return reconciler.ReleaseValidation(
        name=metadata.name or "",
        namespace=metadata.namespace,
        uid=metadata.uid or "",
        generation=metadata.get("generation", 0),
        annotations=dict(metadata.annotations),
        spec=dict(body.spec),
        status=dict(body.status),
    )
