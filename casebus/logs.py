"""Log lines for people (`text`, the default) or for machines (`json`, one object a line).

Every line carries what the process is (`service`, and the agency, platform or source it
works for: `bind`), and a line about one event says where it was read (`at`): topic,
partition, offset, and the event id and outcome when they are known. The text format
shows the message only, as it always did; the JSON format shows every field, so a log
shipper can index them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, Protocol

from pythonjsonlogger.json import JsonFormatter


class Position(Protocol):
    """Where a record was read: a consumed record, or the pipeline's provenance of one."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The record's own attributes kept in a JSON line, renamed to the usual names.
JSON_FIELDS = "{asctime}{levelname}{name}{message}"
JSON_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}

_bound: dict[str, Any] = {}


def bind(**fields: Any) -> None:
    """Fields every later line of this process carries (None leaves a field out)."""
    _bound.update({k: v for k, v in fields.items() if v is not None})


def at(record: Position, **more: Any) -> dict[str, Any]:
    """The `extra` of a line about one consumed record: where it was read, and `more`."""
    fields = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    fields.update({k: v for k, v in more.items() if v is not None})
    return fields


class _Stderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is written, as logging's own last
    resort does: a handler installed while stderr was replaced (a test capturing it) never
    writes to a stream closed since."""

    def __init__(self) -> None:
        super().__init__()
        self.casebus = True  # installed by configure(), replaced by the next call

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _Bound(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _bound.items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


def configure(log_format: LogFormat = "text", *, verbose: bool = False) -> None:
    """casebus's handler on the root logger, on stderr, in `log_format` (replacing the one
    an earlier call installed; other handlers, a test's capture say, are left alone)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "casebus", False)]:
        root.removeHandler(old)
    handler = _Stderr()
    handler.addFilter(_Bound())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                JSON_FIELDS,
                style="{",
                rename_fields=JSON_RENAMED,
                json_ensure_ascii=False,  # agency names and reasons are Chinese
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # kafka-python is chatty at INFO about every connection it opens.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
