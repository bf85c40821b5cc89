"""The Helm chart on the real apiserver: it lints, renders what the apiserver accepts in both RBAC modes,
installs an operator whose pods become Ready under the restricted Pod Security Standard, and grants its
ServiceAccount exactly enough: the real operator, logged in with that account's token, runs a release."""

from __future__ import annotations

import collections.abc
import contextlib
import json
import os
import pathlib
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest
import yaml

from tests.integration import conftest
from tests.integration.test_release import start_release, wait_for_phase

pytestmark = pytest.mark.timeout(300)

CHART = conftest.REPO / "charts" / "releaseguard"
MANIFESTS = conftest.REPO / "charts" / "manifests"
PEERING = "releaseguard"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["helm", *args], capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def namespaced_values(*namespaces: str) -> tuple[str, ...]:
    return ("--set", "rbac.scope=namespaced", "--set", f"watchNamespaces={{{','.join(namespaces)}}}")


@pytest.fixture
def new_namespace(kubectl: conftest.Kubectl) -> collections.abc.Iterator[collections.abc.Callable[[], str]]:
    """Makes further fresh namespaces; all are deleted after the test."""
    made: list[str] = []

    def make() -> str:
        name = f"rg-chart-{uuid.uuid4().hex[:8]}"
        kubectl.run("create", "namespace", name)
        made.append(name)
        return name

    yield make
    for name in made:
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.parametrize("values", [(), namespaced_values("shop", "payments")], ids=["cluster", "namespaced"])
def test_lint_is_clean(values: tuple[str, ...], cluster_env: dict[str, str]) -> None:
    result = helm("lint", "--strict", str(CHART), *values)
    complaints = [line for line in result.stdout.splitlines() if line.startswith(("[WARNING]", "[ERROR]"))]
    assert not complaints, result.stdout


def test_values_schema_rejects_a_namespaced_scope_without_namespaces(cluster_env: dict[str, str]) -> None:
    result = helm("template", "releaseguard", str(CHART), "--set", "rbac.scope=namespaced", check=False)
    assert result.returncode != 0
    assert "watchNamespaces" in result.stderr


def test_the_dashboard_queries_are_promql_that_prometheus_accepts(cluster_env: dict[str, str]) -> None:
    rejected = {}
    for expr in dashboard_queries():
        # Grafana's variables, as Grafana fills them in.
        query = expr.replace("$__rate_interval", "1m").replace("$__range", "1h").replace("$namespace", ".*")
        url = f"{cluster_env['RG_PROMETHEUS_URL']}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        try:
            with urllib.request.urlopen(url, timeout=10):
                pass
        except urllib.error.HTTPError as error:
            rejected[expr] = error.read().decode()
    assert not rejected, rejected


