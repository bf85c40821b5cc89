"""The validation report's Markdown and HTML: every part present, cluster text escaped, charts bounded."""

from __future__ import annotations

import datetime
import html.parser
import re

from releaseguard.models import v1alpha1
from releaseguard.report import document
from tests.unit import test_notify_payloads

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
SECOND = datetime.timedelta(seconds=1)
FAIL, PASS = v1alpha1.Verdict.FAIL, v1alpha1.Verdict.PASS


def chart(intervals: int = 20) -> document.Chart:
    times = tuple(NOW + 10 * n * SECOND for n in range(intervals))
    return document.Chart(
        metric="error-rate",
        unit="ratio",
        times=times,
        canary=tuple(0.2 if n > 5 else 0.01 for n in range(intervals)),
        baseline=tuple(None if n == 3 else 0.01 for n in range(intervals)),
    )


REPORT = document.Report(
    namespace="shop",
    name="checkout",
    target="checkout",
    revision="h2",
    stable_revision="h1",
    outcome="RolledBack",
    generated_at=NOW,
    timeline=(
        document.Entry(time=NOW, what="CanaryStarted", message="canary h2 at 25%"),
        document.Entry(time=NOW + 60 * SECOND, what="FailureLimitReached", message="error-rate failed twice"),
    ),
    results=(
        v1alpha1.Result(name="error-rate", verdict=FAIL, canary=0.2, baseline=0.01, message="canary 0.2 | a"),
        v1alpha1.Result(name="p95-latency", verdict=PASS, canary=0.1, baseline=0.1),
    ),
    incident=test_notify_payloads.INCIDENT,
    changes=("container app image: demo:1.0 → demo:2.0",),
    charts=(chart(),),
)


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids |= {value for name, value in attrs if name == "id" and value}
        self.scripts += tag == "script"


def test_the_html_page_has_every_part_and_no_script() -> None:
    page = document.html_page(REPORT)
    collector = _Collector()
    collector.feed(page)
    assert {"title", "decision", "incident", "results", "changes", "timeline", "charts"} <= collector.ids
    assert collector.tags.count("svg") == 1
    assert collector.tags.count("polyline") == 2
    assert collector.scripts == 0
    assert "Outcome: <strong>RolledBack</strong>" in page


def test_cluster_text_is_escaped() -> None:
    hostile = document.Report(
        namespace="shop",
        name="<script>alert(1)</script>",
        target="t",
        revision="h2",
        stable_revision="h1",
        outcome="RolledBack",
        generated_at=NOW,
        results=(v1alpha1.Result(name="m", verdict=FAIL, message='"><img src=x onerror=alert(1)>'),),
    )
    page = document.html_page(hostile)
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;" in page


def test_a_long_analysis_draws_a_bounded_line() -> None:
    page = document.html_page(document.Report(**{**REPORT.__dict__, "charts": (chart(5000),)}))
    (points,) = re.findall(r'class="canary"[^>]*points="([^"]*)"', page)
    assert len(points.split()) <= document.MAX_POINTS


def test_missing_values_leave_gaps_not_zeros() -> None:
    page = document.html_page(REPORT)
    (baseline,) = re.findall(r'class="baseline"[^>]*points="([^"]*)"', page)
    assert len(baseline.split()) == 19


def test_markdown_tells_the_same_story() -> None:
    text = document.markdown(REPORT)
    assert text.startswith("# shop/checkout: revision h2 RolledBack\n")
    assert f"**{test_notify_payloads.INCIDENT.summary}**" in text
    assert "| error-rate | Fail | 0.2 | 0.01 | canary 0.2 \\| a |" in text
    assert "- container app image: demo:1.0 → demo:2.0" in text
    assert "**FailureLimitReached** error-rate failed twice" in text
    assert "20 intervals; mean canary 0.143, mean baseline 0.01 (ratio)." in text


def test_a_chart_of_flat_or_empty_lines_draws() -> None:
    flat = document.Chart(
        metric="m", unit="", times=(NOW, NOW + SECOND), canary=(1.0, 1.0), baseline=(None, None)
    )
    empty = document.Chart(metric="e", unit="", times=(), canary=(), baseline=())
    page = document.html_page(document.Report(**{**REPORT.__dict__, "charts": (flat, empty)}))
    assert page.count("<svg") == 2


def test_short_lines_get_a_mark_per_point_long_ones_none() -> None:
    short = document.html_page(document.Report(**{**REPORT.__dict__, "charts": (chart(1),)}))
    assert short.count("<circle") == 2  # one interval, each group
    long = document.html_page(
        document.Report(**{**REPORT.__dict__, "charts": (chart(document.MARKED_POINTS + 2),)})
    )
    assert "<circle" not in long
