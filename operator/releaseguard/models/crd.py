"""The ReleaseValidation CustomResourceDefinition, generated from the models.

Hand-kept CRD copies drift from the code that reads the objects; here the CRD is a function of the
models, and `--check` (run by the tests and CI) fails with a diff when a committed copy is stale.

    python -m releaseguard.models.crd crds/releaseguard.io_releasevalidations.yaml [more copies...]
    python -m releaseguard.models.crd --check crds/releaseguard.io_releasevalidations.yaml
"""

from __future__ import annotations

import argparse
import difflib
import os
import pathlib
import sys
from collections.abc import Sequence

import yaml

from releaseguard.models import schema, v1alpha1

GROUP = "releaseguard.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ReleaseValidation"
LIST_KIND = "ReleaseValidationList"
PLURAL = "releasevalidations"
SINGULAR = "releasevalidation"
SHORT_NAMES = ("rv",)
CATEGORIES = ("releaseguard",)
NAME = f"{PLURAL}.{GROUP}"

DEFAULT_PATH = pathlib.Path("crds") / f"{GROUP}_{PLURAL}.yaml"
HEADER = '# Generated from operator/releaseguard/models by "make crds" — do not edit.\n'

_DESCRIPTION = (
    "ReleaseValidation guards the releases of one Deployment: each new pod template runs as a canary"
    " through spec.steps while its metrics and synthetic checks are compared with the stable pods, and is"
    " promoted or rolled back on the evidence."
)

_PRINTER_COLUMNS = (
    {"name": "Target", "type": "string", "jsonPath": ".spec.targetRef.name", "description": "The Deployment"},
    {
        "name": "Phase",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "Where the release stands",
    },
    {
        "name": "Weight",
        "type": "integer",
        "jsonPath": ".status.canaryWeight",
        "description": "Percent of Ready pods on the canary",
    },
    {"name": "Verdict", "type": "string", "jsonPath": ".status.verdict", "description": "Latest analysis"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def open_api_schema() -> schema.JsonDict:
    """The structural schema of a whole ReleaseValidation object."""
    return {
        "type": "object",
        "description": _DESCRIPTION,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _structural(v1alpha1.ReleaseValidationSpec),
            "status": _structural(v1alpha1.ReleaseValidationStatus),
        },
        "required": ["spec"],
    }


def _structural(model: type[schema.KubeModel]) -> schema.JsonDict:
    return schema.structural(model.model_json_schema(by_alias=True, mode="validation"))


def definition() -> schema.JsonDict:
    """The CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/part-of": "releaseguard"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": LIST_KIND,
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(column) for column in _PRINTER_COLUMNS],
                    "schema": {"openAPIV3Schema": open_api_schema()},
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings as literal blocks, lines never folded, no anchors."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render() -> str:
    """The CRD file's text: the header, then the YAML, keys sorted so the output is stable."""
    body = yaml.dump(definition(), Dumper=_Dumper, sort_keys=True, width=10_000, allow_unicode=True)
    return HEADER + body


def write_or_check(*, paths: Sequence[str | os.PathLike[str]], check: bool) -> int:
    """Write the CRD to every path (only where it differs), or with `check` write nothing and print a diff
    for every stale path. Returns the exit status: 1 if a checked file was stale, else 0."""
    wanted = render()
    stale = 0
    for path in map(pathlib.Path, paths):
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == wanted:
            continue
        if check:
            stale += 1
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    wanted.splitlines(keepends=True),
                    fromfile=str(path),
                    tofile=f"{path} (generated)",
                )
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"{stale} CRD file(s) out of date; run `make crds`", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m releaseguard.models.crd", description="Write the ReleaseValidation CRD."
    )
    parser.add_argument("--check", action="store_true", help="write nothing; fail with a diff if stale")
    parser.add_argument("paths", nargs="*", default=[DEFAULT_PATH], metavar="OUT_PATH")
    args = parser.parse_args(argv)
    return write_or_check(paths=args.paths, check=args.check)


if __name__ == "__main__":
    raise SystemExit(main())