def test_plain_manifests_are_the_chart_rendered_now(
    tmp_path: pathlib.Path, cluster_env: dict[str, str]
) -> None:
    fresh = tmp_path / "install.yaml"
    subprocess.run(
        ["make", "-s", "manifests", f"MANIFESTS={fresh}"],
        cwd=conftest.REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    committed = MANIFESTS / "install.yaml"
    assert committed.read_text() == fresh.read_text(), f"{committed} is stale: run `make manifests`"


@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize("scope", ["cluster", "namespaced"])
def test_the_apiserver_accepts_the_rendered_chart(
    kubectl: conftest.Kubectl, namespace: str, new_namespace: collections.abc.Callable[[], str], scope: str
) -> None:
    # Pod Security admission warns about a workload whose pods the restricted standard would reject.
    kubectl.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    values: tuple[str, ...] = ()
    if scope == "namespaced":
        watched = (new_namespace(), new_namespace())
        values = (*namespaced_values(*watched), "--set", f"defaultNotifications={new_namespace()}/routes")
    rendered = helm("template", namespace, str(CHART), "--namespace", namespace, *values).stdout
    kinds = collections.Counter(doc["kind"] for doc in yaml.safe_load_all(rendered) if doc)
    if scope == "namespaced":
        assert not kinds.keys() & {"ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering"}, kinds
        # One Role each in the two watched namespaces and one to read the default notification routes.
        assert (kinds["Role"], kinds["RoleBinding"], kinds["KopfPeering"]) == (3, 3, 2), kinds
    else:
        assert kinds.keys() >= {"ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering"}, kinds
        assert not kinds.keys() & {"Role", "RoleBinding", "KopfPeering"}, kinds
    result = kubectl.run("apply", "--dry-run=server", "-f", "-", stdin=rendered)
    assert "Warning" not in result.stderr, result.stderr


@pytest.mark.usefixtures("crd")
def test_the_plain_manifests_apply_with_and_without_kustomize(kubectl: conftest.Kubectl) -> None:
    # A server-side dry run of a namespaced object needs its namespace to exist.
    header = next(yaml.safe_load_all((MANIFESTS / "install.yaml").read_text()))
    assert header["kind"] == "Namespace"
    kubectl.run("apply", "-f", "-", stdin=json.dumps(header))
    try:
        for source in ("-f", "-k"):
            path = MANIFESTS / "install.yaml" if source == "-f" else MANIFESTS
            result = kubectl.run("apply", "--dry-run=server", source, str(path))
            assert "Warning" not in result.stderr, result.stderr
            assert "deployment.apps/releaseguard created (server dry run)" in result.stdout
    finally:
        # Gone before the next run: nothing was created in it.
        kubectl.run("delete", "namespace", header["metadata"]["name"], "--timeout=60s", check=False)


@pytest.mark.exclusive  # its operator watches every namespace
@pytest.mark.usefixtures("crd", "without_the_session_operator")
def test_install_runs_two_ready_replicas_under_the_restricted_standard_and_the_role_suffices(
    kubectl: conftest.Kubectl, namespace: str, cluster_env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    kubectl.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    release = namespace  # cluster-scoped objects are named after the release: one per test run
    helm("install", release, str(CHART), "--namespace", namespace)
    try:
        deployment = f"{release}-releaseguard"
        kubectl.run("rollout", "status", f"deployment/{deployment}", "-n", namespace, "--timeout=90s")
        pods = json.loads(kubectl.run("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
        ready = [pod for pod in pods if _ready(pod)]
        assert len(ready) == 2, [pod["metadata"]["name"] for pod in pods]
        assert kubectl.get("clusterkopfpeering", PEERING, namespace=namespace) is not None
        assert kubectl.get("poddisruptionbudget", deployment, namespace=namespace) is not None

        # The ClusterRole lets the operator start cluster-wide: kopf's CRD watch, the peering, the listing.
        operator = conftest.Operator(
            cluster_dir=cluster_env["RG_CLUSTER_DIR"],
            log_path=tmp_path / "operator.log",
            args=("--all-namespaces", f"--peering={PEERING}"),
            env={**os.environ, "KUBECONFIG": str(token_kubeconfig(kubectl, namespace, deployment, tmp_path))},
        )
        operator.start()
        try:

            def peered() -> bool:
                found = kubectl.get("clusterkopfpeering", PEERING, namespace=namespace) or {}
                return bool(found.get("status"))

            conftest.eventually(peered, timeout=20, what="the operator in the peering object")
            metrics_url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
            with urllib.request.urlopen(metrics_url, timeout=5) as response:
                exposition = response.read().decode()
        finally:
            operator.stop()
        assert not forbidden(operator.log_path), forbidden(operator.log_path)
        # Every family the dashboard shows is one the operator serves (`# TYPE` lines exist without samples).
        served = set(re.findall(r"^# TYPE (\S+) ", exposition, re.MULTILINE))
        assert dashboard_families() <= served, dashboard_families() - served
    finally:
        helm("uninstall", release, "--namespace", namespace, "--wait", check=False)


@pytest.mark.usefixtures("crd", "without_the_session_operator", "load")
def test_namespaced_rbac_is_enough_for_a_release_and_no_more(
    kubectl: conftest.Kubectl,
    namespace: str,
    new_namespace: collections.abc.Callable[[], str],
    cluster_env: dict[str, str],
    tmp_path: pathlib.Path,
) -> None:
    watched, home, other = namespace, new_namespace(), new_namespace()
    helm("install", "releaseguard", str(CHART), "--namespace", home, *namespaced_values(watched))
    try:
        account = f"system:serviceaccount:{home}:releaseguard"
        cannot = [question for question in NEEDED if not can_i(kubectl, account, *question, "-n", watched)]
        assert not cannot, f"{account} cannot, in the watched namespace: {cannot}"
        places = {"WATCHED": watched, "OTHER": other}
        beyond = [q for q in NOT_GRANTED if can_i(kubectl, account, *(places.get(w, w) for w in q))]
        assert not beyond, f"{account} may: {beyond}"

        operator = conftest.Operator(
            cluster_dir=cluster_env["RG_CLUSTER_DIR"],
            log_path=tmp_path / "operator.log",
            args=("--namespace", watched, f"--peering={PEERING}", "--log-format=json"),
            env={**os.environ, "KUBECONFIG": str(token_kubeconfig(kubectl, home, "releaseguard", tmp_path))},
        )
        operator.start()
        try:
            start_release(kubectl, watched, image="1.1")
            wait_for_phase(kubectl, watched, "Succeeded")
            # Deleting it hands the target back and needs the operator, for the finalizer.
            kubectl.run("delete", "rv", "guard", "-n", watched, "--timeout=60s")
        finally:
            operator.stop()
        assert not forbidden(operator.log_path), forbidden(operator.log_path)
        reference = f"{watched}/guard"
        told = [line for line in json_lines(operator.log_path) if line.get("releasevalidation") == reference]
        assert told, "the operator logged in as the ServiceAccount acted on the release"
    finally:
        helm("uninstall", "releaseguard", "--namespace", home, "--wait", check=False)


# What the operator does in a watched namespace (kube/client.py, and kopf for it), as `kubectl auth can-i`
# asks it.
RV = "releasevalidations.releaseguard.io"
NEEDED = [
    *((verb, RV) for verb in ("get", "list", "watch", "patch")),
    ("patch", RV, "--subresource=status"),
    ("update", RV, "--subresource=finalizers"),
    *((verb, "deployments.apps") for verb in ("get", "create", "patch", "delete")),
    ("list", "replicasets.apps"),
    ("list", "pods"),
    ("get", "services"),
    ("get", "secrets"),
    *((verb, "configmaps") for verb in ("get", "list", "create", "update", "delete")),
    *((verb, "events") for verb in ("create", "list")),
    *((verb, "kopfpeerings.kopf.dev") for verb in ("list", "watch")),
    *((verb, f"kopfpeerings.kopf.dev/{PEERING}") for verb in ("get", "patch")),
]
# Beyond it: in the other namespace (OTHER), cluster-wide, or other verbs in the watched one (WATCHED).
NOT_GRANTED = [
    ("get", "secrets", "-n", "OTHER"),
    ("patch", "deployments.apps", "-n", "OTHER"),
    ("list", RV, "-n", "OTHER"),
    ("list", "secrets", "-A"),
    ("list", RV, "-A"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("list", "namespaces"),
    ("list", "clusterkopfpeerings.kopf.dev"),
    ("update", "deployments.apps", "-n", "WATCHED"),
    ("list", "secrets", "-n", "WATCHED"),
    ("delete", RV, "-n", "WATCHED"),
    ("patch", "kopfpeerings.kopf.dev/another", "-n", "WATCHED"),
    ("create", "roles.rbac.authorization.k8s.io", "-n", "WATCHED"),
]


def can_i(kubectl: conftest.Kubectl, account: str, *question: str) -> bool:
    result = kubectl.run("auth", "can-i", *question, f"--as={account}", check=False)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), result.stderr
    return answer == "yes"


def token_kubeconfig(
    kubectl: conftest.Kubectl, namespace: str, account: str, folder: pathlib.Path
) -> pathlib.Path:
    """A kubeconfig for the current cluster that logs in as the ServiceAccount, with a token of its own."""
    token = kubectl.run("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    current = json.loads(kubectl.run("config", "view", "--raw", "--minify", "-o", "json").stdout)
    cluster = dict(current["clusters"][0]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "cluster", "user": account}}],
        "current-context": account,
    }
    path = folder / f"{account}.kubeconfig"
    path.write_text(json.dumps(config))
    return path


FORBIDDEN = re.compile(r"\b403\b|forbidden|not enough permissions", re.IGNORECASE)


def forbidden(log: pathlib.Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if FORBIDDEN.search(line)]


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: its panels' and its variables' queries."""
    dashboard = json.loads((CHART / "dashboards" / "releaseguard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((\w+), *\w+\)", variable["definition"])
            assert found, variable["definition"]
            queries.append(found[1])
    assert queries
    return queries


def dashboard_families() -> set[str]:
    """The metric families the dashboard's queries read, as the operator's exposition names them."""
    names = {name for query in dashboard_queries() for name in re.findall(r"\breleaseguard_\w+", query)}
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in names}


def json_lines(log: pathlib.Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(line))
    return lines


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
