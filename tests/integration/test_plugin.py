"""`kubectl releaseguard` as a user runs it: through kubectl, against a release on the local cluster."""

from __future__ import annotations

import itertools
import os
import pathlib
import re
import subprocess
import time

import pytest

from tests.integration import conftest
from tests.integration.test_release import rv, wait_for_phase

pytestmark = [pytest.mark.usefixtures("operator_process"), pytest.mark.timeout(300)]

BIN = conftest.REPO / ".venv" / "bin"
PLUGIN = str(BIN / "kubectl-releaseguard")
COMPLETE = str(BIN / "kubectl_complete-releaseguard")
COMMAND_TIMEOUT = 30
"""Seconds for one start of the plugin or of bash: its imports alone take seconds on a busy machine."""


def release_validation() -> str:
    """Short steps judged by an error-rate threshold and a synthetic check: a healthy release passes both
    from the first evaluation, so it goes through in well under a minute."""
    return f"""
apiVersion: releaseguard.io/v1alpha1
kind: ReleaseValidation
metadata: {{name: guard}}
spec:
  targetRef: {{kind: Deployment, name: demo}}
  service: demo
  steps: [{{weight: 25, duration: 10s}}, {{weight: 50, duration: 10s}}]
  analysis:
    interval: 5s
    failureLimit: 2
    prometheus: {{url: "{os.environ["RG_PROMETHEUS_URL"]}"}}
    metrics:
      - name: error-rate
        kind: ratio
        errors: sum(increase(http_requests_total{{code=~"5..",{{{{ selector }}}}}}[{{{{ window }}}}]))
        total: sum(increase(http_requests_total{{{{{{ selector }}}}}}[{{{{ window }}}}]))
        judge: {{type: threshold, max: 0.02}}
    syntheticChecks:
      - name: checkout-journey
        http: {{path: /api/checkout, method: POST, expect: {{status: 200}}}}
"""


