"""An event as the rows that store it, with values ready for the database driver.

`RowBuilder` turns a decoded event into tuples in fixed column orders, each value already
through the bind processor SQLAlchemy would apply for the dialect (looked up once per
column), so what is stored is what Core would store. The apply path builds them inline, or
a decode worker builds them ahead (pipeline/decode_worker.py): tuples of plain values cross a
process boundary several times cheaper than the decoded event they come from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from agencydb.copytext import Lines, lines_for
from agencydb.models import (
    PAYLOAD_MODELS,
    Case,
    EventLogEntry,
    LeadEvidence,
    LeadItem,
    Record,
    table_of,
)
from agencydb.writes import Processor, plan
from casebus.events import Event
from casebus.personal.cipher import Opener
from casebus.records import payload_of

Row = tuple[Any, ...]

RECORDS = table_of(Record)
CASES = table_of(Case)
LEAD_ITEMS = table_of(LeadItem)
LEAD_EVIDENCE = table_of(LeadEvidence)
EVENT_LOG = table_of(EventLogEntry)
PAYLOAD_TABLES: dict[str, Table] = {kind: table_of(m) for kind, m in PAYLOAD_MODELS.items()}

# Column orders of the tuples. The last column of records and cases, and the event log's
# LOG_TAIL, are known only when the batch is applied: the apply path appends them.
RECORD_COLUMNS = (
    "kind",
    "owner",
    "record_id",
    "revision",
    "digest",
    "event_type",
    "event_id",
    "case_id",
    "region",
    "handling",
    "shared_with",
    "occurred_at",
    "applied_at",
)
CASE_COLUMNS = ("case_id", "region", "first_seen_at")
_KEY = ("owner", "record_id")
PAYLOAD_COLUMNS = {
    kind: _KEY + tuple(c.name for c in table.columns if c.name not in _KEY)
    for kind, table in PAYLOAD_TABLES.items()
}
_CHILD_KEY = ("owner", "record_id", "position")
ITEM_COLUMNS = (*_CHILD_KEY, "listing_url", "listing_id", "title")
EVIDENCE_COLUMNS = (*_CHILD_KEY, "uri", "sha256", "captured_at")
LOG_HEAD = ("topic", "partition", "offset", "schema_id", "event_id", "producer", "event_type")
LOG_IDENTITY = ("kind", "owner", "record_id", "revision", "case_id", "occurred_at", "digest")
# Where a redriven event sat in its DLQ (NO_DLQ_POSITION for every other event).
LOG_DLQ = ("dlq_topic", "dlq_partition", "dlq_offset")
LOG_TAIL = ("outcome", "detail", "logged_at", "origin", "state_digest", *LOG_DLQ, "chain")
LOG_COLUMNS = LOG_HEAD + LOG_IDENTITY + LOG_TAIL
NO_IDENTITY: Row = (None,) * len(LOG_IDENTITY)
# Kinds of record that hold personal values (casebus.personal.fields).
PERSONAL_KINDS = frozenset({"penalty", "lead"})
NO_DLQ_POSITION: Row = (None,) * len(LOG_DLQ)


class StateRows(NamedTuple):
    """One record revision as rows: written if it is the batch's winner for its record."""

    kind: str
    record: Row  # RECORD_COLUMNS but applied_at
    payload: Row  # PAYLOAD_COLUMNS[kind]
    case: Row  # CASE_COLUMNS but first_seen_at
    items: tuple[Row, ...]  # lead items (ITEM_COLUMNS)
    evidence: tuple[Row, ...]  # lead evidence (EVIDENCE_COLUMNS)
    # What became of the personal values (casebus.personal.cipher.Opened.note), for the
    # event log; None if the record has none. Not a stored row.
    personal: str | None = None
    # agencydb.chain.state_digest of these rows, when the decode worker computed it ahead
    # (None: the writer computes it, if the state is written).
    digest: str | None = None


