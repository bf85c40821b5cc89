"""Scale: one operator process analysing 50, 200 and 500 ReleaseValidations at once, on the local cluster.

How far does one operator go? For each size N the bench keeps N small Deployments (KWOK pods), a Service and a
ReleaseValidation each, in namespaces of its own, starts a fresh operator over them, lets it adopt them and
then changes every Deployment's image at once: every release starts a canary held at one long step, so all N
stay in Progressing with an analysis every interval (10 s) of two Prometheus metrics judged by a threshold
(queries that select nothing on the canary's pods but still return a value, so every analysis passes). Once
every release has been analysed by this operator process, and a settling time later, it measures over a
window:

* analysis-loop lag, how late an analysis ran after it was due (the previous analysis plus the interval):
  p50 and p99 computed exactly from every analysis time the releases' status recorded (a watch sees each
  one), and interpolated from the operator's own histogram (releaseguard_analysis_lag_seconds) as a check;
  how many analyses ran against the N x window / interval due, and how overdue the latest release was when
  the window closed (a release never analysed in the window has no lag to show, so this is what shows it);
* Prometheus queries per second and per release per interval (the count of
  releaseguard_prometheus_query_duration_seconds), with their duration and errors;
* the operator's CPU (utime + stime from /proc, in % of one core) and memory (peak VmHWM, current VmRSS);
* for context, the CPU of the cluster's own processes and of the whole machine over the window: on a small
  machine a saturated apiserver delays the operator too. Other work on the cluster counts there as well.

Sizes grow one into the next: the objects of the smaller sizes stay (still Progressing) and the operator is
restarted, so each size has its own peak RSS. The pods run on a fake node of the bench's own (KWOK makes
them Running and Ready, bound there without the scheduler), with an image the pod emulator ignores, so no
process is started for them and the cluster's own node keeps its room for other work. Everything the bench
made is removed at the end, even after a failure or Ctrl-C.

Exit 0 whether or not the targets (at 500 releases: p99 lag under 2 s, peak RSS under 500 MiB) are met;
non-zero only when the bench itself failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import itertools
import json
import math
import os
import pathlib
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import typing
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import kubernetes
import prometheus_client.parser

REPO = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
OPERATOR = VENV_BIN / "releaseguard"
GROUP, VERSION, PLURAL = "releaseguard.io", "v1alpha1", "releasevalidations"
FINALIZER = "releaseguard.io/finalizer"
RUN_LABEL = "bench-scale/run"
BATCH_LABEL = "bench-scale/batch"
# Not releaseguard-demo: the pod emulator (hack/demo/emulator.py) starts a process only for that image.
IMAGE = "bench-scale-app"
STABLE_TAG, NEW_TAG = "1.0", "2.0"
TARGET_LAG_SECONDS = 2.0
TARGET_RSS_MIB = 500.0
TARGET_SIZE = 500
LAG_FAMILY = "releaseguard_analysis_lag_seconds"
DURATION_FAMILY = "releaseguard_analysis_duration_seconds"
QUERY_FAMILY = "releaseguard_prometheus_query_duration_seconds"
QUERY_ERRORS = "releaseguard_prometheus_query_errors_total"
PY_SPY_RATE = 50
CLUSTER_PROCESSES = ("kube-apiserver", "etcd", "kube-controller-manager", "kwok", "prometheus")
# A canary pod's share of a step: with 1 or 2 replicas, 25 % gives one canary pod (rollout/templates.py).
STEP_WEIGHT = 25
# Judged by a threshold on the canary's value; `or vector(0)` gives a value where the pods export nothing
# (an empty answer would be Inconclusive NoData), and the selector still makes Prometheus look the pods up.
METRICS = (
    {
        "name": "error-rate",
        "kind": "gauge",
        "query": 'sum(rate(http_requests_total{code=~"5..",{{ selector }}}[{{ window }}])) or vector(0)',
        "judge": {"type": "threshold", "max": 1},
    },
    {
        "name": "p99-latency",
        "kind": "gauge",
        "query": "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
        "{{{ selector }}}[{{ window }}]))) or vector(0)",
        "judge": {"type": "threshold", "max": 0.5},
    },
)
PROFILE_MAIN = (
    "import cProfile, sys\nfrom releaseguard import cli\ncProfile.run('cli.main(sys.argv[2:])', sys.argv[1])"
)
"""`python -c PROFILE_MAIN FILE run ...`: the operator under cProfile, written to FILE when it stops."""


# Small helpers ----------------------------------------------------------------------------------------------


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=300, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args[:3])} ...: {result.stderr.strip()[-2000:]}")
    return result


def revision() -> str:
    """The commit the operator runs from, and whether its source differs from it: figures to compare."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", "operator"], capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + (" with uncommitted changes in operator/" if changed.stdout.strip() else "")


def seconds(text: str) -> float:
    """`120`, `120s`, `2m`, `1m30s` as seconds."""
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 120s, 2m)")
    return 60 * int(match.group(1) or 0) + float(match.group(2) or 0)


