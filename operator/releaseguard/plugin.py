"""`kubectl releaseguard`: see and steer releases from a terminal, the way `kubectl argo rollouts` does.

Everything shown is rendered by pure functions from the ReleaseValidation as the apiserver returns it (plain
dicts in, text out), so the views are tested without a cluster and show the status as the operator wrote
it, nothing inferred. `main` and `complete` are the thin I/O around them.

kubectl (1.26 and later) completes a plugin's arguments by running `kubectl_complete-<plugin>` with the words
typed so far and reading candidates, one a line, then Cobra's `:<directive>` line: `complete` is that
program, and `completion bash|zsh` prints scripts that use it for `kubectl-releaseguard` run directly.
"""

from __future__ import annotations

import argparse
import asyncio
import collections.abc
import dataclasses
import datetime
import enum
import os
import pathlib
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from releaseguard.kube import client
from releaseguard.models import crd, duration, v1alpha1
from releaseguard.rollout import observation

Phase, Verdict = v1alpha1.Phase, v1alpha1.Verdict

REQUEST_TIMEOUT = 5.0
"""Seconds to connect to the apiserver, and again to get an answer, before saying it cannot be reached."""
COMPLETION_TIMEOUT = 2.0
"""The same for completion: a slow cluster should cost a second at the TAB key, not hang the shell."""
POLL_SECONDS = 1.0
"""How often `get --watch` reads the ReleaseValidation again."""

ACTIVE_PHASES = frozenset(
    {Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING, Phase.BAKING, Phase.ROLLING_BACK}
)
"""A release is under way."""
FINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.ROLLED_BACK})
"""A release has ended, one way or the other."""


class Colour(enum.StrEnum):
    """ANSI SGR codes."""

    GREEN = "32"
    YELLOW = "33"
    RED = "31"
    BOLD = "1"


PHASE_COLOURS: Mapping[str, Colour] = {
    Phase.IDLE: Colour.GREEN,
    Phase.SUCCEEDED: Colour.GREEN,
    Phase.PROGRESSING: Colour.YELLOW,
    Phase.PAUSED: Colour.YELLOW,
    Phase.PROMOTING: Colour.YELLOW,
    Phase.BAKING: Colour.YELLOW,
    Phase.ROLLING_BACK: Colour.RED,
    Phase.ROLLED_BACK: Colour.RED,
    Phase.DEGRADED: Colour.RED,
}
VERDICT_COLOURS: Mapping[str, Colour] = {
    Verdict.PASS: Colour.GREEN,
    Verdict.INCONCLUSIVE: Colour.YELLOW,
    Verdict.FAIL: Colour.RED,
}


def paint(text: str, colour: Colour | None, *, enabled: bool) -> str:
    if not enabled or colour is None or not text:
        return text
    return f"\x1b[{colour}m{text}\x1b[0m"


