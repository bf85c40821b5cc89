"""Crash-consistency soak: whole releases on the local cluster while the operator is SIGKILLed and restarted.

The design promises that the ReleaseValidation status is the single source of truth, so an operator killed
at any instant resumes correctly: never a second canary, never a second promotion, never a decision lost
between a Deployment patch and the status patch that records it. One killed run proves little; this script
runs many seeded releases and kills the operator at random moments and right after the transitions where
the operator has just acted on a Deployment and has yet to write its status.

Each run: a fresh namespace with the demo app (3 x releaseguard-demo:1.0) under steady load, a
ReleaseValidation with two short steps, and a release of a healthy image (releaseguard-demo:1.1, expected
Succeeded) or of an erroring one (releaseguard-demo:2.0-errors, expected RolledBack), alternating by seed.
Watches on the namespace's Deployments and on the ReleaseValidation fire the kills; one operator process,
watching only this soak's namespaces, serves every run, so a run also lives through the other runs' kills.

At the end of a run the script checks the outcome, that exactly one canary Deployment was ever created
(canary uids seen by the watch), that the target is left as the design leaves it
(template of the expected image, paused, no canary, one ReplicaSet serving, every pod on the expected image)
and that the status's decision and the Events agree (one Promoting and one Succeeded, or one rollback
decision and one RolledBack; the operator posts an Event before it stores the status that records it, so
an Event may be posted once more for each kill the run lived through, never lost). Prints one line per
run and a summary; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import functools
import json
import os
import pathlib
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import kubernetes
import urllib3

REPO = pathlib.Path(__file__).resolve().parents[2]
DEMO_APP = REPO / "hack" / "demo" / "manifests" / "demo-app.yaml"
LOADGEN = REPO / "hack" / "demo" / "loadgen.py"
OPERATOR = REPO / ".venv" / "bin" / "releaseguard"
GROUP, VERSION, PLURAL = "releaseguard.io", "v1alpha1", "releasevalidations"
STABLE_IMAGE = "releaseguard-demo:1.0"
GOOD_IMAGE = "releaseguard-demo:1.1"
BAD_IMAGE = "releaseguard-demo:2.0-errors"
RUN_TIMEOUT_SECONDS = 240.0
SETTLE_TIMEOUT_SECONDS = 45.0
ROLLBACK_DECISIONS = ("FailureLimitReached", "CriticalMetricFailed")

# Moments keyed to what the operator has just done to a Deployment (or just recorded), for each kind of
# release. "after" is a random delay from the image change instead.
GOOD_TRIGGERS = (
    "canary-created",
    "target-unpaused",
    "canary-deleted",
    "target-repaused",
    "phase:Progressing",
    "phase:Promoting",
    "phase:Baking",
    "after",
)
BAD_TRIGGERS = (
    "canary-created",
    "canary-deleted",
    "target-reverted",
    "phase:Progressing",
    "phase:RollingBack",
    "after",
)
# Random kills land before the end of the release: the rollback is quicker than the promotion.
AFTER_RANGE = {True: (1.0, 40.0), False: (1.0, 18.0)}


def release_validation(*, prometheus_url: str, bake: bool) -> str:
    bake_line = "  bake: {duration: 10s}\n" if bake else ""
    return f"""apiVersion: releaseguard.io/v1alpha1