def sizes(text: str) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r} (e.g. 50,200,500)") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("sizes are positive numbers of releases")
    return values


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(url: str, *, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body.decode()


def healthy(port: int) -> bool:
    try:
        http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except OSError:
        return False
    return True


def epoch(stamp: str | None) -> float | None:
    return None if not stamp else datetime.datetime.fromisoformat(stamp).timestamp()


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile of `values`, interpolated between the two nearest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """histogram_quantile() as Prometheus computes it, over cumulative (le, count) buckets ending at +Inf.

    Linear within the bucket holding the rank; a rank in the +Inf bucket gives the highest finite bound.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else lower
        lower, below = bound, count
    return lower


# The objects ------------------------------------------------------------------------------------------------


def node_manifest(name: str, run: str) -> dict[str, Any]:
    """A fake node for the bench's pods alone: KWOK manages every node; the taint keeps other pods off."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name, RUN_LABEL: run},
        },
        "spec": {
            "taints": [{"key": RUN_LABEL, "value": run, "effect": "NoSchedule"}],
            "podCIDR": "10.245.0.0/16",
            "podCIDRs": ["10.245.0.0/16"],
        },
        "status": {
            "allocatable": {"cpu": "256", "memory": "1Ti", "pods": "5000"},
            "capacity": {"cpu": "256", "memory": "1Ti", "pods": "5000"},
        },
    }


def workload(
    name: str, *, run: str, batch: int, node: str, replicas: int, prometheus_url: str, interval: str
) -> list[dict[str, Any]]:
    """A Deployment, its Service and the ReleaseValidation guarding it."""
    labels = {RUN_LABEL: run, BATCH_LABEL: str(batch)}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, **labels}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    # Bound to the bench's node without the scheduler, which the machine is spared.
                    "nodeName": node,
                    "tolerations": [{"key": RUN_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [
                        {
                            "name": "app",
                            "image": f"{IMAGE}:{STABLE_TAG}",
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    release = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ReleaseValidation",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": name},
            "service": name,
            # One step far longer than the bench: every release stays in Progressing, analysed each interval.
            "steps": [{"weight": STEP_WEIGHT, "duration": "12h"}],
            "analysis": {
                "interval": interval,
                "failureLimit": 100,
                "inconclusiveLimit": 100,
                "prometheus": {"url": prometheus_url},
                "metrics": list(METRICS),
            },
        },
    }
    return [deployment, service, release]


# Processes --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProcessSample:
    cpu_seconds: float
    rss_bytes: int
    peak_rss_bytes: int


def process_sample(pid: int) -> ProcessSample | None:
    """CPU time (user + system, all threads) and memory of a process, None if it is gone."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces; what follows does not
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    memory = {
        key: int(value.split()[0]) * 1024
        for key, value in (line.split(":", 1) for line in status.splitlines() if line.startswith("Vm"))
    }
    return ProcessSample(
        cpu_seconds=ticks / os.sysconf("SC_CLK_TCK"),
        rss_bytes=memory.get("VmRSS", 0),
        peak_rss_bytes=memory.get("VmHWM", 0),
    )


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def cluster_pids(cluster_dir: str) -> dict[str, int]:
    """The cluster's own processes that `hack/cluster up` recorded, by component."""
    found = {}
    for name in CLUSTER_PROCESSES:
        try:
            found[name] = int(pathlib.Path(cluster_dir, "pids", f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return found


class Operator:
    """One `releaseguard run` over the bench's namespaces, optionally under cProfile; stopped with SIGTERM."""

    def __init__(self, *, pattern: str, workdir: pathlib.Path) -> None:
        self.pattern = pattern
        self.workdir = workdir
        self.log_path = workdir / "operator.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.started_at = 0.0
        self.cprofile_path: pathlib.Path | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, cprofile: pathlib.Path | None = None) -> None:
        liveness, self.metrics_port = free_port(), free_port()
        args = [
            "run",
            "--namespace",
            self.pattern,
            f"--liveness=http://127.0.0.1:{liveness}/healthz",
            f"--metrics-address=127.0.0.1:{self.metrics_port}",
            "--log-format=json",
        ]
        self.cprofile_path = cprofile
        command = (
            [str(VENV_BIN / "python"), "-c", PROFILE_MAIN, str(cprofile), *args]
            if cprofile is not None
            else [str(OPERATOR), *args]
        )
        self.started_at = time.time()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not healthy(liveness):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the operator did not come up; see {self.log_path}")
            time.sleep(0.2)

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise RuntimeError(f"the operator exited ({code}); see {self.log_path}")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return parse_metrics(http_get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=30))

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # kopf stops gracefully: the profile, if any, is written on the way out
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by its name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in prometheus_client.parser.text_string_to_metric_families(text)
        for sample in family.samples
    }


def histogram(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], family: str
) -> tuple[list[tuple[float, float]], float, float]:
    """A histogram without labels: its cumulative (le, count) buckets, count and sum."""
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in samples.items()
        if name == f"{family}_bucket"
    )
    return buckets, samples.get((f"{family}_count", ()), 0.0), samples.get((f"{family}_sum", ()), 0.0)


def histogram_delta(
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    after: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    family: str,
) -> tuple[list[tuple[float, float]], float, float]:
    """What a histogram gained between two scrapes of one process."""
    old, new = histogram(before, family), histogram(after, family)
    old_buckets = dict(old[0])
    buckets = [(bound, count - old_buckets.get(bound, 0.0)) for bound, count in new[0]]
    return buckets, new[1] - old[1], new[2] - old[2]


# What the releases recorded ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Release:
    phase: str | None = None
    step_started: float | None = None
    analyses: dict[float, tuple[str, float]] = dataclasses.field(default_factory=dict)
    """Every analysis seen: its time (epoch seconds), its verdict and when the watch saw it stored."""


