"""The chart ships the CRDs of crds/: every file there has an identical copy in the chart, and the chart has
no CRD that crds/ lacks. `make crds` writes both; a hand edit of one copy fails here, naming the file."""

from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TOP = REPO / "crds"
CHART = REPO / "charts" / "releaseguard" / "crds"


def _names(folder: pathlib.Path) -> set[str]:
    return {path.name for path in folder.iterdir() if path.is_file()}


def test_the_chart_has_a_copy_of_every_crd_file_and_no_other() -> None:
    top, chart = _names(TOP), _names(CHART)
    assert top, f"no CRD files in {TOP}"
    assert not top - chart, f"missing from {CHART.relative_to(REPO)}: {sorted(top - chart)}; run `make crds`"
    assert not chart - top, f"in {CHART.relative_to(REPO)} but not in crds/: {sorted(chart - top)}"


@pytest.mark.parametrize("name", sorted(_names(TOP) | _names(CHART)))
def test_the_chart_copy_is_identical(name: str) -> None:
    top, chart = TOP / name, CHART / name
    if not (top.is_file() and chart.is_file()):
        pytest.fail(f"{name} is not in both crds/ and the chart; run `make crds`")
    assert top.read_bytes() == chart.read_bytes(), (
        f"{chart.relative_to(REPO)} differs from crds/{name}; run `make crds`"
    )