kind: ReleaseValidation
metadata: {{name: guard}}
spec:
  targetRef: {{kind: Deployment, name: demo}}
  service: demo
  steps: [{{weight: 25, duration: 10s}}, {{weight: 50, duration: 10s}}]
  rollback: {{mode: revert}}
  analysis:
    interval: 5s
    failureLimit: 2
    inconclusiveLimit: 12
    prometheus: {{url: "{prometheus_url}"}}
    metrics:
      - name: error-rate
        kind: ratio
        errors: sum(increase(http_requests_total{{code=~"5..",{{{{ selector }}}}}}[{{{{ window }}}}]))
        total: sum(increase(http_requests_total{{{{{{ selector }}}}}}[{{{{ window }}}}]))
        judge: {{type: threshold, max: 0.02}}
    syntheticChecks:
      - name: checkout-journey
        http: {{path: /api/checkout, method: POST, expect: {{status: 200, maxLatency: 1s}}}}
        minSuccessRatio: 0.99
{bake_line}"""


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclasses.dataclass(frozen=True)
class Kill:
    at: float  # time.monotonic()
    label: str


class Operator:
    """One `releaseguard run` over the soak's namespaces; `crash` SIGKILLs it and starts a new one."""

    def __init__(self, *, pattern: str, cluster_dir: str, log_path: pathlib.Path) -> None:
        self.pattern = pattern
        self.cluster_dir = cluster_dir
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.kills: list[Kill] = []

    def start(self) -> None:
        liveness, metrics = free_port(), free_port()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(OPERATOR),
                    "run",
                    "--namespace",
                    self.pattern,
                    f"--liveness=http://127.0.0.1:{liveness}/healthz",
                    f"--metrics-address=127.0.0.1:{metrics}",
                    f"--pod-address-map={self.cluster_dir}/pod-addresses.json",
                    "--verbose",  # the requests it made, for the post-mortem of a failed run
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not healthy(liveness):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the operator did not come up; see {self.log_path}")
            time.sleep(0.1)

    def crash(self, *, label: str, down_for: float, while_down: Callable[[], str]) -> str:
        """SIGKILL (no cleanup, as when a node dies), note what the status said, restart after `down_for`."""
        with self.lock:
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=15)
            self.kills.append(Kill(at=time.monotonic(), label=label))
            seen = while_down()
            time.sleep(down_for)
            for attempt in range(3):  # a loaded apiserver can make a start slow; never leave it down
                try:
                    self.start()
                    break
                except RuntimeError:
                    if attempt == 2:
                        raise
                    self._terminate()
            return seen

    def stop(self) -> None:
        with self.lock:
            self._terminate()

    def _terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Watcher:
    """Streams watch events of one list call to a callback, resuming after the server ends a stream."""

    def __init__(
        self, list_call: Callable[..., Any], *args: str, on_event: Callable[[str, Any], None]
    ) -> None:
        self.list_call, self.args, self.on_event = list_call, args, on_event
        self.started = threading.Event()
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        client = kubernetes.client.ApiClient()
        resource_version: str | None = None
        while not self.stopping.is_set():
            watch = kubernetes.watch.Watch()
            options: dict[str, Any] = {"timeout_seconds": 5}
            if resource_version:
                options["resource_version"] = resource_version
            try:
                for event in watch.stream(self.list_call, *self.args, **options):
                    obj = event["object"]
                    body = obj if isinstance(obj, dict) else client.sanitize_for_serialization(obj)
                    resource_version = body["metadata"]["resourceVersion"]
                    self.started.set()
                    try:
                        self.on_event(event["type"], body)
                    except Exception as error:  # reported with the run; the watch must go on
                        self.errors.append(f"{type(error).__name__}: {error}")
                    if self.stopping.is_set():
                        break
            except kubernetes.client.ApiException as error:
                if error.status != 410:
                    raise
                resource_version = None  # too old: list again (synthetic ADDED events for what exists)
            self.started.set()  # an empty namespace sends nothing; a finished stream means we listen

    def stop(self) -> None:
        self.stopping.set()