class Releases:
    """Every analysis the bench's ReleaseValidations record, as a watch on them sees each status write."""

    def __init__(self, *, label_selector: str) -> None:
        self.label_selector = label_selector
        self.lock = threading.Lock()
        self.releases: dict[str, Release] = {}
        self.relists: list[float] = []
        """When the watch had to list again (its resourceVersion expired): analyses may be missed there."""
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.listed = threading.Event()
        self.thread = threading.Thread(target=self._run, name="releases", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        custom = kubernetes.client.CustomObjectsApi()
        version: str | None = None
        while not self.stopping.is_set():
            try:
                if version is None:
                    listing = typing.cast(
                        dict[str, Any],
                        custom.list_cluster_custom_object(
                            GROUP, VERSION, PLURAL, label_selector=self.label_selector
                        ),
                    )
                    for item in listing["items"]:
                        self._seen(item)
                    if self.listed.is_set():
                        self.relists.append(time.time())
                    self.listed.set()
                    version = listing["metadata"]["resourceVersion"]
                    continue
                watch = kubernetes.watch.Watch()
                for event in watch.stream(
                    custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    PLURAL,
                    label_selector=self.label_selector,
                    resource_version=version,
                    timeout_seconds=30,  # also makes the client raise on an expired version
                    allow_watch_bookmarks=True,
                ):
                    body = typing.cast(dict[str, Any], event["object"])
                    version = body["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._seen(body)
                    if self.stopping.is_set():
                        break
            except Exception as error:  # expired (410), or the apiserver went away: list again
                if not (isinstance(error, kubernetes.client.ApiException) and error.status == 410):
                    self.errors.append(f"watch: {type(error).__name__}: {str(error)[:300]}")
                    time.sleep(1)
                version = None

    def _seen(self, body: dict[str, Any]) -> None:
        key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
        status = body.get("status") or {}
        last = status.get("lastAnalysis") or {}
        with self.lock:
            release = self.releases.setdefault(key, Release())
            release.phase = status.get("phase")
            release.step_started = epoch(status.get("stepStartedAt"))
            at = epoch(last.get("time"))
            if at is not None:
                release.analyses.setdefault(at, (str(last.get("verdict")), time.time()))

    def snapshot(self) -> dict[str, Release]:
        with self.lock:
            return {
                key: dataclasses.replace(release, analyses=dict(release.analyses))
                for key, release in self.releases.items()
            }

    def stop(self) -> None:
        self.stopping.set()


@dataclasses.dataclass(frozen=True, kw_only=True)
class StatusLags:
    lags: list[float]
    stored_after: list[float]
    """How long after it ran each analysis in the window was seen in the status: queries, decision, write."""
    verdicts: dict[str, int]
    not_analysed: int
    """Releases without an analysis in the window."""
    max_overdue: float
    """How long the most overdue release's next analysis was overdue when the window closed."""
    dropped: int
    """Pairs of analyses not counted because the watch listed again between them."""


def status_lags(
    releases: dict[str, Release],
    keys: Iterable[str],
    *,
    start: float,
    end: float,
    interval: float,
    relists: Sequence[float],
) -> StatusLags:
    """The lag of every analysis that ran in [start, end]: its time less the previous one's and the interval.

    The first analysis of a step is due when the canary is ready, not an interval after anything: it is left
    out, as the operator's histogram counts it as on time.
    """
    lags: list[float] = []
    stored_after: list[float] = []
    verdicts: dict[str, int] = {}
    not_analysed = dropped = 0
    max_overdue = 0.0
    for key in keys:
        release = releases.get(key, Release())
        times = sorted(release.analyses)
        started = release.step_started or 0.0
        in_window = [t for t in times if start <= t <= end]
        if not in_window:
            not_analysed += 1
        for previous, current in itertools.pairwise(times):
            if not start <= current <= end or previous < started:
                continue
            if any(previous < relist <= current for relist in relists):
                dropped += 1
                continue
            lags.append(current - previous - interval)
        for current in in_window:
            verdict, seen = release.analyses[current]
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
            stored_after.append(seen - current)
        latest = max((t for t in times if t <= end), default=None)
        if latest is not None:
            max_overdue = max(max_overdue, end - latest - interval)
    return StatusLags(
        lags=lags,
        stored_after=stored_after,
        verdicts=verdicts,
        not_analysed=not_analysed,
        max_overdue=max_overdue,
        dropped=dropped,
    )


# Measurement ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Snapshot:
    wall: float
    monotonic: float
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    operator: ProcessSample
    cluster: dict[str, float]
    machine: tuple[int, int]
    prometheus_queries: float | None
    harness_cpu: float


def take_snapshot(operator: Operator, *, cluster: dict[str, int], prometheus_url: str) -> Snapshot:
    metrics = operator.metrics()
    sample = process_sample(operator.pid)
    if sample is None:
        raise RuntimeError(f"the operator is gone; see {operator.log_path}")
    cluster_cpu = {
        name: found.cpu_seconds for name, pid in cluster.items() if (found := process_sample(pid)) is not None
    }
    try:  # every client's queries, the lead's tests' too: a cross-check, not the figure
        served = parse_metrics(http_get(f"{prometheus_url}/metrics"))
        queries: float | None = sum(
            value
            for (name, labels), value in served.items()
            if name == "prometheus_http_requests_total"
            and dict(labels).get("handler") in ("/api/v1/query", "/api/v1/query_range")
        )
    except OSError:
        queries = None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Snapshot(
        wall=time.time(),
        monotonic=time.monotonic(),
        metrics=metrics,
        operator=sample,
        cluster=cluster_cpu,
        machine=machine_jiffies(),
        prometheus_queries=queries,
        harness_cpu=usage.ru_utime + usage.ru_stime,
    )


@dataclasses.dataclass(kw_only=True)
class Figures:
    size: int
    namespaces: int
    setup_seconds: float
    complete: bool
    setup_note: str
    window_seconds: float
    lag_p50: float | None
    lag_p99: float | None
    lag_max: float | None
    hist_lag_p50: float | None
    hist_lag_p99: float | None
    stored_p50: float | None
    stored_p99: float | None
    duration_p50: float | None
    duration_p99: float | None
    analyses: int
    hist_analyses: float
    due_analyses: float
    not_analysed: int
    max_overdue: float
    dropped_pairs: int
    verdicts: dict[str, int]
    phases: dict[str, int]
    queries_per_second: float
    queries_per_release_interval: float
    queries_per_analysis: float | None
    analyses_per_release_interval: float
    """Analyses the operator finished per release and interval: 1 when it keeps up with the interval."""
    query_p50: float | None
    query_p99: float | None
    query_errors: dict[str, float]
    prometheus_queries_per_second: float | None
    cpu_percent: float
    peak_rss_mib: float
    rss_mib: float
    cluster_cpu_percent: dict[str, float]
    machine_busy_percent: float
    harness_cpu_percent: float
    profile: str | None = None
    profile_summary: list[str] = dataclasses.field(default_factory=list)


def figures_between(
    before: Snapshot,
    after: Snapshot,
    *,
    size: int,
    namespaces: int,
    interval: float,
    releases: Releases,
    keys: list[str],
    setup_seconds: float,
    complete: bool,
    setup_note: str,
) -> Figures:
    span = after.monotonic - before.monotonic
    snapshot = releases.snapshot()
    lags = status_lags(
        snapshot, keys, start=before.wall, end=after.wall, interval=interval, relists=releases.relists
    )
    lag_buckets, lag_count, _ = histogram_delta(before.metrics, after.metrics, LAG_FAMILY)
    query_buckets, query_count, _ = histogram_delta(before.metrics, after.metrics, QUERY_FAMILY)
    duration_buckets, _, _ = histogram_delta(before.metrics, after.metrics, DURATION_FAMILY)
    errors = {
        dict(labels)["reason"]: value - before.metrics.get((name, labels), 0.0)
        for (name, labels), value in after.metrics.items()
        if name == QUERY_ERRORS
    }
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    phases: dict[str, int] = {}
    for key in keys:
        phase = str(snapshot.get(key, Release()).phase)
        phases[phase] = phases.get(phase, 0) + 1
    served = (
        (after.prometheus_queries - before.prometheus_queries) / span
        if after.prometheus_queries is not None and before.prometheus_queries is not None
        else None
    )
    mib = 1024 * 1024
    return Figures(
        size=size,
        namespaces=namespaces,
        setup_seconds=setup_seconds,
        complete=complete,
        setup_note=setup_note,
        window_seconds=span,
        lag_p50=percentile(lags.lags, 0.5),
        lag_p99=percentile(lags.lags, 0.99),
        lag_max=max(lags.lags, default=None),
        hist_lag_p50=bucket_quantile(0.5, lag_buckets),
        hist_lag_p99=bucket_quantile(0.99, lag_buckets),
        stored_p50=percentile(lags.stored_after, 0.5),
        stored_p99=percentile(lags.stored_after, 0.99),
        duration_p50=bucket_quantile(0.5, duration_buckets),
        duration_p99=bucket_quantile(0.99, duration_buckets),
        analyses=sum(lags.verdicts.values()),
        hist_analyses=lag_count,
        due_analyses=size * span / interval,
        not_analysed=lags.not_analysed,
        max_overdue=lags.max_overdue,
        dropped_pairs=lags.dropped,
        verdicts=lags.verdicts,
        phases=phases,
        queries_per_second=query_count / span,
        queries_per_release_interval=query_count / span * interval / size,
        queries_per_analysis=query_count / lag_count if lag_count else None,
        analyses_per_release_interval=lag_count / span * interval / size,
        query_p50=bucket_quantile(0.5, query_buckets),
        query_p99=bucket_quantile(0.99, query_buckets),
        query_errors={reason: value for reason, value in errors.items() if value},
        prometheus_queries_per_second=served,
        cpu_percent=100 * (after.operator.cpu_seconds - before.operator.cpu_seconds) / span,
        peak_rss_mib=after.operator.peak_rss_bytes / mib,
        rss_mib=after.operator.rss_bytes / mib,
        cluster_cpu_percent={
            name: 100 * (after.cluster[name] - before.cluster[name]) / span
            for name in after.cluster
            if name in before.cluster
        },
        machine_busy_percent=100 * busy / total * (os.cpu_count() or 1) if total else 0.0,
        harness_cpu_percent=100 * (after.harness_cpu - before.harness_cpu) / span,
    )


# Profiles ---------------------------------------------------------------------------------------------------


def py_spy() -> str | None:
    for candidate in (VENV_BIN / "py-spy", shutil.which("py-spy")):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def area(frame: str) -> str:
    """Where a py-spy frame `function (path:line)` lives: a releaseguard module, else the top package or
    stdlib module (py-spy writes paths from their sys.path entry: `pydantic/main.py`, `ssl.py`); for ours, the
    package or module under releaseguard (`releaseguard.kube`, `releaseguard.reconciler`)."""
    match = re.search(r"\(([^()]*?)(?::\d+)?\)$", frame)
    path = match.group(1) if match else frame
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:2]) if parts[0] == "releaseguard" and len(parts) > 1 else parts[0]


