"""A release's validation report, as Markdown for a terminal and as one self-contained HTML page.

The report is what someone reads after the fact, often far from the cluster: which revision, what was
decided and when, every metric's canary and baseline over the release side by side, the impact and the
diagnosis. The HTML page embeds its charts as SVG and its style inline, so it opens from a ConfigMap dump,
an attachment or a browser with no network; nothing in it runs code. Every text that comes from the
cluster is escaped.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import math
from collections.abc import Sequence

from releaseguard.models import v1alpha1

MAX_POINTS = 240
MARKED_POINTS = 40
"""Lines of at most this many points get a mark on each."""
"""Points per line in a chart: more than a chart's width can show, few enough to keep the page small."""
_WIDTH, _HEIGHT, _PAD = 640, 180, 36
CANARY_COLOUR, BASELINE_COLOUR = "#d1495b", "#00798c"
"""The chart lines' colours, which a browser test looks for in a screenshot."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Chart:
    """One metric over the release, one value per interval for each group (None where none was had)."""

    metric: str
    unit: str
    """How to read the values: "ratio", "seconds", or "" for a plain number."""
    times: tuple[datetime.datetime, ...]
    canary: tuple[float | None, ...]
    baseline: tuple[float | None, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Entry:
    time: datetime.datetime
    what: str
    """One CamelCase word, e.g. StepAdvanced."""
    message: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Report:
    namespace: str
    name: str
    target: str
    revision: str
    stable_revision: str
    outcome: str
    """Where the release ended: Succeeded, RolledBack, or the phase it was in when the report was made."""
    generated_at: datetime.datetime
    timeline: tuple[Entry, ...] = ()
    results: tuple[v1alpha1.Result, ...] = ()
    """The last evaluation's verdict per metric and check."""
    incident: v1alpha1.Incident | None = None
    changes: tuple[str, ...] = ()
    """What the revision changed in the pod template."""
    charts: tuple[Chart, ...] = ()

    @property
    def title(self) -> str:
        return f"{self.namespace}/{self.name}: revision {self.revision} {self.outcome}"


def markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    lines.append(
        f"Deployment `{report.target}`, stable revision `{report.stable_revision}`; report made "
        f"{_time(report.generated_at)}."
    )
    if report.incident is not None:
        incident = report.incident
        lines += [
            "",
            "## Incident",
            "",
            f"**{incident.summary}**",
            "",
            f"Severity because {incident.severity_reason}.",
        ]
        lines += [f"- {cause}" for cause in incident.suspected_cause]
    if report.results:
        lines += [
            "",
            "## Last evaluation",
            "",
            "| metric | verdict | canary | baseline | evidence |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {result.name} | {result.verdict.value} | {_number(result.canary)} "
            f"| {_number(result.baseline)} "
            f"| {_cell(result.message or result.reason or '')} |"
            for result in report.results
        ]
    if report.changes:
        lines += ["", "## What the revision changed", ""] + [f"- {change}" for change in report.changes]
    if report.timeline:
        lines += ["", "## Timeline", ""]
        lines += [f"- {_time(entry.time)} **{entry.what}** {entry.message}" for entry in report.timeline]
    for chart in report.charts:
        summary = _chart_summary(chart)
        lines += ["", f"## {chart.metric}", "", summary]
    return "\n".join(lines) + "\n"


