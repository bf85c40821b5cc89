"""Command line: `releaseguard` runs the operator and maintains its API (the kubectl plugin is `plugin`)."""

from __future__ import annotations

import argparse
import collections.abc
import json
import pathlib
import random
import time

import kopf

from releaseguard import logs, reports, telemetry
from releaseguard.analysis import replay
from releaseguard.models import crd


def main(argv: collections.abc.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="releaseguard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig or in-cluster")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable); a pattern such as 'team-*' or '!kube-system' needs the "
        "right to list namespaces",
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
        help="JSON file mapping pod UIDs to host:port for synthetic checks, where pod IPs are not routable",
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
            fixed_namespaces=bool(namespaces) and not any(set(name) & set("*?[!,") for name in namespaces),
        ),
    )
    return 0


def peering_priority(started_ns: int) -> int:
    """Earlier starts rank higher, so a replica that joins never preempts the one acting.

    kopf pauses every operator that sees a peer of higher or equal priority, so equal priorities would
    leave the cluster unserved: the low digits are random to break ties between replicas started in the
    same millisecond. Priorities stay below 2**53, exact in any JSON reader.
    """
    return (_PRIORITY_EPOCH_END_MS - started_ns // 1_000_000) * 1000 + random.randrange(1000)


# Milliseconds since 1970 at the start of 2100: priorities stay positive until then.
_PRIORITY_EPOCH_END_MS = 4_102_444_800 * 1000