def environment(**changes: str) -> dict[str, str]:
    """The test's environment with the venv's bin first on PATH, so that kubectl finds the plugin."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **changes}


def plugin(*args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [PLUGIN, *args], capture_output=True, text=True, timeout=30, check=False, env=environment(**env)
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl-releaseguard {' '.join(args)}: {result.stderr}")
    return result


def field(view: str, label: str) -> str:
    [found] = [line for line in view.splitlines() if line.startswith(f"{label}:")]
    return found.removeprefix(f"{label}:").strip()


@pytest.mark.usefixtures("load")
def test_following_a_healthy_release_through_kubectl(
    kubectl: conftest.Kubectl, namespace: str, tmp_path: pathlib.Path
) -> None:
    kubectl.apply(release_validation(), namespace=namespace)
    wait_for_phase(kubectl, namespace, "Idle", timeout=30)

    # kubectl finds the plugin on PATH and hands it the arguments.
    listed = subprocess.run(
        ["kubectl", "releaseguard", "list", "-n", namespace],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=environment(),
    ).stdout.splitlines()
    assert listed[0].split() == ["NAMESPACE", "NAME", "TARGET", "PHASE", "WEIGHT", "VERDICT", "MESSAGE"]
    assert listed[1].split()[:4] == [namespace, "guard", "demo", "Idle"]
    assert plugin("get", "-n", namespace).stdout.splitlines()[1].split()[:4] == listed[1].split()[:4]
    view = plugin("get", "guard", "-n", namespace).stdout
    assert field(view, "Phase") == "Idle"
    assert field(view, "Target") == "Deployment/demo, Service demo"
    assert re.fullmatch(
        r"[0-9a-f]+ releaseguard-demo:1\.0 \(ReplicaSet demo-[0-9a-z]+\)", field(view, "Stable")
    )
    assert "\x1b" not in view  # not a terminal: no colour
    assert "\x1b[32mIdle" in plugin("get", "guard", "-n", namespace, "--color=always").stdout

    watched = tmp_path / "watch.txt"
    started = time.monotonic()
    with watched.open("w") as output:
        watch = subprocess.Popen(
            [PLUGIN, "get", "guard", "-n", namespace, "--watch", "--until-done", "--timeout", "3m"],
            stdout=output,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
        )
        try:
            conftest.eventually(lambda: watched.stat().st_size, timeout=10, what="the first view")
            kubectl.run("set", "image", "deployment/demo", "app=releaseguard-demo:1.1", "-n", namespace)
            wait_for_phase(kubectl, namespace, "Progressing", timeout=30)
            # Pause holds the canary where it is; resume lets it go on.
            assert plugin("pause", "guard", "-n", namespace).stdout.strip() == (
                "releasevalidation.releaseguard.io/guard pause requested"
            )
            wait_for_phase(kubectl, namespace, "Paused", timeout=30)
            plugin("resume", "guard", "-n", namespace)
            wait_for_phase(kubectl, namespace, "Progressing", timeout=30)
            _, errors = watch.communicate(timeout=150)
        finally:
            watch.kill()
            watch.wait()
    took = time.monotonic() - started
    assert watch.returncode == 0, errors
    assert rv(kubectl, namespace)["status"]["phase"] == "Succeeded"

    # Not a terminal: every change printed once, one view after another, no screen clearing.
    text = watched.read_text()
    assert "\x1b" not in text
    views = [view.strip() for view in re.split(r"^(?=Name:)", text, flags=re.MULTILINE) if view]
    assert len(views) >= 4
    assert all(earlier != later for earlier, later in itertools.pairwise(views))
    phases = [field(view, "Phase") for view in views]
    assert phases[0] == "Idle"
    assert phases[-1] == "Succeeded"
    assert {"Progressing", "Paused"} <= set(phases)
    steps = {field(view, "Step").split(",")[0] for view in views if "\nStep:" in view}
    assert {"1/2: 25% for at least 10s", "2/2: 50% for at least 10s"} <= steps
    assert "releaseguard-demo:1.1" in field(views[-1], "Stable")
    print(f"watched the release for {took:.1f}s through {len(views)} views")


def test_completion(kubectl: conftest.Kubectl, namespace: str) -> None:
    kubectl.apply(release_validation(), namespace=namespace)

    script = plugin("completion", "bash").stdout
    subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=COMMAND_TIMEOUT)

    # kubectl's own convention: the words after `kubectl releaseguard`, then a directive line.
    names = subprocess.run(
        [COMPLETE, "get", "-n", namespace, ""],
        capture_output=True,
        text=True,
        check=True,
        timeout=COMMAND_TIMEOUT,
    ).stdout.splitlines()
    assert names == ["guard", ":4"]
    through_kubectl = subprocess.run(
        ["kubectl", "__complete", "releaseguard", "pause", "-n", namespace, "g"],
        capture_output=True,
        text=True,
        check=True,
        timeout=COMMAND_TIMEOUT,
        env=environment(),
    ).stdout.splitlines()
    assert through_kubectl == ["guard", ":4"]

    # The bash script, sourced, completes `kubectl-releaseguard` typed directly.
    def bash_complete(*words: str) -> list[str]:
        program = (
            f"source <({PLUGIN} completion bash)\n"
            f"COMP_WORDS=(kubectl-releaseguard {' '.join(words)} ''); COMP_CWORD={len(words) + 1}\n"
            '_kubectl_releaseguard; printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        result = subprocess.run(
            ["bash", "-c", program],
            capture_output=True,
            text=True,
            check=True,
            timeout=COMMAND_TIMEOUT,
            env=environment(),
        )
        return result.stdout.split()

    assert bash_complete() == [
        "list",
        "get",
        "promote",
        "abort",
        "retry",
        "pause",
        "resume",
        "report",
        "completion",
    ]
    assert bash_complete("abort", "-n", namespace) == ["guard"]


def test_errors_are_one_line_and_quick(
    kubectl: conftest.Kubectl, namespace: str, tmp_path: pathlib.Path
) -> None:
    kubectl.apply(release_validation(), namespace=namespace)
    missing = f"error: releasevalidation {namespace}/nosuch not found"
    for args in (["get", "nosuch"], ["pause", "nosuch"], ["report", "nosuch"]):
        result = plugin(*args, "-n", namespace, check=False)
        assert (result.returncode, result.stderr.strip()) == (1, missing), args

    # A watch that runs out of time says so.
    started = time.monotonic()
    result = plugin("get", "guard", "-n", namespace, "--until-done", "--timeout", "2s", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: timed out after 2s waiting for it to finish: releasevalidation ")
    assert time.monotonic() - started < 10

    # A cluster that does not answer, and no cluster at all.
    port = conftest.free_port()
    closed = tmp_path / "closed.kubeconfig"
    kubeconfig = pathlib.Path(os.environ["KUBECONFIG"]).read_text()
    closed.write_text(re.sub(r"https://127\.0\.0\.1:\d+", f"https://127.0.0.1:{port}", kubeconfig))
    for env, expected in (
        ({"KUBECONFIG": str(closed)}, f"error: cannot reach the cluster at https://127.0.0.1:{port}: "),
        ({"KUBECONFIG": str(tmp_path / "absent"), "HOME": str(tmp_path)}, "error: no cluster to talk to: "),
    ):
        for args in (["get", "guard"], ["resume", "guard"]):
            started = time.monotonic()
            result = plugin(*args, check=False, **env)
            assert result.returncode == 1
            assert result.stderr.startswith(expected), result.stderr
            assert len(result.stderr.splitlines()) == 1  # no traceback
            assert time.monotonic() - started < 10