class StateLines(NamedTuple):
    """A StateRows as lines of PostgreSQL's COPY text (agencydb/copytext.py): how the decode
    worker hands a state over to a PostgreSQL writer. The record's and the case's lines end
    before the column the writer stamps (applied_at, first_seen_at) and their newline."""

    kind: str
    owner: str
    record_id: str
    case_id: str
    record: bytes
    payload: bytes
    case: bytes
    items: bytes  # every item's line (none: b"")
    evidence: bytes
    personal: str | None
    digest: str | None


State = StateRows | StateLines


class _Columns:
    """Bind processors of some columns of one table, applied to a list of values in place."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        self.processors: tuple[tuple[int, Processor], ...] = plan(
            table, dialect, tuple(columns)
        ).processors

    def row(self, values: list[Any]) -> Row:
        for i, proc in self.processors:
            value = values[i]
            if value is not None:
                values[i] = proc(value)
        return tuple(values)


class RowBuilder:
    """Builds rows for one dialect (the worker and the writer must agree on it). With
    `personal`, an agency's opener: personal values are stored as that agency may see them
    (casebus.personal), with the data key of each; without, as they came."""

    def __init__(self, dialect: Dialect, personal: Opener | None = None) -> None:
        self.personal = personal
        self._record = _Columns(RECORDS, RECORD_COLUMNS[:-1], dialect)
        self._case = _Columns(CASES, CASE_COLUMNS[:-1], dialect)
        self._payload = {
            kind: _Columns(PAYLOAD_TABLES[kind], PAYLOAD_COLUMNS[kind], dialect)
            for kind in PAYLOAD_TABLES
        }
        self._item = _Columns(LEAD_ITEMS, ITEM_COLUMNS, dialect)
        self._evidence = _Columns(LEAD_EVIDENCE, EVIDENCE_COLUMNS, dialect)
        self._log_head = _Columns(EVENT_LOG, LOG_HEAD, dialect)
        self._log_identity = _Columns(EVENT_LOG, LOG_IDENTITY, dialect)
        self._stamp = {
            (table.name, column): _Columns(table, (column,), dialect)
            for table, column in (
                (RECORDS, "applied_at"),
                (CASES, "first_seen_at"),
                (EVENT_LOG, "logged_at"),
            )
        }
        # PostgreSQL: states as COPY text (as_lines), if this psycopg can make it.
        self._lines: dict[str, Lines] | None = None
        if dialect.name == "postgresql":
            self._lines = _line_formats(dialect)

    @property
    def makes_lines(self) -> bool:
        return self._lines is not None

    def as_lines(self, state: State, digest: str | None = None) -> StateLines:
        """The state as COPY text (only for a PostgreSQL builder that `makes_lines`), with
        its state digest `digest` if given (else the one it has)."""
        if isinstance(state, StateLines):
            return state
        assert self._lines is not None, "COPY text is PostgreSQL's, and needs psycopg's formatter"
        lines = self._lines
        record, case = state.record, state.case
        return StateLines(
            state.kind,
            record[1],
            record[2],
            case[0],
            lines["records"](record)[:-1],
            lines[state.kind](state.payload),
            lines["cases"](case)[:-1],
            b"".join(map(lines["items"], state.items)),
            b"".join(map(lines["evidence"], state.evidence)),
            state.personal,
            state.digest if digest is None else digest,
        )

    def log_front_line(self, front: Row) -> bytes:
        """An event-log row's head and identity values as COPY text, each ended by a tab."""
        assert self._lines is not None
        return self._lines["log_front"](front)[:-1] + b"\t"

    def log_tail_line(self, tail: Row) -> bytes:
        """The rest of an event-log row (its tail and chain hash) as COPY text, newline
        included: after its `log_front_line`, the whole row."""
        assert self._lines is not None
        return self._lines["log_tail"](tail)

    def stamp_line(self, table: str, column: str, now: datetime) -> bytes:
        """`stamp` as the COPY text that ends a StateLines' record or case line."""
        assert self._lines is not None
        return self._lines[column]((self.stamp(table, column, now),))

    def state(self, event: Event, kind: str, digest: str) -> StateRows:
        owner, record_id = str(event["owner"]), str(event["record_id"])
        record = self._record.row(
            [
                kind,
                owner,
                record_id,
                int(event["revision"]),
                digest,
                str(event["event_type"]),
                str(event["event_id"]),
                event["case_id"],
                event["region"],
                event["handling"],
                list(event["shared_with"]),
                event["occurred_at"],
            ]
        )
        payload = payload_of(event, kind)
        note = None
        if self.personal is not None and kind in PERSONAL_KINDS:
            opened = self.personal.open(event, kind, payload)
            payload = {**opened.payload, "personal_keys": opened.keys or None}
            note = opened.note()
        columns = PAYLOAD_COLUMNS[kind]
        values = [owner, record_id, *(payload.get(name) for name in columns[2:])]
        items: tuple[Row, ...] = ()
        evidence: tuple[Row, ...] = ()
        if kind == "lead":
            items = tuple(
                self._item.row([owner, record_id, i, *(item.get(c) for c in ITEM_COLUMNS[3:])])
                for i, item in enumerate(payload["items"])
            )
            evidence = tuple(
                self._evidence.row([owner, record_id, i, *(e.get(c) for c in EVIDENCE_COLUMNS[3:])])
                for i, e in enumerate(payload["evidence"])
            )
        case = self._case.row([event["case_id"], event["region"]])
        payload_row = self._payload[kind].row(values)
        return StateRows(kind, record, payload_row, case, items, evidence, note)

    def log_head(self, provenance: Any, event: Mapping[str, Any] | None) -> Row:
        """Event-log columns known from where the event was read and its envelope."""
        event = event or {}
        event_id = event.get("event_id")
        values = [
            provenance.topic,
            provenance.partition,
            provenance.offset,
            provenance.schema_id,
            None if event_id is None else str(event_id),
            event.get("producer"),
            event.get("event_type"),
        ]
        return self._log_head.row(values)

    def log_identity(
        self, event: Mapping[str, Any], kind: str | None = None, digest: str | None = None
    ) -> Row:
        """Event-log columns naming the record (left empty for a filtered event)."""
        values = [
            kind,
            event.get("owner"),
            event.get("record_id"),
            event.get("revision"),
            event.get("case_id"),
            event.get("occurred_at"),
            digest,
        ]
        return self._log_identity.row(values)

    def stamp(self, table: str, column: str, now: datetime) -> Any:
        """`now` as the driver wants it for one of the columns apply fills in per batch."""
        return self._stamp[(table, column)].row([now])[0]


def _line_formats(dialect: Dialect) -> dict[str, Lines] | None:
    """COPY text formatters of a state's rows: "records" and "cases" (but their stamps),
    the stamps ("applied_at", "first_seen_at"), "items", "evidence", each kind's payload,
    and an event-log row's two parts; None if psycopg has no formatter to offer."""
    tables = {
        "records": (RECORDS, RECORD_COLUMNS[:-1]),
        "applied_at": (RECORDS, ("applied_at",)),
        "cases": (CASES, CASE_COLUMNS[:-1]),
        "first_seen_at": (CASES, ("first_seen_at",)),
        "items": (LEAD_ITEMS, ITEM_COLUMNS),
        "evidence": (LEAD_EVIDENCE, EVIDENCE_COLUMNS),
        **{kind: (PAYLOAD_TABLES[kind], columns) for kind, columns in PAYLOAD_COLUMNS.items()},
        "log_front": (EVENT_LOG, LOG_HEAD + LOG_IDENTITY),
        "log_tail": (EVENT_LOG, LOG_TAIL),
    }
    out: dict[str, Lines] = {}
    for name, (table, columns) in tables.items():
        made = lines_for(plan(table, dialect, columns).copy_types)
        if made is None:
            return None
        out[name] = made
    return out