def use_colour(choice: str, *, tty: bool, environ: Mapping[str, str]) -> bool:
    """--color: `always` and `never` mean it; `auto` colours a terminal unless NO_COLOR is set."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    return tty and not environ.get("NO_COLOR")


# --- views ------------------------------------------------------------------------------------------------


def format_table(objects: Sequence[Mapping[str, Any]], *, colour: bool = False) -> str:
    """One line per ReleaseValidation, with the message of its least healthy condition."""
    header = ("NAMESPACE", "NAME", "TARGET", "PHASE", "WEIGHT", "VERDICT", "MESSAGE")
    rows: list[Sequence[str]] = [header]
    for obj in objects:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        failing = [c for c in status.get("conditions") or [] if c.get("status") != "True"]
        weight = status.get("canaryWeight")
        rows.append(
            (
                obj["metadata"].get("namespace", ""),
                obj["metadata"]["name"],
                (spec.get("targetRef") or {}).get("name", ""),
                status.get("phase") or "",
                "" if weight is None else str(weight),
                status.get("verdict") or "",
                _one_line(failing[0].get("message", "") if failing else status.get("message") or ""),
            )
        )
    return "\n".join(_table(rows, colours={3: PHASE_COLOURS, 5: VERDICT_COLOURS}, enabled=colour))


def render_release(obj: Mapping[str, Any], *, colour: bool = False) -> str:
    """The detailed view of one ReleaseValidation: where its release stands and the evidence why."""
    metadata, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    namespace, name = metadata.get("namespace", ""), metadata["name"]
    lines: list[str] = []

    def field(label: str, value: str) -> None:
        lines.append(f"{label + ':':<{_LABEL_WIDTH}}{value}")

    field("Name", name)
    field("Namespace", namespace)
    target = spec.get("targetRef") or {}
    service = f", Service {spec['service']}" if spec.get("service") else ""
    field("Target", f"{target.get('kind', 'Deployment')}/{target.get('name', '')}{service}")
    phase = status.get("phase")
    field(
        "Phase",
        paint(phase, PHASE_COLOURS.get(phase), enabled=colour)
        if phase
        else "- (no status yet: is the operator running?)",
    )
    if status.get("message"):
        field("Message", _one_line(status["message"]))
    if (step := _step(spec, status)) is not None:
        field("Step", step)
    if phase == Phase.BAKING and (spec.get("bake") or {}).get("duration"):
        since = f", since {_time(status['stepStartedAt'])}" if status.get("stepStartedAt") else ""
        field("Bake", f"{spec['bake']['duration']}{since}")
    if status.get("canaryWeight") is not None:
        field("Weight", f"{status['canaryWeight']}%")
    if status.get("verdict"):
        field("Verdict", paint(status["verdict"], VERDICT_COLOURS.get(status["verdict"]), enabled=colour))
    for label, key in (("Stable", "stableRevision"), ("Canary", "canaryRevision")):
        if status.get(key):
            field(label, _revision(status[key]))
    if status.get("rejectedTemplateHash"):
        field("Rejected", f"{status['rejectedTemplateHash']} (held if applied again; `retry` releases it)")
    if decision := status.get("lastDecision"):
        reason, when = decision.get("reason", ""), _time(decision.get("time", ""))
        field("Decision", f"{reason} at {when}: {_one_line(decision.get('message', ''))}")
    if analysis := status.get("lastAnalysis"):
        lines += ["", *_analysis(analysis, spec.get("analysis") or {}, colour=colour)]
    if conditions := status.get("conditions"):
        lines += ["", "Conditions:", *_conditions(conditions)]
    if incident := status.get("incident"):
        lines += ["", *_incident(incident)]
    if status.get("report"):
        lines += ["", f"{'Report:':<{_LABEL_WIDTH}}ConfigMap {status['report']}"]
        lines.append(f"{'':<{_LABEL_WIDTH}}(kubectl releaseguard report {name} -n {namespace})")
    return "\n".join(lines)


_LABEL_WIDTH = 11


def _step(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str | None:
    steps, index = spec.get("steps") or [], status.get("currentStepIndex")
    if index is None or not steps:
        return None
    text = f"{index + 1}/{len(steps)}"
    if index < len(steps):
        step = steps[index]
        text += f": {step.get('weight')}% for at least {step.get('duration')}"
    if status.get("stepStartedAt"):
        text += f", since {_time(status['stepStartedAt'])}"
    return text


def _revision(revision: Mapping[str, Any]) -> str:
    images: Mapping[str, str] = revision.get("images") or {}
    if len(images) == 1:
        shown = next(iter(images.values()))
    else:
        shown = ", ".join(f"{container}={image}" for container, image in images.items())
    text = " ".join(part for part in (revision.get("templateHash", ""), shown) if part)
    if revision.get("replicaSet"):
        text += f" (ReplicaSet {revision['replicaSet']})"
    return text


def _analysis(analysis: Mapping[str, Any], spec: Mapping[str, Any], *, colour: bool) -> list[str]:
    fields = v1alpha1.Analysis.model_fields
    failure_limit = spec.get("failureLimit", fields["failure_limit"].default)
    inconclusive_limit = spec.get("inconclusiveLimit", fields["inconclusive_limit"].default)
    verdict = analysis.get("verdict", "")
    failed, inconclusive = analysis.get("consecutiveFailures", 0), analysis.get("consecutiveInconclusive", 0)
    head = (
        f"{'Analysis:':<{_LABEL_WIDTH}}{paint(verdict, VERDICT_COLOURS.get(verdict), enabled=colour)}"
        f" at {_time(analysis.get('time', ''))} (in a row: {failed}/{failure_limit} failed,"
        f" {inconclusive}/{inconclusive_limit} inconclusive)"
    )
    rows: list[Sequence[str]] = [("NAME", "VERDICT", "CANARY", "BASELINE", "MESSAGE")]
    for result in analysis.get("results") or []:
        rows.append(
            (
                result.get("name", ""),
                result.get("verdict", ""),
                _number(result.get("canary")),
                _number(result.get("baseline")),
                _one_line(result.get("message") or result.get("reason") or ""),
            )
        )
    if len(rows) == 1:
        return [head]
    return [head, *_table(rows, colours={1: VERDICT_COLOURS}, enabled=colour, indent="  ")]


def _conditions(conditions: Sequence[Mapping[str, Any]]) -> list[str]:
    rows: list[Sequence[str]] = [("TYPE", "STATUS", "REASON", "SINCE", "MESSAGE")]
    for condition in conditions:
        rows.append(
            (
                condition.get("type", ""),
                condition.get("status", ""),
                condition.get("reason", ""),
                _time(condition.get("lastTransitionTime", "")),
                _one_line(condition.get("message", "")),
            )
        )
    return _table(rows, colours={}, enabled=False, indent="  ")


def _incident(incident: Mapping[str, Any]) -> list[str]:
    when = f"opened {_time(incident.get('openedAt', ''))}"
    if incident.get("resolvedAt"):
        when += f", resolved {_time(incident['resolvedAt'])}"
    lines = [
        f"{'Incident:':<{_LABEL_WIDTH}}{incident.get('severity', '')} in the {incident.get('stage', '')}"
        f" of revision {incident.get('revision', '')}, {when}",
        f"  {_one_line(incident.get('summary', ''))}",
    ]
    impact = incident.get("impact") or {}
    if impact:
        text = (
            f"  impact: {_percent(impact.get('affectedShare'))} of requests hurt"
            f" (about {round(impact.get('affectedRequests') or 0)}),"
            f" {_percent(impact.get('trafficShare'))} of traffic on the revision"
        )
        if impact.get("businessDrop") is not None:
            text += f", business metrics {_percent(impact['businessDrop'])} worse"
        lines.append(text)
    lines += [f"  suspected: {_one_line(cause)}" for cause in incident.get("suspectedCause") or []]
    return lines


def _table(
    rows: Sequence[Sequence[str]],
    *,
    colours: Mapping[int, Mapping[str, Colour]],
    enabled: bool,
    indent: str = "",
) -> list[str]:
    """Columns padded to their widest cell (the last one not at all), then coloured, so that escape codes
    never upset the alignment."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [
            paint(cell, colours.get(column, {}).get(cell), enabled=enabled)
            + (" " * (widths[column] - len(cell)) if column < len(widths) else "")
            for column, cell in enumerate(row)
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.3g}%"


