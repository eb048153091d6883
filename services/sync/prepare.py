"""What apply needs of one consumed event, worked out from the event alone.

`prepare` gives an event's kind, identity, revision, content digest, whether this agency
receives it, and the rows that would store it. Apply calls it inline; a decode worker
(services/sync/prefetch.py) calls the same function ahead, so apply gets `Prepared` items
and never needs the decoded event itself (unless it must validate one the worker did not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from casebus.events import Event
from services.sync.records import RecordKey, content_digest, record_kind
from services.sync.rows import Row, RowBuilder, StateRows

# Whether the agency receives an event of this kind (services.sync.filtering.admits).
Admit = Callable[[Event, str], bool]


@dataclass(frozen=True, slots=True)
class Provenance:
    topic: str
    partition: int
    offset: int
    schema_id: int | None = None


class Prepared(NamedTuple):
    """An event this agency receives, ready to be decided on and written."""

    kind: str
    owner: str
    record_id: str
    revision: int
    digest: str
    head: Row  # event-log columns: where it was read, event id, producer, type
    identity: Row  # event-log columns naming the record
    # Written if this revision wins; None when a decode worker left it out (the worker saw a
    # valid revision at least as high of this record earlier in the stream, so this one
    # should lose): if it wins after all, apply prepares it again in full.
    state: StateRows | None
    checked: bool = False  # validated ahead (by a decode worker): `problem` is the verdict
    problem: str | None = None

    @property
    def key(self) -> RecordKey:
        return RecordKey((self.kind, self.owner, self.record_id))


class Filtered(NamedTuple):
    """An event this agency does not receive: logged by provenance only."""

    head: Row


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed event: decoded (`event`), prepared ahead (`prepared`; then `event` may be
    None and `raw`, the record's bytes, decodes it again if needed), or rejected (`error`)."""

    provenance: Provenance
    event: Event | None
    error: str | None = None
    prepared: Prepared | Filtered | None = None
    raw: bytes | None = None


def prepare(
    event: Event,
    provenance: Provenance,
    rows: RowBuilder,
    admit: Admit | None,
    expected_to_lose: Callable[[RecordKey, int], bool] | None = None,
) -> Prepared | Filtered:
    """Raises services.sync.records.NotARecord for an event that carries no record.

    `expected_to_lose(key, revision)`: leave the state rows out (see Prepared.state)."""
    kind = record_kind(event)
    head = rows.log_head(provenance, event)
    if admit is not None and not admit(event, kind):
        return Filtered(head)
    digest = content_digest(event, kind)
    owner, record_id, revision = (
        str(event["owner"]),
        str(event["record_id"]),
        int(event["revision"]),
    )
    key = RecordKey((kind, owner, record_id))
    lose = expected_to_lose is not None and expected_to_lose(key, revision)
    return Prepared(
        kind,
        owner,
        record_id,
        revision,
        digest,
        head,
        rows.log_identity(event, kind, digest),
        None if lose else rows.state(event, kind, digest),
    )