def html_page(report: Report) -> str:
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(report.title)}</title>",
        "<style>body{font:14px/1.45 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;"
        "color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        ".Fail{color:#b00020;font-weight:bold}.Pass{color:#2e7d32}.Inconclusive{color:#8a6d00}"
        "svg{border:1px solid #eee;margin:.5em 0}.legend span{margin-right:1em}</style>",
        "</head><body>",
        f'<h1 id="title">{escape(report.title)}</h1>',
        f"<p>Deployment <code>{escape(report.target)}</code>, stable revision "
        f"<code>{escape(report.stable_revision)}</code>; report made "
        f"{escape(_time(report.generated_at))}.</p>",
        f'<p id="decision" class="decision">Outcome: <strong>{escape(report.outcome)}</strong></p>',
    ]
    if report.incident is not None:
        incident = report.incident
        parts += [
            '<section id="incident"><h2>Incident</h2>',
            f"<p><strong>{escape(incident.summary)}</strong></p>",
            f"<p>Severity because {escape(incident.severity_reason)}.</p><ul>",
            *(f"<li>{escape(cause)}</li>" for cause in incident.suspected_cause),
            "</ul></section>",
        ]
    if report.results:
        parts.append('<section id="results"><h2>Last evaluation</h2><table>')
        parts.append(
            "<tr><th>metric</th><th>verdict</th><th>canary</th><th>baseline</th><th>evidence</th></tr>"
        )
        parts += [
            f'<tr><td>{escape(result.name)}</td><td class="{escape(result.verdict.value)}">'
            f"{escape(result.verdict.value)}</td><td>{_number(result.canary)}</td>"
            f"<td>{_number(result.baseline)}</td>"
            f"<td>{escape(result.message or result.reason or '')}</td></tr>"
            for result in report.results
        ]
        parts.append("</table></section>")
    if report.changes:
        parts += ['<section id="changes"><h2>What the revision changed</h2><ul>']
        parts += [f"<li><code>{escape(change)}</code></li>" for change in report.changes]
        parts.append("</ul></section>")
    if report.timeline:
        parts.append('<section id="timeline"><h2>Timeline</h2><table>')
        parts += [
            f"<tr><td>{escape(_time(entry.time))}</td><td>{escape(entry.what)}</td>"
            f"<td>{escape(entry.message)}</td></tr>"
            for entry in report.timeline
        ]
        parts.append("</table></section>")
    if report.charts:
        parts.append('<section id="charts"><h2>Canary and baseline over the release</h2>')
        parts.append(
            f'<p class="legend"><span style="color:{CANARY_COLOUR}">━ canary</span>'
            f'<span style="color:{BASELINE_COLOUR}">━ baseline</span></p>'
        )
        parts += [_svg(chart) for chart in report.charts]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _svg(chart: Chart) -> str:
    escape = html.escape
    values = [
        value for value in (*chart.canary, *chart.baseline) if value is not None and math.isfinite(value)
    ]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high <= low:
        high = low + (abs(low) or 1.0)
    count = max(len(chart.times), 1)

    def x(index: int) -> float:
        return _PAD + (_WIDTH - 2 * _PAD) * (index / max(count - 1, 1))

    def y(value: float) -> float:
        return _HEIGHT - _PAD + (2 * _PAD - _HEIGHT) * (value - low) / (high - low)

    def line(points: Sequence[float | None], colour: str, group: str) -> str:
        step = max(1, math.ceil(len(points) / MAX_POINTS))
        drawn = [
            (x(index), y(value))
            for index, value in enumerate(points)
            if index % step == 0 and value is not None and math.isfinite(value)
        ]
        coordinates = " ".join(f"{left:.1f},{top:.1f}" for left, top in drawn)
        # A short analysis has a few intervals: marks show them, where a line of one point shows nothing.
        marks = (
            "".join(f'<circle cx="{left:.1f}" cy="{top:.1f}" r="3" fill="{colour}"/>' for left, top in drawn)
            if len(drawn) <= MARKED_POINTS
            else ""
        )
        return (
            f'<polyline class="{group}" fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{coordinates}"/>{marks}'
        )

    return (
        f'<figure class="chart" data-metric="{escape(chart.metric)}">'
        f"<figcaption>{escape(chart.metric)} ({escape(chart.unit or 'value')})</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="{escape(chart.metric)}: canary and baseline">'
        f'<text x="4" y="{_PAD - 8}" font-size="11">{_number(high)}</text>'
        f'<text x="4" y="{_HEIGHT - 8}" font-size="11">{_number(low)}</text>'
        f"{line(chart.baseline, BASELINE_COLOUR, 'baseline')}{line(chart.canary, CANARY_COLOUR, 'canary')}"
        "</svg></figure>"
    )


def _chart_summary(chart: Chart) -> str:
    def mean(values: Sequence[float | None]) -> float | None:
        usable = [value for value in values if value is not None and math.isfinite(value)]
        return sum(usable) / len(usable) if usable else None

    return (
        f"{len(chart.times)} intervals; mean canary {_number(mean(chart.canary))}, "
        f"mean baseline {_number(mean(chart.baseline))} ({chart.unit or 'value'})."
    )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
