"""Pod emulator: one real local process of the demo app for every Running and Ready demo pod.

KWOK marks pods Running and Ready on a fake node but runs nothing in them. To give Prometheus something to
scrape and the load generator something to call, this program mirrors each demo pod (first container image
``.../releaseguard-demo:<tag>``) with a process of ``app.py`` on 127.0.0.1, and publishes:

* ``<state-dir>/prometheus-targets/demo-pods.json``: Prometheus file_sd targets carrying the pod's labels the
  way ``kubernetes_sd`` plus ``labelmap: __meta_kubernetes_pod_label_(.+)`` would, so queries select canary
  and baseline pods by pod label exactly as they would on a real cluster;
* ``<state-dir>/pods.json``: pod IP and ``namespace/name`` -> local port, so other tools reach "the pod".
* ``<state-dir>/pod-addresses.json``: pod UID -> ``127.0.0.1:port``, the operator's ``--pod-address-map``
  (by UID, not IP: a new pod may get the IP of one whose process is still stopping).

A process is published only once it accepts connections, and both files are replaced atomically, so a
reader never sees a half-written file or a port nobody listens on.

Children are killed with the emulator even on SIGKILL (``PR_SET_PDEATHSIG``) and they stay in the
emulator's process group, so stopping the emulator never leaves stray processes.
"""

from __future__ import annotations

import argparse
import collections.abc
import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time imported only where the cluster is used, so the pure tests start fast
    import kubernetes

LOG = logging.getLogger("emulator")

DEMO_REPOSITORY = "releaseguard-demo"
APP = Path(__file__).resolve().with_name("app.py")
HOST = "127.0.0.1"
TARGETS_FILE = Path("prometheus-targets") / "demo-pods.json"
PODS_FILE = Path("pods.json")
ADDRESSES_FILE = Path("pod-addresses.json")
# Labels set from pod fields, plus the ones Prometheus itself sets: a pod label must never replace them.
RESERVED_LABELS = frozenset({"namespace", "pod", "pod_template_hash", "node", "pod_ip", "job", "instance"})
STOP_GRACE_SECONDS = 5.0
START_TIMEOUT_SECONDS = 60.0
"""How long a child may take to listen before it counts as hung. Generous: on a loaded machine the app's
imports alone can take 20 s, and killing a child that is still starting only starts the same work over."""
MAX_BACKOFF_SECONDS = 30.0
TICK_SECONDS = 0.5
WATCH_TIMEOUT_SECONDS = 60
PR_SET_PDEATHSIG = 1


# ---------------------------------------------------------------------------------------------------------
# Pure part: what should run, and what to publish.


@dataclasses.dataclass(frozen=True, order=True)
class PodKey:
    """A pod incarnation: a re-created pod with the same name is a different pod."""

    namespace: str
    name: str
    uid: str

    @property
    def ref(self) -> str:
        """``namespace/name``, the way humans and pods.json refer to a pod."""
        return f"{self.namespace}/{self.name}"


@dataclasses.dataclass(frozen=True)
class DemoPod:
    """The facts about a demo pod that the emulator needs, detached from the API object."""

    key: PodKey
    image_tag: str
    node: str
    pod_ip: str
    labels: tuple[tuple[str, str], ...]


def split_image(image: str) -> tuple[str, str]:
    """Split an image reference into repository and tag (``latest`` if none); a digest is dropped.

    The tag is after the last ``:`` only if that colon follows the last ``/``, since a registry may carry a
    port (``registry:5000/app``).
    """
    reference = image.split("@", 1)[0]
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"


def is_demo_repository(repository: str) -> bool:
    """True for ``releaseguard-demo`` under any registry or path, not for ``my-releaseguard-demo``."""
    return repository.rsplit("/", 1)[-1] == DEMO_REPOSITORY


def is_running_and_ready(pod: collections.abc.Mapping[str, Any]) -> bool:
    """Running, Ready=True and not being deleted: the pods kube-proxy would send traffic to."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    conditions = status.get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def demo_pod(pod: collections.abc.Mapping[str, Any]) -> DemoPod | None:
    """The demo pod to emulate for an API pod (camelCase dict), or None if nothing should run for it."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers or not is_running_and_ready(pod):
        return None
    repository, tag = split_image(containers[0].get("image") or "")
    if not is_demo_repository(repository):
        return None
    metadata = pod.get("metadata") or {}
    return DemoPod(
        key=PodKey(
            namespace=metadata.get("namespace", ""),
            name=metadata.get("name", ""),
            uid=metadata.get("uid", ""),
        ),
        image_tag=tag,
        node=(pod.get("spec") or {}).get("nodeName") or "",
        pod_ip=(pod.get("status") or {}).get("podIP") or "",
        labels=tuple(sorted((metadata.get("labels") or {}).items())),
    )


