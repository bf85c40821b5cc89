"""Fixtures for tests on the real local cluster started by `hack/cluster up`.

Every test here is marked `cluster`. They fail, rather than skip, when the cluster is not there: a suite that
silently skips its Kubernetes tests would prove nothing.
"""

from __future__ import annotations

import collections.abc
import contextlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Any

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
# Each pytest process (each xdist worker too) names its namespaces with a prefix of its own and its operator
# watches only those, so runs side by side never handle each other's releases.
NAMESPACE_PREFIX = f"rg-{uuid.uuid4().hex[:6]}-"
DEMO_APP = REPO / "hack" / "demo" / "manifests" / "demo-app.yaml"
LOADGEN = REPO / "hack" / "demo" / "loadgen.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = pathlib.Path(__file__).parent
    for item in items:
        if here in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


class Kubectl:
    """kubectl against the local cluster, with JSON in and out."""

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def get(self, kind: str, name: str, *, namespace: str) -> dict[str, Any] | None:
        result = self.run("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        found: dict[str, Any] = json.loads(result.stdout)
        return found

    def apply(self, manifest: str, *, namespace: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-n", namespace, "-f", "-", stdin=manifest, check=check)


def eventually(
    probe: collections.abc.Callable[[], Any], *, timeout: float, interval: float = 0.5, what: str = ""
) -> Any:
    """Poll until `probe` returns something truthy; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last value: {last!r}")


@pytest.fixture(scope="session")
def cluster_env() -> dict[str, str]:
    required = ("KUBECONFIG", "RG_CLUSTER_DIR", "RG_PROMETHEUS_URL")
    missing = [name for name in required if not os.environ.get(name)]
    if missing:
        pytest.fail(f'{", ".join(missing)} not set: run `make integration` or eval "$(hack/cluster env)"')
    return {name: os.environ[name] for name in required}


@pytest.fixture(scope="session")
def kubectl(cluster_env: dict[str, str]) -> Kubectl:
    return Kubectl()


@pytest.fixture(scope="session")
def crd(cluster_env: dict[str, str]) -> None:
    """Every CRD of crds/ applied and served, by hack/apply-crds (it rides out the workers racing to create
    them)."""
    applied = subprocess.run(
        [str(REPO / "hack" / "apply-crds")], capture_output=True, text=True, timeout=120, check=False
    )
    if applied.returncode != 0:
        raise AssertionError(f"hack/apply-crds failed: {applied.stderr.strip()}")


def new_namespace_name() -> str:
    """A fresh name among this process's namespaces (the ones its operator watches)."""
    return f"{NAMESPACE_PREFIX}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def namespace(kubectl: Kubectl) -> collections.abc.Iterator[str]:
    name = new_namespace_name()
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Operator:
    """`releaseguard run` as a user starts it, against the local cluster; tests may kill and restart it.

    `args` replace the default scope (this process's namespaces); `env` replaces the environment (e.g. another
    KUBECONFIG). Each start listens on fresh ports: liveness on `liveness_port`, metrics on `metrics_port`.
    """

    def __init__(
        self,
        *,
        cluster_dir: str,
        log_path: pathlib.Path,
        args: collections.abc.Sequence[str] = ("--namespace", f"{NAMESPACE_PREFIX}*"),
        env: dict[str, str] | None = None,
    ) -> None:
        self.cluster_dir = cluster_dir
        self.log_path = log_path
        self.args = tuple(args)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.liveness_port = 0
        self.metrics_port = 0

    def start(self, *, wait: bool = True) -> None:
        self.liveness_port, self.metrics_port = free_port(), free_port()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(pathlib.Path(sys.executable).with_name("releaseguard")),
                    "run",
                    *self.args,
                    f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
                    f"--metrics-address=127.0.0.1:{self.metrics_port}",
                    f"--pod-address-map={self.cluster_dir}/pod-addresses.json",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        if wait:
            port = self.liveness_port
            eventually(lambda: _healthy(port), timeout=30, what="operator liveness endpoint")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no final status write, as when a node dies."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="session")
def operator_process(
    crd: None, cluster_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> collections.abc.Iterator[Operator]:
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    operator = Operator(cluster_dir=cluster_env["RG_CLUSTER_DIR"], log_path=log_path)
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
        print(f"operator log: {log_path}")


@pytest.fixture
def without_the_session_operator(operator_process: Operator) -> collections.abc.Iterator[None]:
    """The suite's operator ignores peering and would act beside an operator a test runs itself over the
    same namespaces: it sits such a test out."""
    operator_process.stop()
    try:
        yield
    finally:
        operator_process.start()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def demo_app(kubectl: Kubectl, namespace: str) -> str:
    """The demo Deployment (3 replicas of releaseguard-demo:1.0) and its Service, rolled out."""
    kubectl.apply(DEMO_APP.read_text(), namespace=namespace)
    kubectl.run("rollout", "status", "deployment/demo", "-n", namespace, "--timeout=90s")
    return namespace


@contextlib.contextmanager
def steady_load(
    *, namespace: str, state_dir: str, paths: str = "/=70,POST /api/checkout=30"
) -> collections.abc.Iterator[subprocess.Popen[bytes]]:
    """Steady requests to the demo Service's Ready endpoints, as kube-proxy would spread them."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(LOADGEN),
            f"--namespace={namespace}",
            "--service=demo",
            "--rps=40",
            f"--paths={paths}",
            "--duration=600",
            f"--state-dir={state_dir}",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def load(demo_app: str, cluster_env: dict[str, str]) -> collections.abc.Iterator[subprocess.Popen[bytes]]:
    with steady_load(namespace=demo_app, state_dir=cluster_env["RG_CLUSTER_DIR"]) as process:
        yield process
