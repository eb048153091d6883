"""`casebus dlq show CONSUMER`: every record of a DLQ (or those a filter takes) — when it was
dead-lettered, where the original was read, its key, the refusal reason and detail, its
first bytes, whether it was redriven — and the counts by reason."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agencydb.engine import database_exists, make_engine
from agencydb.redriven import knows_redrive, redriven
from casebus.config import Settings
from casebus.security.principals import admin
from pipeline.deadletters import DlqEntry, read_dlq
from services.dlq.filters import BEIJING, Filter
from services.dlq.target import DlqTarget

HEAD_BYTES = 32  # of the value, shown in hex


@dataclass
class DlqView:
    target: DlqTarget
    filter: Filter
    total: int  # records in the DLQ
    entries: list[DlqEntry] = field(default_factory=list)  # those the filter takes
    redriven: set[tuple[int, int]] = field(default_factory=set)  # DLQ (partition, offset)

    @property
    def reasons(self) -> Counter[str]:
        return Counter(e.error_class for e in self.entries)

    def was_redriven(self, entry: DlqEntry) -> bool:
        return entry.position in self.redriven


def show(
    settings: Settings, target: DlqTarget, flt: Filter, *, principal: str | None = None
) -> DlqView:
    read = read_dlq(settings, target.topic, principal=principal or admin(settings))
    view = DlqView(target, flt, len(read.entries), [e for e in read.entries if flt(e)])
    if target.agency is not None:
        view.redriven = redriven_into(settings.sync_database_url(target.agency), target.topic)
    return view


def redriven_into(url: str, topic: str) -> set[tuple[int, int]]:
    """The DLQ positions redriven into the database at `url` (read only: nothing is created
    or migrated; a database that does not exist yet holds none)."""
    if not database_exists(url):
        return set()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return redriven(conn, topic) if knows_redrive(conn) else set()
    finally:
        engine.dispose()


def when(entry: DlqEntry) -> str:
    return entry.timestamp.astimezone(BEIJING).isoformat(sep=" ", timespec="seconds")


def key_text(key: bytes | None) -> str | None:
    return None if key is None else key.decode(errors="backslashreplace")


def value_head(value: bytes | None) -> str:
    return "" if value is None else value[:HEAD_BYTES].hex()


def to_dict(view: DlqView) -> dict[str, Any]:
    """One JSON document: the DLQ, the filter, every record taken, the counts by reason."""
    return {
        "consumer": view.target.consumer,
        "topic": view.target.topic,
        "filter": {
            "reason": view.filter.reason,
            "since": view.filter.since.isoformat() if view.filter.since else None,
        },
        "total": view.total,
        "shown": len(view.entries),
        "records": [
            {
                "dlq_partition": e.dlq_partition,
                "dlq_offset": e.dlq_offset,
                "time": e.timestamp.isoformat(),
                "topic": e.topic,
                "partition": e.partition,
                "offset": e.offset,
                "key": key_text(e.key),
                "reason": e.error_class,
                "detail": e.message,
                "consumer": e.consumer,
                "value_bytes": None if e.value is None else len(e.value),
                "value_head": value_head(e.value),
                "redriven": view.was_redriven(e),
                "redrive_of": e.redrive_of,
            }
            for e in view.entries
        ],
        "reasons": dict(sorted(view.reasons.items())),
    }


def to_json(view: DlqView) -> str:
    return json.dumps(to_dict(view), ensure_ascii=False, sort_keys=True)


def lines(view: DlqView) -> list[str]:
    """The text form: a heading, two lines per record, the counts by reason."""
    taken = "" if view.filter.describe() == "all" else f" ({view.filter.describe()})"
    out = [f"{view.target.describe()}: {len(view.entries)} of {view.total} records{taken}"]
    for e in view.entries:
        state = "redriven" if view.was_redriven(e) else "not redriven"
        again = f", failed again after redrive of {e.redrive_of}" if e.redrive_of else ""
        out.append(
            f"{when(e)}  dlq {e.dlq_partition}@{e.dlq_offset}  {e.topic}[{e.partition}]@"
            f"{e.offset}  key {key_text(e.key)}  {state}{again}"
        )
        size = 0 if e.value is None else len(e.value)
        shown = min(size, HEAD_BYTES)
        out.append(f"    {e.error_class}: {e.message}")
        out.append(f"    value {value_head(e.value) or '(none)'} ({shown} of {size} bytes)")
    counts = ", ".join(f"{reason} {n}" for reason, n in sorted(view.reasons.items()))
    out.append(f"by reason: {counts or 'none'}")
    return out