def sanitize_label_name(name: str) -> str:
    """A Kubernetes label name as a Prometheus label name, as kubernetes_sd does (``a.b/c-d`` -> ``a_b_c_d``).

    A leading digit gets a ``_`` prefix, because Prometheus label names may not start with one.
    """
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return f"_{cleaned}" if cleaned[:1].isdigit() else cleaned


def target_labels(pod: DemoPod) -> dict[str, str]:
    """Labels of a pod's scrape target: pod labels (labelmap style) overlaid by the pod's own fields.

    Labels are applied in name order, so if two names sanitise alike the later one wins, deterministically.
    """
    labels: dict[str, str] = {}
    for name, value in pod.labels:
        prom_name = sanitize_label_name(name)
        if prom_name and prom_name not in RESERVED_LABELS and not prom_name.startswith("__"):
            labels[prom_name] = value
    labels.update(namespace=pod.key.namespace, pod=pod.key.name, node=pod.node, pod_ip=pod.pod_ip)
    template_hash = dict(pod.labels).get("pod-template-hash")
    if template_hash is not None:
        labels["pod_template_hash"] = template_hash
    return labels


def file_sd_document(published: collections.abc.Iterable[tuple[DemoPod, int]]) -> list[dict[str, Any]]:
    """The file_sd JSON for the published processes: one target group per pod, in a stable order."""
    return [
        {"targets": [f"{HOST}:{port}"], "labels": target_labels(pod)}
        for pod, port in sorted(published, key=lambda item: item[0].key)
    ]


def pods_index(published: collections.abc.Iterable[tuple[DemoPod, int]]) -> dict[str, dict[str, Any]]:
    """pods.json: each process under its pod IP and under ``namespace/name``."""
    index: dict[str, dict[str, Any]] = {}
    for pod, port in sorted(published, key=lambda item: item[0].key):
        entry = {
            "port": port,
            "namespace": pod.key.namespace,
            "pod": pod.key.name,
            "uid": pod.key.uid,
            "pod_ip": pod.pod_ip,
            "image_tag": pod.image_tag,
        }
        index[pod.key.ref] = entry
        if pod.pod_ip:
            index[pod.pod_ip] = entry
    return index


def pod_addresses(published: collections.abc.Iterable[tuple[DemoPod, int]]) -> dict[str, str]:
    """pod-addresses.json: where to dial each pod, by UID, for `releaseguard run --pod-address-map`."""
    return {pod.key.uid: f"{HOST}:{port}" for pod, port in sorted(published, key=lambda item: item[0].key)}


@dataclasses.dataclass(frozen=True)
class Plan:
    """What to change so the running processes match the desired pods."""

    stop: tuple[PodKey, ...]
    start: tuple[DemoPod, ...]


def plan(
    desired: collections.abc.Mapping[PodKey, DemoPod], running: collections.abc.Mapping[PodKey, str]
) -> Plan:
    """Diff desired pods against running processes (key -> image tag).

    A pod whose image tag changed in place (``kubectl set image`` on a bare pod) is stopped and started
    again with the new tag, as the kubelet restarts the container.
    """
    stop = [key for key, tag in running.items() if key not in desired or desired[key].image_tag != tag]
    start = [pod for key, pod in desired.items() if key not in running or key in stop]
    return Plan(stop=tuple(sorted(stop)), start=tuple(sorted(start, key=lambda pod: pod.key)))


def stop_reason(running: DemoPod, desired: DemoPod | None) -> str:
    """Why a process is stopped, for the log."""
    if desired is None:
        return "pod deleted, not Ready or replaced"
    return f"image tag changed {running.image_tag} -> {desired.image_tag}"


def restart_backoff(failures: int) -> float:
    """Seconds to wait before restarting a child that failed ``failures`` times in a row."""
    return float(min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** max(0, failures - 1)))


# ---------------------------------------------------------------------------------------------------------
# Files.


def atomic_write_json(path: Path, document: Any) -> None:
    """Replace ``path`` with ``document`` so readers see the old or the new file, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Publisher:
    """Writes both files, and only when their content changes (Prometheus re-reads on every change)."""

    def __init__(self, state_dir: Path) -> None:
        self._targets = state_dir / TARGETS_FILE
        self._pods = state_dir / PODS_FILE
        self._addresses = state_dir / ADDRESSES_FILE
        self._last: list[tuple[DemoPod, int]] | None = None

    def publish(self, published: list[tuple[DemoPod, int]]) -> None:
        """Write the files for this set of ready processes unless nothing changed."""
        published = sorted(published, key=lambda item: item[0].key)
        if published == self._last:
            return
        atomic_write_json(self._targets, file_sd_document(published))
        atomic_write_json(self._pods, pods_index(published))
        atomic_write_json(self._addresses, pod_addresses(published))
        self._last = published


# ---------------------------------------------------------------------------------------------------------
# Child processes.


def free_port(exclude: collections.abc.Container[int]) -> int:
    """A port on 127.0.0.1 that nothing listens on now and that no child of ours uses."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in exclude:
            return port


