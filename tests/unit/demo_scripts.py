"""hack/demo holds scripts, not a package: the unit tests load them by path under names that cannot clash."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import types

DEMO = pathlib.Path(__file__).resolve().parents[2] / "hack" / "demo"


def load(name: str) -> types.ModuleType:
    module_name = f"releaseguard_demo_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, DEMO / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