def summarise_py_spy(path: pathlib.Path, *, rate: int, duration: float, top: int = 15) -> list[str]:
    """Where the operator's Python code spent the window, from py-spy's collapsed stacks (`frame;... count`)
    of the thread holding the GIL: self and inclusive time by area, self time by function."""
    self_area: dict[str, int] = {}
    inclusive_area: dict[str, int] = {}
    self_function: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        leaf = area(frames[-1])
        self_area[leaf] = self_area.get(leaf, 0) + count
        self_function[frames[-1]] = self_function.get(frames[-1], 0) + count
        for name in {area(frame) for frame in frames}:
            inclusive_area[name] = inclusive_area.get(name, 0) + count
        for frame in set(frames):
            if area(frame).startswith("releaseguard."):
                ours[frame] = ours.get(frame, 0) + count
    if not total:
        return ["no samples"]

    def ranked(counts: dict[str, int]) -> list[str]:
        best = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return [f"  {100 * count / total:5.1f}%  {name}" for name, count in best]

    return [
        f"the GIL was held in {100 * total / (rate * duration):.0f}% of {rate * duration:.0f} samples;"
        " shares below are of those samples",
        "self time by area:",
        *ranked(self_area),
        "inclusive time by area (the area is on the stack):",
        *ranked(inclusive_area),
        "self time by function:",
        *ranked(self_function),
        "inclusive time of releaseguard's functions:",
        *ranked(ours),
    ]