@dataclasses.dataclass
class Run:
    seed: int
    namespace: str
    good: bool
    triggers: list[tuple[str, float]]  # (trigger, delay for "after")
    down_for: list[float]
    operator: Operator
    prometheus_url: str
    state_dir: str
    fired: list[str] = dataclasses.field(default_factory=list)
    canary_uids: set[str] = dataclasses.field(default_factory=set)
    seen: set[str] = dataclasses.field(default_factory=set)
    deletions: list[str] = dataclasses.field(default_factory=list)
    started_at: float = 0.0
    ended_at: float = 0.0
    outcome: str = "-"
    problems: list[str] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def expected_image(self) -> str:
        return GOOD_IMAGE if self.good else STABLE_IMAGE

    @property
    def expected_phase(self) -> str:
        return "Succeeded" if self.good else "RolledBack"

    @functools.cached_property
    def _releases(self) -> kubernetes.client.CustomObjectsApi:
        # One kept-alive client per run: polling through kubectl started a process every 0.3 s per run,
        # which alone could load two CPUs when several runs went at once.
        return kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient())

    def rv(self) -> dict[str, Any]:
        try:
            found = self._releases.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, "guard"
            )
        except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError):
            return {}
        return found if isinstance(found, dict) else {}

    def phase(self) -> str:
        return str((self.rv().get("status") or {}).get("phase") or "")

    # Kills ---------------------------------------------------------------------------------------------

    def observe(self, moment: str) -> None:
        """A transition was seen: kill the operator now if the plan says so (each trigger once)."""
        with self.lock:
            if moment in self.seen:
                return
            self.seen.add(moment)
            planned = [t for t, _ in self.triggers if t == moment and t not in self.fired]
            if not planned:
                return
            self.fired.append(moment)
            index = len(self.fired) - 1
        self._kill(moment, self.down_for[index])

    def _kill(self, moment: str, down_for: float) -> None:
        offset = time.monotonic() - self.started_at

        def status_now() -> str:
            status = self.rv().get("status") or {}
            step = status.get("currentStepIndex")
            return f"{status.get('phase')}{'' if step is None else f' step {step}'}"

        seen = self.operator.crash(label=self.namespace, down_for=down_for, while_down=status_now)
        with self.lock:
            index = self.fired.index(moment)
            self.fired[index] = f"{moment}@+{offset:.1f}s[{seen}]"

    def on_deployment(self, kind: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        spec = body.get("spec") or {}
        if name == "demo-canary":
            self.canary_uids.add(body["metadata"]["uid"])
            if kind == "ADDED":
                self.observe("canary-created")
            elif kind == "DELETED":
                phase = (self.rv().get("status") or {}).get("phase")
                self.deletions.append(
                    f"canary deleted at +{time.monotonic() - self.started_at:.1f}s in {phase}"
                )
                self.observe("canary-deleted")
            return
        if name != "demo" or kind != "MODIFIED":
            return
        image = spec["template"]["spec"]["containers"][0]["image"]
        if image != STABLE_IMAGE:
            self.seen.add("target-changed")
        if self.good and "canary-created" in self.seen:
            if not spec.get("paused"):
                self.observe("target-unpaused")
            elif "target-unpaused" in self.seen:
                self.observe("target-repaused")
        if not self.good and image == STABLE_IMAGE and "target-changed" in self.seen:
            self.observe("target-reverted")

    def on_release(self, kind: str, body: dict[str, Any]) -> None:
        if "started" in self.seen and (phase := (body.get("status") or {}).get("phase")):
            self.observe(f"phase:{phase}")

    # The run ---------------------------------------------------------------------------------------------

    def execute(self) -> None:
        kubectl("apply", "-n", self.namespace, "-f", str(DEMO_APP))
        kubectl("rollout", "status", "deployment/demo", "-n", self.namespace, "--timeout=120s")
        load = subprocess.Popen(
            [
                sys.executable,
                str(LOADGEN),
                f"--namespace={self.namespace}",
                "--service=demo",
                "--rps=40",
                "--paths=/=70,POST /api/checkout=30",
                "--duration=900",
                f"--state-dir={self.state_dir}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        apps = kubernetes.client.AppsV1Api()
        custom = kubernetes.client.CustomObjectsApi()
        watchers: list[Watcher] = []
        try:
            manifest = release_validation(prometheus_url=self.prometheus_url, bake=self.good)
            kubectl("apply", "-n", self.namespace, "-f", "-", stdin=manifest)
            self._wait(lambda: self.phase() == "Idle", 60, "phase Idle")
            watchers.append(
                Watcher(apps.list_namespaced_deployment, self.namespace, on_event=self.on_deployment)
            )
            watchers.append(
                Watcher(
                    custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    on_event=self.on_release,
                )
            )
            for watcher in watchers:
                if not watcher.started.wait(30):
                    raise RuntimeError("the watches did not start")
            image = GOOD_IMAGE if self.good else BAD_IMAGE
            self.started_at = time.monotonic()
            self.seen.add("started")
            kubectl("set", "image", "deployment/demo", f"app={image}", "-n", self.namespace)
            self._follow()
        finally:
            for watcher in watchers:
                watcher.stop()
                self.problems.extend(watcher.errors)
            load.terminate()
            load.wait(timeout=15)
            self.ended_at = time.monotonic()

    def _wait(self, probe: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.5)

    def _follow(self) -> None:
        """Fire the timed kills and wait for a final phase."""
        deadline = self.started_at + RUN_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            elapsed = time.monotonic() - self.started_at
            for trigger, delay in self.triggers:
                if trigger == "after" and elapsed >= delay:
                    self.observe("after")
            phase = self.phase()
            if phase in ("Succeeded", "RolledBack"):
                self.outcome = phase
                return
            time.sleep(0.3)
        self.outcome = f"timeout({self.phase()})"

    # Checks ----------------------------------------------------------------------------------------------

    def check(self, *, all_kills: list[Kill]) -> None:
        problems = self.problems
        if len(self.canary_uids) != 1:
            problems.append(
                f"{len(self.canary_uids)} canary Deployments created (uids {sorted(self.canary_uids)})"
            )
        if self.outcome != self.expected_phase:
            problems.append(f"outcome {self.outcome}, expected {self.expected_phase}")
            return
        unfired = [t for t, _ in self.triggers if not any(f.startswith(t) for f in self.fired)]
        if not self.fired:
            problems.append(f"no kill landed during the release (planned {unfired})")
        status = self.rv().get("status") or {}
        counts, messages = self._events()
        # An Event is posted before the status recording it: a kill in between posts it once more.
        repeats = sum(1 for kill in all_kills if self.started_at <= kill.at <= self.ended_at)
        decisions = {"Promoting": 1, "Succeeded": 1} if self.good else {"RolledBack": 1}
        for reason in ("CanaryStarted", "Promoting", "Baking", "Succeeded", "RolledBack"):
            expected = 1 if reason == "CanaryStarted" else decisions.get(reason, 0)
            if reason == "Baking" and self.good:
                expected = 1
            if not expected <= counts.get(reason, 0) <= (expected and expected + repeats):
                problems.append(f"{counts.get(reason, 0)} {reason} Events, expected {expected}")
        rollbacks = sum(counts.get(reason, 0) for reason in ROLLBACK_DECISIONS)
        if (rollbacks == 0) != self.good or rollbacks > 1 + repeats:
            problems.append(f"{rollbacks} rollback decision Events")
        decision = status.get("lastDecision") or {}
        if self.good and decision.get("reason") != "Succeeded":
            problems.append(f"status.lastDecision is {decision.get('reason')}, expected Succeeded")
        if not self.good:
            if decision.get("reason") not in ROLLBACK_DECISIONS:
                problems.append(f"status.lastDecision is {decision.get('reason')}, expected a rollback")
            elif decision.get("message") not in messages.get(decision["reason"], []):
                problems.append("status.lastDecision's message matches no rollback Event")
            if not status.get("rejectedTemplateHash"):
                problems.append("no rejectedTemplateHash in status")
        stable_images = (status.get("stableRevision") or {}).get("images")
        if stable_images != {"app": self.expected_image}:
            problems.append(f"status.stableRevision.images is {stable_images}")
        try:
            self._wait(lambda: not self._workload_problems(), SETTLE_TIMEOUT_SECONDS, "the workload")
        except RuntimeError:
            problems.extend(self._workload_problems())

    def _events(self) -> tuple[dict[str, int], dict[str, list[str]]]:
        listing = kubectl(
            "get",
            "events",
            "-n",
            self.namespace,
            "--field-selector",
            "involvedObject.kind=ReleaseValidation",
            "-o",
            "json",
        ).stdout
        counts: dict[str, int] = {}
        messages: dict[str, list[str]] = {}
        for event in json.loads(listing)["items"]:
            counts[event["reason"]] = counts.get(event["reason"], 0) + int(event.get("count") or 1)
            messages.setdefault(event["reason"], []).append(event.get("message", ""))
        return counts, messages

    def _workload_problems(self) -> list[str]:
        problems = []
        listing = json.loads(
            kubectl("get", "deployments,replicasets,pods", "-n", self.namespace, "-o", "json").stdout
        )
        items = listing["items"]
        deployments = {i["metadata"]["name"]: i for i in items if i["kind"] == "Deployment"}
        if "demo-canary" in deployments:
            problems.append("the canary Deployment is still there")
        target = deployments.get("demo")
        if target is None:
            return ["the target Deployment is gone"]
        image = target["spec"]["template"]["spec"]["containers"][0]["image"]
        if image != self.expected_image:
            problems.append(f"target template image {image}, expected {self.expected_image}")
        if target["spec"].get("paused") is not True:
            problems.append("target not paused (the design leaves a guarded target paused)")
        replicas = target["spec"].get("replicas", 1)
        serving = [
            rs
            for rs in items
            if rs["kind"] == "ReplicaSet"
            and any(o.get("name") == "demo" for o in rs["metadata"].get("ownerReferences", []))
            and rs["spec"].get("replicas", 0) > 0
        ]
        serving_images = sorted(rs["spec"]["template"]["spec"]["containers"][0]["image"] for rs in serving)
        if serving_images != [self.expected_image]:
            problems.append(f"target ReplicaSets with replicas run {serving_images}")
        elif serving[0]["spec"]["replicas"] != replicas:
            problems.append(f"serving ReplicaSet has {serving[0]['spec']['replicas']}/{replicas} replicas")
        pods = [i for i in items if i["kind"] == "Pod" and not i["metadata"].get("deletionTimestamp")]
        pod_images = sorted({p["spec"]["containers"][0]["image"] for p in pods})
        if pod_images != [self.expected_image] or len(pods) != replicas:
            problems.append(f"{len(pods)} pods running {pod_images}")
        status = target.get("status") or {}
        if status.get("updatedReplicas") != replicas or status.get("readyReplicas") != replicas:
            problems.append(
                f"target status updated {status.get('updatedReplicas')} ready {status.get('readyReplicas')}"
                f" of {replicas}"
            )
        return problems

    def line(self, *, all_kills: list[Kill]) -> str:
        others = sum(
            1 for k in all_kills if k.label != self.namespace and self.started_at <= k.at <= self.ended_at
        )
        verdict = "OK" if not self.problems else "FAIL: " + "; ".join(self.problems + self.deletions)
        took = f"{self.ended_at - self.started_at:5.1f}s" if self.started_at else "    -"
        kind = "good" if self.good else "bad "
        return (
            f"seed {self.seed:<6} {kind} {self.outcome:<11} {took}"
            f"  kills {len(self.fired)} ({', '.join(self.fired) or '-'}) +{others} by other runs  {verdict}"
        )


def plan(seed: int) -> tuple[bool, list[tuple[str, float]], list[float]]:
    """What a seed decides: the kind of release, one or two kill moments, how long the operator stays down."""
    rng = random.Random(seed)
    good = seed % 2 == 0
    triggers = GOOD_TRIGGERS if good else BAD_TRIGGERS
    count = 1 if rng.random() < 0.6 else 2
    chosen = rng.sample(triggers, count)
    low, high = AFTER_RANGE[good]
    timed = [(trigger, rng.uniform(low, high) if trigger == "after" else 0.0) for trigger in chosen]
    down_for = [rng.choice((0.0, 0.0, rng.uniform(0.1, 3.0))) for _ in chosen]
    return good, timed, down_for


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="releases to run (default: 30)")
    parser.add_argument("--seed", type=int, default=None, help="first run's seed; run i uses seed+i")
    parser.add_argument("--parallel", type=int, default=4, help="releases at once, in their own namespaces")
    parser.add_argument(
        "--keep", action="store_true", help="keep every namespace (failed ones are kept anyway)"
    )
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(100_000)
    for name in ("KUBECONFIG", "RG_CLUSTER_DIR", "RG_PROMETHEUS_URL"):
        if not os.environ.get(name):
            sys.exit(f'soak-crash: {name} not set: eval "$(hack/cluster env)"')
    kubernetes.config.load_kube_config()
    subprocess.run([REPO / "hack" / "apply-crds"], check=True, stdout=subprocess.DEVNULL)

    prefix = f"soak-{uuid.uuid4().hex[:6]}-"
    log_path = pathlib.Path(tempfile.mkdtemp(prefix="soak-crash-")) / "operator.log"
    operator = Operator(pattern=f"{prefix}*", cluster_dir=os.environ["RG_CLUSTER_DIR"], log_path=log_path)
    print(
        f"soak-crash: seed {seed}, {args.runs} runs, {args.parallel} at once, operator log {log_path}",
        flush=True,
    )
    runs = []
    for i in range(args.runs):
        good, triggers, down_for = plan(seed + i)
        runs.append(
            Run(
                seed=seed + i,
                namespace=f"{prefix}{seed + i}",
                good=good,
                triggers=triggers,
                down_for=down_for,
                operator=operator,
                prometheus_url=os.environ["RG_PROMETHEUS_URL"],
                state_dir=os.environ["RG_CLUSTER_DIR"],
            )
        )
    began = time.monotonic()
    printing = threading.Lock()

    def one(run: Run) -> None:
        try:
            run.execute()
            run.check(all_kills=operator.kills)
        except Exception as error:  # a broken run is a failure to report, not a reason to stop the others
            run.problems.append(f"{type(error).__name__}: {error}")
            run.ended_at = run.ended_at or time.monotonic()
        with printing:
            print(run.line(all_kills=operator.kills), flush=True)
        if run.problems:
            with printing:
                print(f"  kept namespace {run.namespace}", flush=True)
        elif not args.keep:
            kubectl("delete", "namespace", run.namespace, "--wait=false", check=False)

    # The namespaces exist before the operator starts: one created within a moment of its start was seen
    # to go unwatched (the operator's namespace observer is not what this soak is about).
    for run in runs:
        kubectl("create", "namespace", run.namespace)
    operator.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as pool:
            list(pool.map(one, runs))
    finally:
        operator.stop()
    failures = [run for run in runs if run.problems]
    own = sum(len(run.fired) for run in runs)
    elapsed = time.monotonic() - began
    durations = sorted(run.ended_at - run.started_at for run in runs if run.started_at)
    median = durations[len(durations) // 2] if durations else 0.0
    print(
        f"soak-crash: {len(runs)} runs, {len(operator.kills)} kills ({own} planned, every run lived through"
        f" the others'), {len(failures)} failures, {elapsed:.0f}s in all, median release {median:.0f}s"
        f" (seed {seed}, --parallel {args.parallel})"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