def accepts_connections(port: int) -> bool:
    """True once the child listens; used to publish only processes that can answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.1)
        return sock.connect_ex((HOST, port)) == 0


def die_with_parent() -> collections.abc.Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the emulator dies, however it dies.

    libc is loaded here, before fork, so the child only makes one system call. The death signal is tied to
    the thread that forks, so children must be started from the main thread (they are).
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the emulator died before prctl took effect
            os._exit(1)

    return preexec


@dataclasses.dataclass(eq=False)  # identity semantics: children are dict keys while being stopped
class Child:
    """One emulated pod: its process (None while waiting to restart) and its restart bookkeeping."""

    pod: DemoPod
    port: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ready: bool = False
    failures: int = 0
    restart_at: float = 0.0


class Supervisor:
    """Starts, watches, restarts and stops the app processes; runs on the main thread only."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._children: dict[PodKey, Child] = {}
        self._preexec = die_with_parent()

    def reconcile(self, desired: collections.abc.Mapping[PodKey, DemoPod]) -> None:
        """Match the processes to ``desired``, restart dead ones, publish the ready ones."""
        changes = plan(desired, {key: child.pod.image_tag for key, child in self._children.items()})
        if changes.stop:
            stopping = [self._children.pop(key) for key in changes.stop]
            self._stop({child: stop_reason(child.pod, desired.get(child.pod.key)) for child in stopping})
        for pod in changes.start:
            self._children[pod.key] = Child(pod=pod, port=free_port(self._ports()))
        for key, pod in desired.items():
            self._children[key].pod = pod  # labels may change without a restart
        now = time.monotonic()
        for child in self._children.values():
            self._check(child, now)
        self._publisher.publish([(c.pod, c.port) for c in self._children.values() if c.ready])

    def stop_all(self) -> None:
        """Stop every child, e.g. on shutdown, and publish the empty set."""
        children, self._children = list(self._children.values()), {}
        self._stop(dict.fromkeys(children, "emulator stopping"))
        self._publisher.publish([])

    def _ports(self) -> set[int]:
        return {child.port for child in self._children.values()}

    def _check(self, child: Child, now: float) -> None:
        """Start a child that is due, mark one ready once it listens, restart one that died or hangs."""
        if child.process is None:
            if now >= child.restart_at:
                try:
                    self._spawn(child, now)
                except OSError as error:  # e.g. out of processes: retry later rather than die
                    LOG.warning("cannot start %s: %s", child.pod.key.ref, error)
                    self._schedule_restart(child, now)
            return
        code = child.process.poll()
        if code is not None:
            pid = child.process.pid
            LOG.warning("exited %s pid=%d port=%d code=%d", child.pod.key.ref, pid, child.port, code)
            child.process = None
        elif child.ready:
            return
        elif accepts_connections(child.port):
            child.ready, child.failures = True, 0
            return
        elif now - child.started < START_TIMEOUT_SECONDS:
            return
        else:
            self._stop({child: f"not listening after {START_TIMEOUT_SECONDS:.0f}s"})
        self._schedule_restart(child, now)

    def _schedule_restart(self, child: Child, now: float) -> None:
        """Back off exponentially; a child that never came up gets a new port in case its port was taken."""
        child.failures += 1
        delay = restart_backoff(child.failures)
        if not child.ready:
            child.port = free_port(self._ports())
        child.ready, child.restart_at = False, now + delay
        LOG.warning("restart %s in %.1fs on port %d", child.pod.key.ref, delay, child.port)

    def _spawn(self, child: Child, now: float) -> None:
        command = [sys.executable, str(APP), "--port", str(child.port), "--image-tag", child.pod.image_tag]
        child.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=self._preexec,  # one prctl call; see die_with_parent
        )
        child.started, child.ready = now, False
        pod = child.pod
        LOG.info(
            "start %s uid=%s tag=%s pod_ip=%s port=%d pid=%d",
            pod.key.ref,
            pod.key.uid,
            pod.image_tag,
            pod.pod_ip,
            child.port,
            child.process.pid,
        )

    def _stop(self, reasons: dict[Child, str]) -> None:
        """SIGTERM all, wait up to the grace period together, then SIGKILL what is left."""
        running = [child for child in reasons if child.process is not None]
        for child in running:
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                child.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            pod, pid, code = child.pod, child.process.pid, child.process.returncode
            LOG.info(
                "stop %s uid=%s port=%d pid=%d code=%s: %s",
                pod.key.ref,
                pod.key.uid,
                child.port,
                pid,
                code,
                reasons[child],
            )
            child.process = None


