"""`hack/cluster` on a second, throwaway cluster: `up` is idempotent and `down` leaves no process behind."""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

from tests.integration import conftest

CLUSTER = conftest.REPO / "hack" / "cluster"
PORT_VARIABLES = (
    "RG_ETCD_PORT",
    "RG_ETCD_PEER_PORT",
    "RG_APISERVER_PORT",
    "RG_KCM_PORT",
    "RG_SCHEDULER_PORT",
    "RG_KWOK_PORT",
    "RG_PROMETHEUS_PORT",
    "RG_ALERTMANAGER_PORT",
)


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline[:160]}")
    return found


@pytest.fixture
def second_cluster(tmp_path: pathlib.Path, cluster_env: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ, RG_CLUSTER_DIR=str(tmp_path / "cluster"))
    env.update({name: str(conftest.free_port()) for name in PORT_VARIABLES})
    return env


def run_cluster(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLUSTER), command], env=env, capture_output=True, text=True, timeout=180, check=True
    )


@pytest.mark.timeout(300)
def test_up_is_idempotent_and_down_stops_everything(second_cluster: dict[str, str]) -> None:
    state_dir = second_cluster["RG_CLUSTER_DIR"]
    try:
        first = run_cluster("up", second_cluster)
        assert "kube-apiserver" in first.stderr
        started = processes_mentioning(state_dir)
        assert len(started) >= 7, started

        run_cluster("up", second_cluster)
        assert sorted(processes_mentioning(state_dir)) == sorted(started)
        status = run_cluster("status", second_cluster).stdout
        assert "stopped" not in status
    finally:
        run_cluster("down", second_cluster)
    assert processes_mentioning(state_dir) == []
    assert "running" not in run_cluster("status", second_cluster).stdout
