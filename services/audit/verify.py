"""`casebus audit verify AGENCY`: is the agency database what its events made it?

Three checks, each naming the first place it fails:
  1. the chain: every event-log row's hash is recomputed from its values and the row
     before it (an edited, deleted or inserted row breaks it from there on), and the head
     row agrees with the last row (a cut-off tail);
  2. the published heads: the heads the agency's sync signed into the audit topic are
     found in the chain, and the last one is of this database's chain (a chain rewritten
     with all hashes recomputed, or rebuilt, without the agency's key, does not match);
  3. the records: each record's stored rows digest to what the last event applied to it
     wrote (an UPDATE of a record by hand shows, not only edits of the log).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition
from sqlalchemy import Connection, Engine, select

from agencydb.chain import CHAINED, GENESIS, Head, link, read_head, state_digest
from agencydb.models import LeadEvidence, LeadItem, table_of
from agencydb.rows import (
    EVENT_LOG,
    EVIDENCE_COLUMNS,
    ITEM_COLUMNS,
    PAYLOAD_COLUMNS,
    PAYLOAD_TABLES,
    RECORD_COLUMNS,
    RECORDS,
    StateRows,
)
from casebus.config import Settings
from casebus.kafka.clients import make_consumer
from casebus.provenance.keys import trust_list
from casebus.provenance.signing import Refusal, Verifier
from casebus.security.principals import REPLAY
from pipeline.heads import PublishedHead

Key = tuple[str, str, str]
_POLL_MS = 1000


@dataclass
class AuditReport:
    agency: str
    database: str
    rows: int = 0  # event-log rows checked
    unchained: int = 0  # rows from before the chain existed (leading rows only)
    head: Head | None = None
    heads_published: int = 0
    heads_matched: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [
            f"{self.agency}: {self.rows} event-log rows, {self.records} records ({self.database})",
            f"chain {self.head.chain_id if self.head else '(none)'}: head at position "
            f"{self.head.position if self.head else 0}; {self.heads_matched} of "
            f"{self.heads_published} published heads found in it",
        ]
        if self.unchained:
            out.append(f"{self.unchained} rows from before the chain (not covered)")
        out += [f"FAIL {p}" for p in self.problems]
        out.append("verified: intact" if self.ok else f"{len(self.problems)} problems")
        return out

    def to_dict(self) -> dict[str, Any]:
        head = self.head
        return {
            "agency": self.agency,
            "database": self.database,
            "ok": self.ok,
            "rows": self.rows,
            "unchained": self.unchained,
            "records": self.records,
            "chain_id": head.chain_id if head else None,
            "head_position": head.position if head else None,
            "heads_published": self.heads_published,
            "heads_matched": self.heads_matched,
            "problems": self.problems,
        }


def verify(
    settings: Settings, agency: str, engine: Engine, *, heads: list[PublishedHead] | None = None
) -> AuditReport:
    """All three checks on `engine`'s database; `heads` default: read from the audit topic."""
    report = AuditReport(agency, engine.url.render_as_string(hide_password=True))
    published = heads if heads is not None else published_heads(settings, agency, report)
    with engine.connect() as conn:
        report.head = read_head(conn)
        at = check_chain(conn, report, {h.position for h in published})
        _check_heads(report, published, at)
        _check_records(conn, report)
    return report


# -- 1. the chain ----------------------------------------------------------------------------


def check_chain(conn: Connection, report: AuditReport, wanted: set[int]) -> dict[int, str]:
    """Walk the log in order; returns the chain hash at each position in `wanted`."""
    columns = [EVENT_LOG.c.id, *(EVENT_LOG.c[n] for n in CHAINED), EVENT_LOG.c.chain]
    previous, last_position, first_break = GENESIS, 0, None
    at: dict[int, str] = {}
    result = conn.execution_options(yield_per=5000).execute(
        select(*columns).order_by(EVENT_LOG.c.id)
    )
    for row in result:
        position, values, stored = row[0], row[1:-1], row[-1]
        report.rows += 1
        if stored is None:
            if last_position == 0:
                report.unchained += 1
                continue
            stored = ""
        expected = link(previous, values)
        if stored != expected and first_break is None:
            first_break = position
            report.problems.append(
                f"event log position {position}: its hash does not follow from its content "
                "and the row before it (the row was edited, or one before it deleted or "
                "inserted)"
            )
        previous = stored or expected  # go on from what is stored: later breaks show too
        last_position = position
        if position in wanted:
            at[position] = stored
    head = report.head
    if head is not None and (head.position, head.hash) != (last_position, previous):
        if head.position > last_position:
            report.problems.append(
                f"audit head at position {head.position}, but the log ends at "
                f"{last_position}: rows at its end were removed"
            )
        elif first_break is None:
            report.problems.append(
                f"audit head at position {head.position} ({head.hash[:12]}) is not the log's "
                f"last row {last_position} ({previous[:12]})"
            )
    elif head is None and last_position:
        report.problems.append("the database has chained rows but no audit head")
    return at


# -- 2. the published heads -----------------------------------------------------------------


