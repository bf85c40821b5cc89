"""Command line: `releaseguard` runs the operator and maintains its API; `kubectl-releaseguard` inspects."""

from __future__ import annotations

import argparse
import asyncio
import collections.abc
import datetime
import json
import pathlib
import random
import sys
import time
from typing import Any

import kopf

from releaseguard import logs, reports, telemetry
from releaseguard.analysis import replay
from releaseguard.kube import client
from releaseguard.models import crd
from releaseguard.rollout import observation


def main(argv: collections.abc.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="releaseguard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig or in-cluster")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)"
    )
    run.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint URL (default: %(default)s)",
    )
    run.add_argument(
        "--metrics-address",
        default="0.0.0.0:8081",
        metavar="HOST:PORT",
        help="serve the operator's metrics on http://HOST:PORT/metrics (default: %(default)s)",
    )
    run.add_argument(
        "--peering",
        metavar="NAME",
        help="run as one of several replicas peering through the kopf peering object NAME: the replica "
        "started first acts, the others wait and take over when it stops",
    )
    run.add_argument(
        "--log-format",
        type=logs.Format,
        choices=list(logs.Format),
        default=logs.Format.AUTO,
        help="JSON lines or text; auto is text on a terminal, else JSON (default: %(default)s)",
    )
    run.add_argument(
        "--pod-address-map",
        type=pathlib.Path,
        help="JSON file mapping pod IPs to host:port for synthetic checks, where pod IPs are not routable",
    )
    run.add_argument(
        "--default-notifications",
        metavar="NAMESPACE/NAME",
        help="a ConfigMap whose notifications.yaml lists the routes of releases that name none; their "
        "Secrets are read in NAMESPACE",
    )
    run.add_argument(
        "--keep-reports",
        type=int,
        default=reports.KEEP,
        metavar="N",
        help="validation reports kept per ReleaseValidation, the newest (default: %(default)s)",
    )
    run.add_argument("-v", "--verbose", action="store_true")

    crds = commands.add_parser("crds", help="write the CRD generated from the models to each PATH")
    crds.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    crds.add_argument("paths", nargs="+")

    judge = commands.add_parser(
        "judge",
        help="replay recorded scenarios through the operator's judges; one JSON line per FILE",
        description="Each FILE is a scenario (see the README): one metric's canary and baseline data per "
        "interval. The judge looks at every interval on the data so far and stops at the first Fail.",
    )
    judge.add_argument("files", nargs="+", metavar="FILE")

    args = parser.parse_args(argv)
    if args.command == "judge":
        return judge_files(args.files)
    if args.command == "run":
        return run_operator(
            namespaces=args.namespace,
            liveness=args.liveness,
            metrics_address=args.metrics_address,
            peering=args.peering,
            log_format=args.log_format,
            verbose=args.verbose,
            pod_address_map=args.pod_address_map,
            default_notifications=args.default_notifications,
            keep_reports=max(1, args.keep_reports),
        )
    return crd.write_or_check(paths=args.paths, check=args.check)


def judge_files(files: collections.abc.Sequence[str]) -> int:
    """Print one line per file, in order; a file that cannot be judged gets an `error` line and exit 1."""
    failed = False
    for file in files:
        try:
            scenario = replay.Scenario.model_validate_json(pathlib.Path(file).read_bytes())
            line = replay.as_json(file, replay.replay(scenario))
        except (OSError, ValueError) as error:  # pydantic.ValidationError is a ValueError
            failed = True
            line = {"file": file, "error": _one_line(error)}
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def run_operator(
    *,
    namespaces: list[str],
    liveness: str,
    metrics_address: str,
    peering: str | None,
    log_format: logs.Format,
    verbose: bool,
    pod_address_map: pathlib.Path | None,
    default_notifications: str | None = None,
    keep_reports: int = reports.KEEP,
) -> int:
    # Importing the handlers registers them with kopf.
    from releaseguard.handlers import release_validation  # noqa: F401

    logs.configure(log_format=log_format, verbose=verbose)
    telemetry.serve(metrics_address)
    kopf.run(
        standalone=peering is None,
        peering_name=peering,
        priority=peering_priority(time.time_ns()) if peering else None,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=liveness,
        memo=kopf.Memo(
            pod_address_map=pod_address_map,
            default_notifications=default_notifications,
            keep_reports=keep_reports,
            namespaced=bool(namespaces),
        ),
    )
    return 0


