"""Log lines name their release: JSON for pipelines, text on terminals."""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import io
import json
import logging

import pytest

from releaseguard import logs

RELEASE = logs.Release(namespace="shop", name="checkout", revision="3f2a9c01")


@contextlib.contextmanager
def configured(
    log_format: logs.Format, stream: io.StringIO, *, verbose: bool = False
) -> collections.abc.Iterator[logging.Handler]:
    """logs.configure for one test; the root logger is put back afterwards for the rest of the suite."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    touched = [root, *(logging.getLogger(name) for name in logs.CHATTY_LOGGERS)]
    levels = [logger.level for logger in touched]
    try:
        yield logs.configure(log_format=log_format, verbose=verbose, stream=stream)
    finally:
        root.handlers[:] = handlers
        for logger, level in zip(touched, levels, strict=True):
            logger.setLevel(level)


@pytest.fixture
def captured() -> collections.abc.Iterator[io.StringIO]:
    stream = io.StringIO()
    with configured(logs.Format.JSON, stream):
        yield stream


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_inside_about_name_the_release_and_its_revision(captured: io.StringIO) -> None:
    with logs.about(RELEASE):
        logging.getLogger("releaseguard.delivery").info("posted %s", "rollingBack")
    logging.getLogger("releaseguard.delivery").info("between releases")

    inside, outside = lines(captured)
    assert inside["message"] == "posted rollingBack"
    assert (inside["releasevalidation"], inside["revision"]) == ("shop/checkout", "3f2a9c01")
    assert inside["level"] == "info"
    assert inside["logger"] == "releaseguard.delivery"
    assert (outside["releasevalidation"], outside["revision"]) == ("", "")


def test_tasks_started_inside_about_keep_the_release(captured: io.StringIO) -> None:
    async def post_in_background() -> None:
        with logs.about(RELEASE):
            task = asyncio.create_task(asyncio.sleep(0))
            background = asyncio.create_task(_log_later())
        await task
        await background

    asyncio.run(post_in_background())

    assert lines(captured)[0]["releasevalidation"] == "shop/checkout"


async def _log_later() -> None:
    await asyncio.sleep(0.01)
    logging.getLogger("releaseguard.delivery").warning("receiver answered 500")


def test_kopf_lines_about_an_object_get_its_last_known_revision(captured: io.StringIO) -> None:
    with logs.about(RELEASE):
        pass
    kopf_ref = {"namespace": "shop", "name": "checkout", "uid": "1"}
    logging.getLogger("kopf.objects").warning("Patching failed.", extra={"k8s_ref": kopf_ref})
    logs.forget(namespace="shop", name="checkout")
    logging.getLogger("kopf.objects").warning("Handler failed.", extra={"k8s_ref": kopf_ref})

    known, forgotten = lines(captured)
    assert (known["releasevalidation"], known["revision"]) == ("shop/checkout", "3f2a9c01")
    assert (forgotten["releasevalidation"], forgotten["revision"]) == ("shop/checkout", "")


def test_exceptions_stay_inside_one_json_line(captured: io.StringIO) -> None:
    try:
        raise ValueError("bad spec")
    except ValueError:
        logging.getLogger("releaseguard").exception("reconcile failed")

    (line,) = lines(captured)
    assert "ValueError: bad spec" in line["exception"]


def test_text_format_puts_the_release_in_brackets() -> None:
    stream = io.StringIO()
    with configured(logs.Format.TEXT, stream):
        with logs.about(RELEASE):
            logging.getLogger("releaseguard.reports").info("stored report")
        logging.getLogger("kopf").info("startup")

    about_release, plain = stream.getvalue().splitlines()
    assert about_release.endswith("INFO    releaseguard.reports [shop/checkout@3f2a9c01] stored report")
    assert plain.endswith("INFO    kopf startup")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "formatter"), [(io.StringIO(), logs.JsonFormatter), (_Terminal(), logs.TextFormatter)]
)
def test_auto_is_text_on_a_terminal_and_json_elsewhere(
    stream: io.StringIO, formatter: type[logging.Formatter]
) -> None:
    with configured(logs.Format.AUTO, stream, verbose=True) as handler:
        assert isinstance(handler.formatter, formatter)
        assert logging.getLogger().level == logging.DEBUG


@pytest.mark.parametrize(("verbose", "kept"), [(False, 0), (True, 1)])
def test_timer_ticks_and_health_probes_are_logged_only_when_verbose(verbose: bool, kept: int) -> None:
    stream = io.StringIO()
    with configured(logs.Format.JSON, stream, verbose=verbose):
        logging.getLogger("kopf.objects").info("Timer 'reconcile' succeeded.")
        logging.getLogger("aiohttp.access").info("GET /healthz 200")

    assert len(stream.getvalue().splitlines()) == 2 * kept