def published_heads(settings: Settings, agency: str, report: AuditReport) -> list[PublishedHead]:
    """The agency's trusted heads in the audit topic, in publication order; untrusted ones
    are problems (someone published in the agency's name)."""
    topic = settings.provenance.audit_topic
    verifier = Verifier(trust_list(settings))
    found: list[PublishedHead] = []
    for record in _read_all(settings, topic):
        if record.key != agency.encode():
            continue
        signer = verifier.check_record(topic, record.key, record.value, record.headers or ())
        refused = signer if isinstance(signer, Refusal) else None
        if not isinstance(signer, Refusal) and signer.owner != agency:
            refused = Refusal("WrongSigner", f"signed by {signer.owner}")
        if refused is not None:
            report.problems.append(
                f"audit topic offset {record.offset}: a head in {agency}'s name that is not "
                f"trusted ({refused.reason}: {refused.message})"
            )
            continue
        found.append(PublishedHead.from_bytes(record.value))
    return found


def _read_all(settings: Settings, topic: str) -> Iterator[Any]:
    reader = make_consumer(settings, None, "casebus-audit-verify", principal=REPLAY)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
        reader.assign(parts)
        reader.seek_to_beginning(*parts)
        ends = reader.end_offsets(parts)
        while any(reader.position(tp) < ends[tp] for tp in parts):
            for batch in reader.poll(timeout_ms=_POLL_MS).values():
                yield from batch
    finally:
        reader.close()


def _check_heads(report: AuditReport, heads: list[PublishedHead], at: dict[int, str]) -> None:
    report.heads_published = len(heads)
    head = report.head
    if not heads:
        if report.rows > report.unchained:
            report.problems.append(
                f"no head of {report.agency} was published to the audit topic: the chain "
                "cannot be checked against outside evidence (has its sync run?)"
            )
        return
    chain_id = head.chain_id if head else None
    last = heads[-1]
    if last.chain_id != chain_id:
        report.problems.append(
            f"the last head {report.agency} published ({last.published_at}) is of chain "
            f"{last.chain_id}; this database's chain is {chain_id}: it was rebuilt or "
            "rewritten without the agency's key"
        )
    for h in heads:
        if h.chain_id != chain_id:
            continue
        stored = at.get(h.position)
        if stored == h.hash:
            report.heads_matched += 1
            continue
        shown = "no row" if stored is None else f"hash {stored[:12]}"
        report.problems.append(
            f"published head at position {h.position} ({h.published_at}) has hash "
            f"{h.hash[:12]}; the database has {shown} there: the chain was rewritten"
        )
        return  # the first is enough: every later head differs too


# -- 3. the records -------------------------------------------------------------------------


def _check_records(conn: Connection, report: AuditReport) -> None:
    written = _last_written(conn)
    stored = dict(_stored_states(conn))
    report.records = len(stored)
    problems: list[str] = []
    for key, state in stored.items():
        found = written.get(key)
        name = f"{key[0]} {key[1]}/{key[2]}"
        if found is None:
            problems.append(f"record {name}: no applied event in the log wrote it")
        elif state_digest(state) != found[1]:
            problems.append(
                f"record {name}: its stored rows are not what the event at log position "
                f"{found[0]} wrote (edited by hand?)"
            )
    for key, (position, _) in written.items():
        if key not in stored:
            problems.append(
                f"record {key[0]} {key[1]}/{key[2]}: written by the event at log position "
                f"{position}, missing from the database"
            )
    report.problems += problems


def _last_written(conn: Connection) -> dict[Key, tuple[int, str]]:
    """Per record, the position and state digest of the last event that wrote it."""
    log = EVENT_LOG.c
    query = (
        select(log.id, log.kind, log.owner, log.record_id, log.state_digest)
        .where(log.state_digest.is_not(None))
        .order_by(log.id)
    )
    return {(k, o, r): (i, d) for i, k, o, r, d in conn.execute(query)}


def _stored_states(conn: Connection) -> Iterator[tuple[Key, StateRows]]:
    """Each stored record as the rows the writer wrote (agencydb.rows' orders)."""
    children: dict[str, dict[tuple[str, str], list[tuple[Any, ...]]]] = {}
    for name, model, cols in (
        ("items", LeadItem, ITEM_COLUMNS),
        ("evidence", LeadEvidence, EVIDENCE_COLUMNS),
    ):
        table = table_of(model)
        by_lead: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        query = select(*(table.c[c] for c in cols)).order_by(table.c.position)
        for row in conn.execute(query):
            by_lead.setdefault((row[0], row[1]), []).append(tuple(row))
        children[name] = by_lead
    payloads: dict[str, dict[tuple[str, str], tuple[Any, ...]]] = {}
    for kind, table in PAYLOAD_TABLES.items():
        names = PAYLOAD_COLUMNS[kind]
        rows = conn.execute(select(*(table.c[c] for c in names)))
        payloads[kind] = {(r[0], r[1]): tuple(r) for r in rows}
    record_columns = RECORD_COLUMNS[:-1]
    for row in conn.execute(select(*(RECORDS.c[c] for c in record_columns))):
        kind, owner, record_id = row[0], row[1], row[2]
        payload = payloads.get(kind, {}).get((owner, record_id))
        if payload is None:
            payload = (None,) * len(PAYLOAD_COLUMNS[kind])
        state = StateRows(
            kind,
            tuple(row),
            payload,
            (),
            tuple(children["items"].get((owner, record_id), ())),
            tuple(children["evidence"].get((owner, record_id), ())),
        )
        yield (kind, owner, record_id), state