def _time(text: str) -> str:
    """An RFC 3339 time to the second, as kubectl shows them: `2026-05-04T10:00:07.123456Z` -> `...:07Z`."""
    head, dot, rest = text.partition(".")
    if not dot:
        return text
    zone = rest.lstrip("0123456789")
    return head + zone


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- following a release ----------------------------------------------------------------------------------


def release_finished(phases: collections.abc.Iterable[str | None]) -> bool:
    """Whether the phases seen, oldest first, show a release that ran and ended.

    A final phase seen before any active one is the outcome of an earlier release: waiting for "done" from
    Succeeded would end before the release just started had been noticed at all.
    """
    under_way = False
    for phase in phases:
        if phase in ACTIVE_PHASES:
            under_way = True
        elif phase in FINAL_PHASES and under_way:
            return True
    return False


# --- command line -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Flag:
    names: tuple[str, ...]
    help: str
    metavar: str | None = None
    """The value's name, for flags that take one."""
    choices: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verb:
    help: str
    argument: str | None = None
    """NAME for a ReleaseValidation's name; another metavar for `choices`."""
    optional: bool = False
    choices: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()


_NAMESPACE = Flag(names=("-n", "--namespace"), help="the namespace (default: the context's)", metavar="NS")
_ALL = Flag(names=("-A", "--all-namespaces"), help="ReleaseValidations in every namespace")
_COLOUR = Flag(
    names=("--color",),
    help="colour phases and verdicts: auto on a terminal unless NO_COLOR is set (default: auto)",
    metavar="WHEN",
    choices=("auto", "always", "never"),
)
_SHELLS = ("bash", "zsh")
_REQUEST_HELP = {
    observation.Request.PROMOTE: "skip the remaining steps (or the rest of the bake) and promote",
    observation.Request.ABORT: "roll the release back now",
    observation.Request.RETRY: "release a template that was rolled back and is held",
    observation.Request.PAUSE: "hold the canary at its current step",
    observation.Request.RESUME: "continue a paused release",
}
VERBS: Mapping[str, Verb] = {
    "list": Verb(
        help="list ReleaseValidations: phase, weight, verdict and why", flags=(_NAMESPACE, _ALL, _COLOUR)
    ),
    "get": Verb(
        help="show one release in detail: steps, revisions, the last analysis, conditions (no NAME: list)",
        argument="NAME",
        optional=True,
        flags=(
            _NAMESPACE,
            _ALL,
            Flag(names=("-w", "--watch"), help="show it again whenever it changes, until Ctrl-C"),
            Flag(
                names=("--until-done",),
                help="with --watch: exit once the release, seen under way, has Succeeded or RolledBack",
            ),
            Flag(
                names=("--timeout",), help="with --watch: give up after DURATION, exit 1", metavar="DURATION"
            ),
            _COLOUR,
        ),
    ),
    **{
        request.value: Verb(help=_REQUEST_HELP[request], argument="NAME", flags=(_NAMESPACE,))
        for request in observation.Request
    },
    "report": Verb(
        help="print the latest validation report (Markdown)",
        argument="NAME",
        flags=(
            _NAMESPACE,
            Flag(names=("--html",), help="write the report's HTML page to FILE instead", metavar="FILE"),
        ),
    ),
    "completion": Verb(
        help="print a completion script for kubectl-releaseguard (see the README for `kubectl releaseguard`)",
        argument="SHELL",
        choices=_SHELLS,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl releaseguard", description="See and steer releases.")
    parser.add_argument(*_NAMESPACE.names, metavar=_NAMESPACE.metavar, help=_NAMESPACE.help)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb_name, verb in VERBS.items():
        sub = verbs.add_parser(verb_name, help=verb.help, description=verb.help)
        if verb.argument is not None:
            sub.add_argument(
                verb.argument.lower(),
                metavar=verb.argument,
                nargs="?" if verb.optional else None,
                choices=verb.choices or None,
            )
        for flag in verb.flags:
            if flag.metavar is None:
                sub.add_argument(*flag.names, action="store_true", help=flag.help)
            else:
                # SUPPRESS: an unset -n after the verb must not undo a -n given before it.
                default = argparse.SUPPRESS if flag is _NAMESPACE else None
                sub.add_argument(
                    *flag.names,
                    metavar=flag.metavar,
                    choices=flag.choices or None,
                    default=default,
                    help=flag.help,
                )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "all_namespaces", False) and args.namespace:
        parser.error("-n/--namespace and -A/--all-namespaces exclude each other")
    timeout: datetime.timedelta | None = None
    if args.verb == "get":
        if args.until_done or args.timeout:
            args.watch = True
        if args.watch and (args.name is None or args.all_namespaces):
            parser.error("--watch follows one ReleaseValidation: name it (get NAME --watch)")
        if args.timeout:
            try:
                timeout = duration.parse(args.timeout)
            except duration.DurationError as error:
                parser.error(f"--timeout: {error}")
        if args.name is not None and args.all_namespaces:
            parser.error("a ReleaseValidation cannot be shown by name across all namespaces")
    if args.verb == "completion":
        print(completion_script(args.shell), end="")
        return 0
    try:
        kube = client.Kube.from_environment(timeout=REQUEST_TIMEOUT)
    except client.KubeError as error:
        return _fail(str(error))
    try:
        return _run(kube, args, timeout=timeout)
    except client.Unreachable as error:
        return _fail(f"cannot reach the cluster at {error.host}: {error.cause}")
    except (_Missing, client.KubeError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return 130
    finally:
        kube.close()


class _Missing(Exception):
    """The ReleaseValidation asked for does not exist."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(f"{crd.SINGULAR} {namespace}/{name} not found")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _run(kube: client.Kube, args: argparse.Namespace, *, timeout: datetime.timedelta | None) -> int:
    tty = sys.stdout.isatty()
    namespace: str = args.namespace or client.current_namespace()
    if args.verb in ("list", "get"):
        colour = use_colour(args.color or "auto", tty=tty, environ=os.environ)
        if args.verb == "get" and args.name is not None:
            if args.watch:
                return _watch(
                    kube,
                    namespace=namespace,
                    name=args.name,
                    until_done=args.until_done,
                    timeout=timeout,
                    colour=colour,
                    tty=tty,
                )
            print(
                render_release(asyncio.run(_read(kube, namespace=namespace, name=args.name)), colour=colour)
            )
            return 0
        scope = None if args.all_namespaces else namespace
        objects = asyncio.run(_list(kube, namespace=scope))
        if not objects:
            where = "any namespace" if scope is None else f"{scope} namespace"
            print(f"No ReleaseValidations found in {where}.", file=sys.stderr)
            return 0
        print(format_table(objects, colour=colour))
        return 0
    if args.verb == "report":
        return _print_report(kube, namespace=namespace, name=args.name, html=args.html)
    request = observation.Request(args.verb)
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    try:
        asyncio.run(
            kube.annotate_release_validation(
                namespace=namespace, name=args.name, annotations={request.annotation: stamp}
            )
        )
    except client.NotFound:
        raise _Missing(namespace, args.name) from None
    print(f"{crd.SINGULAR}.{crd.GROUP}/{args.name} {request.value} requested")
    return 0


async def _list(kube: client.Kube, *, namespace: str | None, name: str | None = None) -> list[dict[str, Any]]:
    try:
        return await kube.list_release_validations(namespace=namespace, name=name)
    except client.NotFound:
        raise client.KubeError(
            f"the {crd.KIND} API is not installed in this cluster: kubectl apply -f crds/"
        ) from None


async def _read(kube: client.Kube, *, namespace: str, name: str) -> dict[str, Any]:
    found = await _list(kube, namespace=namespace, name=name)
    if not found:
        raise _Missing(namespace, name)
    return found[0]


_CLEAR = "\x1b[H\x1b[2J"


def _watch(
    kube: client.Kube,
    *,
    namespace: str,
    name: str,
    until_done: bool,
    timeout: datetime.timedelta | None,
    colour: bool,
    tty: bool,
) -> int:
    """Show the release again each time its view changes: in place on a terminal, else one after another."""

    async def follow() -> int:
        deadline = None if timeout is None else time.monotonic() + timeout.total_seconds()
        shown: str | None = None
        phases: list[str | None] = []
        failing = False
        while True:
            try:
                obj: dict[str, Any] | None = await _read(kube, namespace=namespace, name=name)
                failing = False
            except client.KubeError as error:
                # Once the release was shown, an apiserver restarting or a network blip is no reason to stop
                # following it; a release deleted, or a cluster never reached, still ends the watch.
                if shown is None or isinstance(error, client.NotFound | client.NotConfigured):
                    raise
                if not failing:
                    print(f"warning: {error}; trying again every {POLL_SECONDS:g}s", file=sys.stderr)
                obj, failing = None, True
            if obj is not None:
                view = render_release(obj, colour=colour)
                if view != shown:
                    sys.stdout.write((_CLEAR if tty else "" if shown is None else "\n") + view + "\n")
                    sys.stdout.flush()
                    shown = view
                phase = (obj.get("status") or {}).get("phase")
                if not phases or phases[-1] != phase:
                    phases.append(phase)
                if until_done and release_finished(phases):
                    return 0
            if deadline is not None and time.monotonic() >= deadline:
                waited = duration.render(timeout or datetime.timedelta())
                doing = "waiting for it to finish" if until_done else "watching"
                return _fail(
                    f"timed out after {waited} {doing}: {crd.SINGULAR} {namespace}/{name} is {phases[-1]}"
                )
            pause = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
            await asyncio.sleep(max(pause, 0))

    try:
        return asyncio.run(follow())
    except KeyboardInterrupt:
        return 0


def _print_report(kube: client.Kube, *, namespace: str, name: str, html: str | None) -> int:
    """The newest report of `name`, as Markdown on stdout or as HTML into a file."""
    # Imported here: the report writer brings the charting and analysis code, seconds of start-up that
    # every other verb (and each TAB) would pay for nothing.
    from releaseguard import reports

    maps = asyncio.run(
        kube.list_config_maps(namespace=namespace, label_selector=f"{reports.REPORT_LABEL}={name}")
    )
    if not maps:
        asyncio.run(_read(kube, namespace=namespace, name=name))
        return _fail(f"{crd.SINGULAR} {namespace}/{name} has no report yet")
    newest = max(maps, key=lambda item: item["metadata"].get("creationTimestamp") or "")
    data = newest.get("data") or {}
    if html is None:
        print(data.get("report.md", ""), end="")
        return 0
    pathlib.Path(html).write_text(data.get("report.html", ""))
    print(f"wrote {html} from ConfigMap {newest['metadata']['name']}")
    return 0


# --- completion -------------------------------------------------------------------------------------------

NO_FILE_COMPLETION = 4
"""Cobra's ShellCompDirectiveNoFileComp: offer only the candidates given, never file names."""
DEFAULT_COMPLETION = 0
"""Cobra's ShellCompDirectiveDefault: the shell may offer file names when no candidate fits."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Typed:
    """The words after `kubectl releaseguard`, as far as completion needs them."""

    verb: str | None
    arguments: tuple[str, ...]
    """Positional words after the verb."""
    namespace: str | None
    """The value of -n/--namespace, if typed."""
    flag: str | None
    """The flag whose value is being typed, if any."""
    current: str
    """The word being completed (maybe empty)."""


def read_typed(words: Sequence[str]) -> Typed:
    """Split what was typed; the last word is the one being completed."""
    *done, current = list(words) or [""]
    verb: str | None = None
    arguments: list[str] = []
    namespace: str | None = None
    pending: str | None = None
    for word in done:
        if pending is not None:
            if pending in _NAMESPACE.names:
                namespace = word
            pending = None
        elif word.startswith("--") and "=" in word:
            flag, _, value = word.partition("=")
            namespace = value if flag == "--namespace" else namespace
        elif word.startswith("-n") and len(word) > 2:
            namespace = word[2:]
        elif word.startswith("-"):
            pending = word if word in _VALUED_FLAGS else None
        elif verb is None:
            verb = word
        else:
            arguments.append(word)
    return Typed(verb=verb, arguments=tuple(arguments), namespace=namespace, flag=pending, current=current)


_VALUED_FLAGS = {
    name for verb in VERBS.values() for flag in verb.flags if flag.metavar is not None for name in flag.names
}


def wants_names(typed: Typed) -> bool:
    """Whether the word being completed is a ReleaseValidation's name, to be looked up in the cluster."""
    verb = VERBS.get(typed.verb or "")
    return (
        verb is not None
        and verb.argument == "NAME"
        and typed.flag is None
        and not typed.arguments
        and not typed.current.startswith("-")
    )


def candidates(typed: Typed, *, names: Sequence[str] = ()) -> tuple[list[str], int]:
    """Cobra's completion lines (`candidate` or `candidate<TAB>description`) and directive."""
    verb = VERBS.get(typed.verb or "")
    if typed.flag is not None:
        flag = next((f for verb in VERBS.values() for f in verb.flags if typed.flag in f.names), None)
        if flag is not None and flag.metavar == "FILE":
            return [], DEFAULT_COMPLETION
        return _matching(flag.choices if flag else (), typed.current), NO_FILE_COMPLETION
    if typed.current.startswith("-"):
        if "=" in typed.current:
            return [], NO_FILE_COMPLETION
        flags = verb.flags if verb is not None else ()
        return _matching([f"{name}\t{flag.help}" for flag in flags for name in flag.names], typed.current), (
            NO_FILE_COMPLETION
        )
    if typed.verb is None:
        return _matching([f"{name}\t{verb.help}" for name, verb in VERBS.items()], typed.current), (
            NO_FILE_COMPLETION
        )
    if verb is None or verb.argument is None or typed.arguments:
        return [], NO_FILE_COMPLETION
    offered = names if verb.argument == "NAME" else verb.choices
    return _matching(sorted(offered), typed.current), NO_FILE_COMPLETION


def _matching(lines: collections.abc.Iterable[str], prefix: str) -> list[str]:
    return [line for line in lines if line.startswith(prefix)]


def complete(argv: Sequence[str] | None = None) -> int:
    """`kubectl_complete-releaseguard WORD...`: what kubectl runs when completing `kubectl releaseguard`."""
    typed = read_typed(sys.argv[1:] if argv is None else argv)
    names: list[str] = []
    if wants_names(typed):
        names = _names(typed.namespace)
    lines, directive = candidates(typed, names=names)
    print("\n".join([*lines, f":{directive}"]))
    return 0


def _names(namespace: str | None) -> list[str]:
    """The ReleaseValidations' names in `namespace` (or the context's); none when the cluster cannot say."""
    try:
        kube = client.Kube.from_environment(timeout=COMPLETION_TIMEOUT)
    except client.KubeError:
        return []
    try:
        objects = asyncio.run(
            kube.list_release_validations(namespace=namespace or client.current_namespace())
        )
    except client.KubeError:
        return []
    finally:
        kube.close()
    return [obj["metadata"]["name"] for obj in objects]


def completion_script(shell: str) -> str:
    """A script that completes `kubectl-releaseguard` with `kubectl_complete-releaseguard`'s answers."""
    return {"bash": _BASH, "zsh": _ZSH}[shell]


_BASH = r"""# bash completion for kubectl-releaseguard:  source <(kubectl-releaseguard completion bash)
# (`kubectl releaseguard` is completed by kubectl itself, from kubectl_complete-releaseguard.)
_kubectl_releaseguard() {
    local current=${COMP_WORDS[COMP_CWORD]} line directive=0
    local -a lines
    COMPREPLY=()
    mapfile -t lines < <(kubectl_complete-releaseguard "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    for line in "${lines[@]}"; do
        case $line in
            :*) directive=${line#:} ;;
            *)
                line=${line%%$'\t'*}
                [[ $line == "$current"* ]] && COMPREPLY+=("$line")
                ;;
        esac
    done
    if (( ${#COMPREPLY[@]} == 0 && (directive & 4) == 0 )); then
        mapfile -t COMPREPLY < <(compgen -f -- "$current")
    fi
}
complete -F _kubectl_releaseguard kubectl-releaseguard
"""

_ZSH = r"""#compdef kubectl-releaseguard
# zsh completion for kubectl-releaseguard:  source <(kubectl-releaseguard completion zsh)
# (`kubectl releaseguard` is completed by kubectl itself, from kubectl_complete-releaseguard.)
_kubectl_releaseguard() {
    local -a lines described
    local line name directive=0
    lines=("${(@f)$(kubectl_complete-releaseguard "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    for line in "${lines[@]}"; do
        if [[ $line == :* ]]; then
            directive=${line#:}
        elif [[ -n $line ]]; then
            name=${line%%$'\t'*}
            name=${name//:/\\:}
            if [[ $line == *$'\t'* ]]; then
                described+=("$name:${line#*$'\t'}")
            else
                described+=("$name")
            fi
        fi
    done
    if (( ${#described} )); then
        _describe -t releaseguard 'releaseguard' described
    elif (( (directive & 4) == 0 )); then
        _files
    fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _kubectl_releaseguard "$@"
else
    compdef _kubectl_releaseguard kubectl-releaseguard
fi
"""
