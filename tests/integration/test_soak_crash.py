"""The crash-consistency soak, small: two seeded releases (one promoted, one rolled back) with SIGKILLs.

`hack/soak-crash` runs its own operator over namespaces of its own prefix, so it needs neither the suite's
operator nor its namespaces; the full soak (`hack/soak-crash`, 30 runs by default) is run by hand.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.integration import conftest

# An even seed is a healthy release, the next one a bad one, each with its own kill moments.
SEED = 20


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("cluster_env")
def test_two_releases_survive_operator_kills() -> None:
    # In a session of its own, so that a timeout takes the soak's operator and load generators with it.
    process = subprocess.Popen(
        [str(conftest.REPO / "hack" / "soak-crash"), "--runs", "2", "--seed", str(SEED), "--parallel", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=280)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"hack/soak-crash took over 280 s:\n{output[-4000:]}")
    assert process.returncode == 0, output[-4000:]
    assert "soak-crash: 2 runs, " in output, output[-4000:]
    print(output)  # the runs, their kills and the figures, shown with -s