def summarise_cprofile(path: pathlib.Path, *, top: int = 25) -> list[str]:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return ["cProfile of the operator's main thread over its whole run (setup included):", out.getvalue()]


# The bench --------------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, *, workdir: pathlib.Path) -> None:
        self.args = args
        self.workdir = workdir
        self.run = uuid.uuid4().hex[:6]
        self.prefix = f"bench-scale-{self.run}-"
        self.node = f"bench-scale-{self.run}"
        self.interval = seconds(args.interval)
        self.prometheus_url = os.environ["RG_PROMETHEUS_URL"]
        self.cluster = cluster_pids(os.environ["RG_CLUSTER_DIR"])
        self.operator = Operator(pattern=f"{self.prefix}*", workdir=workdir)
        self.releases: Releases | None = None
        self.namespaces: list[str] = []
        self.count = 0
        self.previous = 0

    def name(self, index: int) -> tuple[str, str]:
        return f"{self.prefix}{index // self.args.per_namespace}", f"app-{index:04d}"

    def keys(self, size: int) -> list[str]:
        return ["/".join(self.name(index)) for index in range(size)]

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    # Setup --------------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        leftovers = kubectl("get", "nodes,namespaces", "-l", RUN_LABEL, "-o", "name").stdout.split()
        if leftovers:
            self.say(f"earlier runs left {' '.join(leftovers)} (hack/bench-scale --clean removes them)")
        subprocess.run([REPO / "hack" / "apply-crds"], check=True, stdout=subprocess.DEVNULL)
        kubectl("create", "-f", "-", stdin=json.dumps(node_manifest(self.node, self.run)))
        kubectl(
            "wait", "--for=condition=Ready", "--timeout=60s", f"node/{self.node}"
        )  # KWOK takes the node on
        self.releases = Releases(label_selector=f"{RUN_LABEL}={self.run}")
        if not self.releases.listed.wait(30):
            raise RuntimeError("the watch on the releases did not start")

    def grow(self, size: int) -> None:
        """Create the workloads and releases from the current count up to `size`, one call per namespace."""
        documents: dict[str, list[dict[str, Any]]] = {}
        for index in range(self.count, size):
            namespace, name = self.name(index)
            documents.setdefault(namespace, []).extend(
                workload(
                    name,
                    run=self.run,
                    batch=size,
                    node=self.node,
                    replicas=self.args.replicas,
                    prometheus_url=self.prometheus_url,
                    interval=self.args.interval,
                )
            )
        # The namespaces exist before the operator starts: one created within a moment of its start was
        # seen to go unwatched.
        for namespace in documents:
            if namespace not in self.namespaces:
                manifest = {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": {RUN_LABEL: self.run}},
                }
                kubectl("create", "-f", "-", stdin=json.dumps(manifest))
                self.namespaces.append(namespace)

        def create(namespace: str) -> None:
            listing = {"apiVersion": "v1", "kind": "List", "items": documents[namespace]}
            kubectl("create", "-n", namespace, "-f", "-", stdin=json.dumps(listing))

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(create, documents))
        self.count = size

    def wait(
        self, what: str, done: Callable[[dict[str, Release]], tuple[int, str]], *, total: int, timeout: float
    ) -> tuple[bool, str]:
        """Wait until `done` counts `total` releases ready; (whether they all were, what was left)."""
        deadline = time.monotonic() + timeout
        last_report = time.monotonic()
        ready, missing = 0, ""
        assert self.releases is not None
        while time.monotonic() < deadline:
            self.operator.check_alive()
            ready, missing = done(self.releases.snapshot())
            if ready >= total:
                return True, ""
            if time.monotonic() - last_report > 30:
                self.say(f"  {what}: {ready}/{total} ({missing})")
                last_report = time.monotonic()
            time.sleep(1)
        return False, f"{what}: {ready}/{total} after {timeout:.0f}s ({missing})"

    def phases(self, keys: Iterable[str], snapshot: dict[str, Release]) -> str:
        counts: dict[str, int] = {}
        for key in keys:
            phase = str(snapshot.get(key, Release()).phase)
            counts[phase] = counts.get(phase, 0) + 1
        return ", ".join(f"{phase} {count}" for phase, count in sorted(counts.items()))

    def release_new(self, size: int) -> None:
        """A new image in every Deployment of this batch: one call per namespace."""

        def set_image(namespace: str) -> None:
            kubectl(
                "set",
                "image",
                "deployment",
                "-n",
                namespace,
                "-l",
                f"{BATCH_LABEL}={size},{RUN_LABEL}={self.run}",
                f"app={IMAGE}:{NEW_TAG}",
            )

        touched = sorted({self.name(index)[0] for index in range(self.previous, size)})
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(set_image, touched))

    # One size -----------------------------------------------------------------------------------------------

    def measure_size(self, size: int) -> Figures:
        began = time.monotonic()
        self.operator.stop()
        self.previous = self.count
        self.say(f"size {size}: creating {size - self.count} workloads and releases")
        self.grow(size)
        cprofile = None
        if self.args.profile == "cprofile":
            cprofile = self.workdir / f"operator-{size}.cprofile"
        self.operator.start(cprofile=cprofile)
        self.say(f"size {size}: operator started (pid {self.operator.pid}); waiting for adoption")
        timeout = self.args.setup_timeout or 120 + 1.0 * size
        new_keys = self.keys(size)[self.previous :]
        all_keys = self.keys(size)
        notes = []

        def adopted(snapshot: dict[str, Release]) -> tuple[int, str]:
            ready = sum(1 for key in new_keys if snapshot.get(key, Release()).phase == "Idle")
            return ready, self.phases(new_keys, snapshot)

        complete, note = self.wait("adopted (Idle)", adopted, total=len(new_keys), timeout=timeout)
        if note:
            notes.append(note)
        self.say(f"size {size}: releasing {len(new_keys)} new images at once")
        self.release_new(size)
        started = self.operator.started_at

        def analysed(snapshot: dict[str, Release]) -> tuple[int, str]:
            ready = 0
            for key in all_keys:
                release = snapshot.get(key, Release())
                if release.phase == "Progressing" and max(release.analyses, default=0.0) >= started:
                    ready += 1
            return ready, self.phases(all_keys, snapshot)

        done, note = self.wait("Progressing and analysed", analysed, total=size, timeout=timeout)
        complete = complete and done
        if note:
            notes.append(note)
        self.say(f"size {size}: settling {self.args.settle}")
        time.sleep(seconds(self.args.settle))
        setup_seconds = time.monotonic() - began
        self.say(f"size {size}: measuring over {self.args.window} (setup took {setup_seconds:.0f}s)")
        profiler, profile_path = None, None
        window = seconds(self.args.window)
        if self.args.profile == "py-spy":
            profile_path = self.workdir / f"operator-{size}.py-spy.txt"
            profiler = subprocess.Popen(
                [
                    str(py_spy()),
                    "record",
                    "--pid",
                    str(self.operator.pid),
                    "--duration",
                    str(max(1, int(window))),
                    "--rate",
                    str(PY_SPY_RATE),
                    "--gil",  # the thread running Python: one core's worth at most
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(profile_path),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        before = take_snapshot(self.operator, cluster=self.cluster, prometheus_url=self.prometheus_url)
        time.sleep(window)
        after = take_snapshot(self.operator, cluster=self.cluster, prometheus_url=self.prometheus_url)
        self.operator.check_alive()
        # Analyses that ran before the window closed are written and watched a moment later.
        time.sleep(min(5.0, self.interval / 2))
        assert self.releases is not None
        figures = figures_between(
            before,
            after,
            size=size,
            namespaces=len({self.name(index)[0] for index in range(size)}),
            interval=self.interval,
            releases=self.releases,
            keys=all_keys,
            setup_seconds=setup_seconds,
            complete=complete,
            setup_note="; ".join(notes),
        )
        if profiler is not None and profile_path is not None:
            try:
                profiler.wait(timeout=60)
            except subprocess.TimeoutExpired:
                profiler.kill()
            if profile_path.exists():
                figures.profile = str(profile_path)
                figures.profile_summary = summarise_py_spy(
                    profile_path, rate=PY_SPY_RATE, duration=figures.window_seconds
                )
        if cprofile is not None:
            self.operator.stop()  # writes the profile
            if cprofile.exists():
                figures.profile = str(cprofile)
                figures.profile_summary = summarise_cprofile(cprofile)
        return figures

    # Cleanup ------------------------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Stop the operator and the watch, and delete what the bench made."""
        self.operator.stop()
        if self.releases is not None:
            self.releases.stop()
        remove(f"{RUN_LABEL}={self.run}", timeout=self.args.cleanup_timeout, say=self.say)


def remove(selector: str, *, timeout: float, say: Callable[[str], None]) -> None:
    """Delete the namespaces and nodes matching `selector`, first dropping the finalizers of their releases,
    which no operator will remove (a namespace would stay Terminating). Waits out an apiserver that is down
    for a while (other work on the cluster may restart it)."""
    deadline = time.monotonic() + timeout
    while kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the apiserver is unreachable; remove later with: hack/bench-scale --clean")
        time.sleep(3)
    namespaces = kubectl("get", "namespaces", "-l", selector, "-o", "name").stdout.split()
    namespaces = [name.removeprefix("namespace/") for name in namespaces]
    if namespaces:
        say(f"cleaning up {len(namespaces)} namespaces")
        custom = kubernetes.client.CustomObjectsApi()

        def unblock(namespace: str) -> None:
            listing = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
            for item in typing.cast(dict[str, Any], listing)["items"]:
                if FINALIZER not in (item["metadata"].get("finalizers") or []):
                    continue
                try:
                    custom.patch_namespaced_custom_object(
                        GROUP,
                        VERSION,
                        namespace,
                        PLURAL,
                        item["metadata"]["name"],
                        {"metadata": {"finalizers": None}},
                    )
                except kubernetes.client.ApiException as error:
                    if error.status != 404:
                        raise

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(unblock, namespaces))
        kubectl("delete", "namespaces", "--wait=false", *namespaces, check=False)
        # The pods go with their namespace while their node still exists (KWOK confirms their deletion).
        left = namespaces
        while left and time.monotonic() < deadline:
            time.sleep(3)
            left = kubectl("get", "namespaces", "-l", selector, "-o", "name").stdout.split()
        if left:
            say(f"namespaces still terminating: {' '.join(left)}")
    kubectl("delete", "nodes", "-l", selector, "--wait=false", check=False)


# Report -----------------------------------------------------------------------------------------------------


def show(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def report(figures: list[Figures]) -> list[str]:
    lines = [
        "",
        "| releases | lag p50 | lag p99 | queries/s | queries per release per interval | CPU % of a core"
        " | peak RSS MiB | analyses per release per interval |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.size}{'' if f.complete else ' (setup incomplete)'} | {show(f.lag_p50, ' s')}"
            f" | {show(f.lag_p99, ' s')} | {f.queries_per_second:.1f} | {f.queries_per_release_interval:.2f}"
            f" | {f.cpu_percent:.0f} | {f.peak_rss_mib:.0f} | {f.analyses_per_release_interval:.2f} |"
        )
    lines += [
        "",
        "lag: how late an analysis began after it was due, from the releases' status (every analysis time,"
        " watched), exact; hist: the operator's releaseguard_analysis_lag_seconds over the window,"
        " interpolated in its buckets. The operator counts the analyses it finished in the window, the"
        " status those it began there. Analyses per release per interval: 1 when the operator keeps up; fewer"
        " queries per release then come from fewer analyses, not from batching (see queries per analysis).",
    ]
    for f in figures:
        lines += [
            f"{f.size} releases in {f.namespaces} namespaces: setup {f.setup_seconds:.0f}s, window"
            f" {f.window_seconds:.0f}s" + (f"; setup incomplete: {f.setup_note}" if f.setup_note else ""),
            f"  lag: p50 {show(f.lag_p50, ' s')}, p99 {show(f.lag_p99, ' s')}, max {show(f.lag_max, ' s')}"
            f" (hist p50 {show(f.hist_lag_p50, ' s')}, p99 {show(f.hist_lag_p99, ' s')}); analyses"
            f" {f.analyses} seen in status, {f.hist_analyses:.0f} counted by the operator,"
            f" {f.due_analyses:.0f} due at one per interval; {f.not_analysed} releases not analysed in the"
            f" window; most overdue at its end {max(0.0, f.max_overdue):.1f} s"
            + (f"; {f.dropped_pairs} pairs dropped (watch relisted)" if f.dropped_pairs else ""),
            f"  an analysis took p50 {show(f.duration_p50, ' s')}, p99 {show(f.duration_p99, ' s')} (hist);"
            f" its status was seen p50 {show(f.stored_p50, ' s')}, p99 {show(f.stored_p99, ' s')} after it"
            " began",
            f"  verdicts {f.verdicts}; phases at the end {f.phases}",
            f"  queries: {f.queries_per_second:.1f}/s, {show(f.queries_per_analysis, '', 1)} per analysis,"
            f" duration p50 {show(f.query_p50, ' s', 3)} p99"
            f" {show(f.query_p99, ' s', 3)}, errors {f.query_errors or 'none'}; Prometheus answered"
            f" {show(f.prometheus_queries_per_second, '/s', 1)} queries from all its clients",
            f"  operator: CPU {f.cpu_percent:.0f}% of a core, RSS {f.rss_mib:.0f} MiB now, peak"
            f" {f.peak_rss_mib:.0f} MiB",
            "  machine: "
            + ", ".join(f"{name} {value:.0f}%" for name, value in f.cluster_cpu_percent.items())
            + f", this bench {f.harness_cpu_percent:.0f}%; all CPUs busy"
            f" {f.machine_busy_percent:.0f}% of {(os.cpu_count() or 1) * 100}%",
        ]
    lines.append("")
    for f in figures:
        lag_ok = f.lag_p99 is not None and f.lag_p99 < TARGET_LAG_SECONDS and f.not_analysed == 0
        rss_ok = f.peak_rss_mib < TARGET_RSS_MIB
        scope = "the targets" if f.size == TARGET_SIZE else f"the {TARGET_SIZE}-release targets at {f.size}"
        lines.append(
            f"{f.size} releases, {scope}: p99 lag {show(f.lag_p99, ' s')} < {TARGET_LAG_SECONDS:.0f} s"
            f" {'met' if lag_ok else 'MISSED'}; peak RSS {f.peak_rss_mib:.0f} MiB < {TARGET_RSS_MIB:.0f} MiB"
            f" {'met' if rss_ok else 'MISSED'}"
        )
    for smaller, larger in itertools.pairwise(figures):
        factor = larger.size / smaller.size

        def growth(a: float | None, b: float | None) -> str:
            return "-" if a is None or b is None or a <= 0 else f"x{b / a:.2f}"

        def change(a: float | None, b: float | None) -> str:  # lags start near 0: a ratio says little
            return "-" if a is None or b is None else f"{b - a:+.2f} s"

        lines.append(
            f"{smaller.size} -> {larger.size} releases (x{factor:.2f}): lag p50"
            f" {change(smaller.lag_p50, larger.lag_p50)}, p99 {change(smaller.lag_p99, larger.lag_p99)},"
            f" queries/s {growth(smaller.queries_per_second, larger.queries_per_second)},"
            f" CPU {growth(smaller.cpu_percent, larger.cpu_percent)},"
            f" peak RSS {growth(smaller.peak_rss_mib, larger.peak_rss_mib)}"
            f" ({(larger.peak_rss_mib - smaller.peak_rss_mib) / (larger.size - smaller.size):.2f} MiB and"
            f" {(larger.cpu_percent - smaller.cpu_percent) / (larger.size - smaller.size):.3f}% CPU per"
            " added release)"
        )
    for f in figures:
        if f.profile:
            lines += ["", f"profile at {f.size} releases: {f.profile}", *f.profile_summary]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=sizes, default=sizes("50,200,500"), help="releases at once (default: 50,200,500)"
    )
    parser.add_argument("--window", default="120s", help="measurement window per size (default: 120s)")
    parser.add_argument("--interval", default="10s", help="analysis interval of every release (default: 10s)")
    parser.add_argument(
        "--settle",
        default="20s",
        help="wait after every release was analysed by the new operator, before measuring (default: 20s)",
    )
    parser.add_argument("--replicas", type=int, default=1, help="pods per Deployment (default: 1)")
    parser.add_argument("--per-namespace", type=int, default=50, help="releases per namespace (default: 50)")
    parser.add_argument(
        "--setup-timeout",
        type=float,
        default=None,
        help="seconds for each wait of the setup (adoption, first analyses); default 120 + 1 per release",
    )
    parser.add_argument("--cleanup-timeout", type=float, default=180, help="seconds (default: 180)")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="auto",
        choices=("auto", "py-spy", "cprofile"),
        help="profile the operator: py-spy over each window (auto, if installed: pip install py-spy), or"
        " cProfile over the operator's whole run, main thread only",
    )
    parser.add_argument(
        "--clean", action="store_true", help="only remove what earlier runs left behind (after a crash)"
    )
    parser.add_argument("--json", type=pathlib.Path, help="also write the figures to this file as JSON")
    args = parser.parse_args()
    for text in (args.window, args.interval, args.settle):
        seconds(text)
    for name in ("KUBECONFIG", "RG_CLUSTER_DIR", "RG_PROMETHEUS_URL"):
        if not os.environ.get(name):
            sys.exit(f'bench-scale: {name} not set: eval "$(hack/cluster env)"')
    kubernetes.config.load_kube_config()
    if args.clean:
        remove(RUN_LABEL, timeout=args.cleanup_timeout, say=print)
        return 0

    def interrupted(signum: int, frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-scale-"))
    bench = Bench(args, workdir=workdir)
    if args.profile == "auto":
        args.profile = "py-spy" if py_spy() else "cprofile"
    if args.profile == "py-spy" and not py_spy():
        sys.exit("bench-scale: py-spy is not installed (.venv/bin/pip install py-spy)")
    profiler = args.profile or "off"
    print(
        f"bench-scale: run {bench.run}, sizes {','.join(map(str, args.sizes))}, analysis interval"
        f" {args.interval}, window {args.window}, settle {args.settle}, {args.replicas} replica(s) per"
        f" Deployment, {args.per_namespace} releases per namespace, one step at {STEP_WEIGHT}% for 12h,"
        f" {len(METRICS)} threshold metrics per release, image {IMAGE}:{STABLE_TAG} -> {NEW_TAG} on fake node"
        f" {bench.node}; profile {profiler}; {os.cpu_count()} CPUs; operator at {revision()}; work dir"
        f" {workdir}",
        flush=True,
    )
    figures: list[Figures] = []
    failed = False
    try:
        bench.prepare()
        for size in args.sizes:
            figures.append(bench.measure_size(size))
            f = figures[-1]
            bench.say(
                f"size {size}: lag p50 {show(f.lag_p50, ' s')} p99 {show(f.lag_p99, ' s')},"
                f" {f.queries_per_second:.1f} queries/s, CPU {f.cpu_percent:.0f}%, peak RSS"
                f" {f.peak_rss_mib:.0f} MiB"
            )
    except KeyboardInterrupt:
        failed = True
        print("bench-scale: interrupted", file=sys.stderr)
    except Exception as error:
        failed = True
        print(f"bench-scale: failed: {type(error).__name__}: {error}", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the cleanup runs to its end
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            bench.cleanup()
        except Exception as error:
            failed = True
            print(f"bench-scale: cleanup failed: {type(error).__name__}: {error}", file=sys.stderr)
    if bench.releases is not None and bench.releases.errors:
        print(
            f"bench-scale: the watch on the releases met {len(bench.releases.errors)} errors, e.g."
            f" {bench.releases.errors[0]}",
            file=sys.stderr,
        )
    if figures:
        print("\n".join(report(figures)))
        print(f"\noperator log: {bench.operator.log_path}")
    if args.json and figures:
        args.json.write_text(json.dumps([dataclasses.asdict(f) for f in figures], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
