"""The operator's log lines: JSON for log pipelines, text on a terminal; each names its release.

Every line written while a ReleaseValidation is handled carries `releasevalidation` (namespace/name) and
`revision` (the template hash under validation, else the stable one), so one release's story can be pulled
out of a shared log. Lines of our own code learn them from a context variable set by the handler, which
asyncio copies into the tasks started from it; kopf's own lines name their object, and the revision last
seen for that object is added.
"""

from __future__ import annotations

import collections.abc
import contextlib
import contextvars
import dataclasses
import datetime
import enum
import json
import logging
import sys
from typing import Any, TextIO


@dataclasses.dataclass(frozen=True)
class Release:
    namespace: str
    name: str
    revision: str

    @property
    def reference(self) -> str:
        return f"{self.namespace}/{self.name}"


class Format(enum.StrEnum):
    AUTO = "auto"
    JSON = "json"
    TEXT = "text"


_CURRENT: contextvars.ContextVar[Release | None] = contextvars.ContextVar("release", default=None)
_REVISIONS: dict[str, str] = {}

# Without --verbose, a line per timer tick per object or per health probe would drown the lines that tell a
# release's story (each of its Events is logged at INFO).
CHATTY_LOGGERS = ("asyncio", "aiohttp.access", "kopf.objects")


@contextlib.contextmanager
def about(release: Release) -> collections.abc.Iterator[None]:
    """Lines logged inside (and by tasks started inside) name `release`."""
    _REVISIONS[release.reference] = release.revision
    token = _CURRENT.set(release)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def forget(*, namespace: str, name: str) -> None:
    _REVISIONS.pop(f"{namespace}/{name}", None)


class ReleaseFilter(logging.Filter):
    """Adds `releasevalidation` and `revision` to every record, empty for lines about no release."""

    def filter(self, record: logging.LogRecord) -> bool:
        release = _CURRENT.get()
        if release is not None:
            reference, revision = release.reference, release.revision
        else:
            reference = _kopf_reference(record)
            revision = _REVISIONS.get(reference, "") if reference else ""
        record.releasevalidation = reference
        record.revision = revision
        return True


def event(logger: logging.Logger, *, type_: str, reason: str, message: str) -> None:
    """An Event the operator posts, in its log too: a Warning Event as a warning."""
    logger.log(logging.WARNING if type_ == "Warning" else logging.INFO, "%s: %s", reason, message)


def _kopf_reference(record: logging.LogRecord) -> str:
    # kopf's per-object logger puts the object's identity in the record as `k8s_ref`.
    ref: Any = getattr(record, "k8s_ref", None)
    if not isinstance(ref, collections.abc.Mapping) or not ref.get("name"):
        return ""
    return f"{ref.get('namespace') or ''}/{ref['name']}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "releasevalidation": getattr(record, "releasevalidation", ""),
            "revision": getattr(record, "revision", ""),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("[%(asctime)s] %(levelname)-7s %(name)s%(release)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        reference = getattr(record, "releasevalidation", "")
        revision = getattr(record, "revision", "")
        record.release = f" [{reference}{'@' + revision if revision else ''}]" if reference else ""
        return super().format(record)


def configure(*, log_format: Format, verbose: bool, stream: TextIO | None = None) -> logging.Handler:
    """Route all logging through one handler of the chosen format; `auto` is text on a TTY, else JSON."""
    stream = stream or sys.stderr
    if log_format is Format.AUTO:
        log_format = Format.TEXT if stream.isatty() else Format.JSON
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format is Format.JSON else TextFormatter())
    handler.addFilter(ReleaseFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.NOTSET if verbose else logging.WARNING)
    return handler