# ---------------------------------------------------------------------------------------------------------
# Watching pods.


class PodStore:
    """Desired demo pods by uid, fed by the watch thread and read by the main thread."""

    def __init__(self, changed: threading.Event) -> None:
        self._lock = threading.Lock()
        self._pods: dict[str, DemoPod] = {}
        self._changed = changed

    def replace(self, pods: collections.abc.Iterable[collections.abc.Mapping[str, Any]]) -> None:
        """Take a full list: pods deleted while the watch was down disappear here."""
        fresh = {pod.key.uid: pod for pod in map(demo_pod, pods) if pod is not None}
        with self._lock:
            self._pods = fresh
        self._changed.set()

    def apply(self, event_type: str, pod: collections.abc.Mapping[str, Any]) -> None:
        """Apply one watch event."""
        uid = (pod.get("metadata") or {}).get("uid", "")
        wanted = demo_pod(pod) if event_type != "DELETED" else None
        with self._lock:
            if wanted is None:
                self._pods.pop(uid, None)
            else:
                self._pods[uid] = wanted
        self._changed.set()

    def snapshot(self) -> dict[PodKey, DemoPod]:
        """The desired set as of now."""
        with self._lock:
            return {pod.key: pod for pod in self._pods.values()}


def watch_pods(api_client: kubernetes.client.ApiClient, store: PodStore) -> None:
    """List, then watch from the list's resourceVersion; re-list after 410 Gone or any error. Never returns.

    The typed client objects are turned back into API-shaped dicts, so the pure functions above read the
    same camelCase JSON as ``kubectl get -o json`` shows, and their tests need no client.
    """
    import kubernetes

    core = kubernetes.client.CoreV1Api(api_client)
    failures = 0
    while True:
        try:
            listed = core.list_pod_for_all_namespaces(_request_timeout=30)
            store.replace(_as_dict(api_client, pod) for pod in listed.items)
            resource_version = listed.metadata.resource_version if listed.metadata else None
            failures = 0
            while resource_version:
                resource_version = _watch_once(core, resource_version, store)
        except kubernetes.client.ApiException as error:
            if error.status != 410:
                failures += 1
            LOG.warning("pod watch: %s %s; re-listing", error.status, error.reason)
        except Exception as error:
            failures += 1
            LOG.warning("pod watch: %s: %s; re-listing", type(error).__name__, error)
        time.sleep(min(10.0, float(failures)))


def _as_dict(api_client: kubernetes.client.ApiClient, obj: object) -> dict[str, Any]:
    """A client model as the API's JSON (camelCase keys, timestamps as strings)."""
    document: dict[str, Any] = api_client.sanitize_for_serialization(obj)
    return document


def _watch_once(core: kubernetes.client.CoreV1Api, resource_version: str, store: PodStore) -> str:
    """One watch request, bounded by a server-side timeout; returns the resourceVersion to resume from.

    A 410 Gone arrives as an ApiException (the client does not retry when a timeout is set).
    """
    import kubernetes

    watcher = kubernetes.watch.Watch()
    stream = watcher.stream(
        core.list_pod_for_all_namespaces,
        resource_version=resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=WATCH_TIMEOUT_SECONDS,
        _request_timeout=WATCH_TIMEOUT_SECONDS + 30,
    )
    for event in stream:
        if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            store.apply(event["type"], _as_dict(core.api_client, event["object"]))
    latest: str | None = watcher.resource_version
    return latest or resource_version


# ---------------------------------------------------------------------------------------------------------
# Main.


def parse_args(argv: collections.abc.Sequence[str] | None) -> argparse.Namespace:
    """Command line of the emulator."""
    parser = argparse.ArgumentParser(description="Run one local demo-app process per Ready demo pod.")
    parser.add_argument("--state-dir", type=Path, required=True, help="where pods.json and targets go")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    return parser.parse_args(argv)


def main(argv: collections.abc.Sequence[str] | None = None) -> int:
    """Emulate until SIGTERM or SIGINT, then stop every child and publish empty files."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s emulator %(message)s", stream=sys.stderr)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retries repeat what the watch loop logs
    import kubernetes

    kubernetes.config.load_kube_config(config_file=args.kubeconfig)
    api_client = kubernetes.client.ApiClient()

    wake, stopping = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        stopping.set()
        wake.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    supervisor = Supervisor(Publisher(args.state_dir))
    supervisor.stop_all()  # start from empty files, never from a previous run's ports
    store = PodStore(wake)
    threading.Thread(target=watch_pods, args=(api_client, store), name="pod-watch", daemon=True).start()
    LOG.info("watching pods; state in %s", args.state_dir)
    try:
        while not stopping.is_set():
            supervisor.reconcile(store.snapshot())
            wake.wait(TICK_SECONDS)
            wake.clear()
    finally:
        supervisor.stop_all()
        LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
