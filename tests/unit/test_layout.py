"""The source folder `operator/` must never become a package that shadows the standard library."""

import operator
import pathlib
import sysconfig

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_stdlib_operator_is_not_shadowed() -> None:
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert operator.__file__ is not None
    assert pathlib.Path(operator.__file__).resolve().is_relative_to(stdlib)
    assert operator.add(2, 3) == 5


def test_source_folder_is_not_a_package() -> None:
    assert not (REPO / "operator" / "__init__.py").exists()
    assert (REPO / "operator" / "releaseguard" / "__init__.py").exists()