def peering_priority(started_ns: int) -> int:
    """Earlier starts rank higher, so a replica that joins never preempts the one acting.

    kopf pauses every operator that sees a peer of higher or equal priority, so equal priorities would
    leave the cluster unserved: the low digits are random to break ties between replicas started in the
    same microsecond.
    """
    return (_PRIORITY_EPOCH_END_US - started_ns // 1000) * 1000 + random.randrange(1000)


# Microseconds since 1970 at the start of 2100: priorities stay positive until then.
_PRIORITY_EPOCH_END_US = 4_102_444_800 * 1_000_000


def kubectl_plugin(argv: collections.abc.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubectl releaseguard", description="Inspect and steer releases.")
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("get", help="list ReleaseValidations with their phase and conditions")
    get.add_argument("name", nargs="?")
    scope = get.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace")
    scope.add_argument("-A", "--all-namespaces", action="store_true")
    for request in observation.Request:
        verb = commands.add_parser(request.value, help=_REQUEST_HELP[request])
        verb.add_argument("name")
        verb.add_argument("-n", "--namespace")
    report = commands.add_parser("report", help="print the latest validation report (Markdown)")
    report.add_argument("name")
    report.add_argument("-n", "--namespace")
    report.add_argument("--html", metavar="FILE", help="write the report's HTML page to FILE instead")
    args = parser.parse_args(argv)

    kube = client.Kube.from_environment()
    try:
        if args.command == "get":
            namespace = None if args.all_namespaces else (args.namespace or client.current_namespace())
            objects = asyncio.run(kube.list_release_validations(namespace=namespace, name=args.name))
            print(format_table(objects))
            return 0
        if args.command == "report":
            return print_report(
                kube, namespace=args.namespace or client.current_namespace(), name=args.name, html=args.html
            )
        request = observation.Request(args.command)
        namespace = args.namespace or client.current_namespace()
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        asyncio.run(
            kube.annotate_release_validation(
                namespace=namespace, name=args.name, annotations={request.annotation: stamp}
            )
        )
        print(f"releasevalidation.{crd.GROUP}/{args.name} {request.value} requested")
        return 0
    except client.KubeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        kube.close()


def print_report(kube: client.Kube, *, namespace: str, name: str, html: str | None) -> int:
    """The newest report of `name`, as Markdown on stdout or as HTML into a file."""
    maps = asyncio.run(
        kube.list_config_maps(namespace=namespace, label_selector=f"{reports.REPORT_LABEL}={name}")
    )
    if not maps:
        found = asyncio.run(kube.list_release_validations(namespace=namespace, name=name))
        what = "has no report yet" if found else "not found"
        print(f"error: releasevalidation {namespace}/{name} {what}", file=sys.stderr)
        return 1
    newest = max(maps, key=lambda item: item["metadata"].get("creationTimestamp") or "")
    data = newest.get("data") or {}
    if html is None:
        print(data.get("report.md", ""), end="")
        return 0
    pathlib.Path(html).write_text(data.get("report.html", ""))
    print(f"wrote {html} from ConfigMap {newest['metadata']['name']}")
    return 0


_REQUEST_HELP = {
    observation.Request.PROMOTE: "skip the remaining steps (or the rest of the bake) and promote",
    observation.Request.ABORT: "roll the release back now",
    observation.Request.RETRY: "release a template that was rolled back and is held",
    observation.Request.PAUSE: "hold the canary at its current step",
    observation.Request.RESUME: "continue a paused release",
}


def format_table(objects: collections.abc.Sequence[dict[str, Any]]) -> str:
    """One line per ReleaseValidation, with the message of its least healthy condition."""
    header = ("NAMESPACE", "NAME", "TARGET", "PHASE", "WEIGHT", "VERDICT", "MESSAGE")
    rows = [header]
    for obj in objects:
        spec, status = obj.get("spec", {}), obj.get("status") or {}
        failing = [c for c in status.get("conditions", []) if c.get("status") != "True"]
        rows.append(
            (
                obj["metadata"]["namespace"],
                obj["metadata"]["name"],
                spec.get("targetRef", {}).get("name", ""),
                status.get("phase", ""),
                str(status.get("canaryWeight", "")),
                status.get("verdict") or "",
                failing[0].get("message", "") if failing else status.get("message", ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )
