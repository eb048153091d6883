"""A consumed record's stages on its way into an agency database, one immutable type each.

    RawRecord ─decode─► Decoded ─prepare─► Prepared ─decide─► Result (pipeline/apply.py)
        │   │              │          ├──► Filtered   (not for this agency: logged only)
        │   └─► Refused ◄──┘          └──► Foreseen   (decode worker: expected to lose)
        └─claim─► Claimed ─prepare─► Filtered | Foreseen, or decoded if it may win

- `Refused`: rejected before any decision (undecodable, untrusted, not a record, wrong
  topic), with the class and message the DLQ and the event log get.
- `Prepared`: what the revision rule and the writer need: identity, revision, digest, the
  rows it would write, and its validity (or the event, still to be validated).
- `Claimed`: a record whose signed claim header (casebus/claims.py) says what it is, not
  decoded: filtered, or decided on as `Foreseen`, from the claim alone.
- `Foreseen`: prepared without its rows, because a valid revision at least as high of the
  record came earlier in the stream (decode worker), or from its claim without decoding;
  the checkpoint decodes and prepares it from its bytes in case it wins after all
  (pipeline/checkpoint.py), and then the body must match the claim.

Worker-built items cross a process boundary, pickled: they are named tuples of plain values
(several times cheaper to unpickle than the decoded event they stand for).
"""

from __future__ import annotations

from typing import NamedTuple

from agencydb.chain import LogText
from agencydb.rows import NO_IDENTITY, Row, State
from casebus.claims import Claim
from casebus.events import Event
from casebus.records import RecordKey


class Provenance(NamedTuple):
    """Where a record was read, and the writer schema of its value (once decoded)."""

    topic: str
    partition: int
    offset: int
    schema_id: int | None = None


class RawRecord(NamedTuple):
    """What decoding needs of a consumer record, small enough to send to a worker."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


class Redriven(NamedTuple):
    """A DLQ record sent back through the pipeline (`casebus dlq redrive`): the original
    record as it was first read (its topic, partition, offset, key, value and headers, the
    DLQ's `casebus.error.*` headers taken off), and where it sat in the DLQ."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    dlq_topic: str
    dlq_partition: int
    dlq_offset: int

    @property
    def dlq_position(self) -> tuple[str, int, int]:
        """The event-log columns naming the DLQ record (agencydb.rows.LOG_DLQ)."""
        return (self.dlq_topic, self.dlq_partition, self.dlq_offset)


class Refused(NamedTuple):
    provenance: Provenance
    error_class: str  # the DLQ's casebus.error.class: EmptyValue, BadSignature, ...
    message: str
    event: Event | None = None  # when it could be decoded: the event log names its record
    # Or the event-log columns of the item it was (refused later, at apply: ApplyError).
    columns: tuple[Row, Row] | None = None

    @property
    def reason(self) -> str:
        return f"{self.error_class}: {self.message}"


class Decoded(NamedTuple):
    """Verified and decoded; which record it is, is not worked out yet (`digest`: its
    content digest, when the inbound step computed it to check the record's claim)."""

    provenance: Provenance
    event: Event
    digest: str | None = None


class Claimed(NamedTuple):
    """Verified, not decoded: what its signed record claim (casebus/claims.py) says it is.
    Decided on from the claim; decoded only if it would change a record."""

    provenance: Provenance  # the schema id read from the value's framing
    claim: Claim
    value: bytes
    raw_claim: bytes  # the header, checked against the body once it is decoded


class Valid(NamedTuple):
    """Validated: breaks no rule."""


class Invalid(NamedTuple):
    problem: str  # every rule it breaks (the first few, and how many more)


class Unchecked(NamedTuple):
    """Not validated yet: validated only if it would change a record."""

    event: Event


VALID = Valid()
Validity = Valid | Invalid | Unchecked


class Filtered(NamedTuple):
    """For another audience than this agency: logged by provenance only."""

    provenance: Provenance
    head: Row  # event-log columns: where it was read, event id, producer, type
    log: LogText | None = None  # its event-log columns as the writer takes them (PostgreSQL)


class Prepared(NamedTuple):
    """An event this agency receives, ready to be decided on and written."""

    provenance: Provenance
    kind: str
    owner: str
    record_id: str
    revision: int
    digest: str
    head: Row  # event-log columns: where it was read, event id, producer, type
    identity: Row  # event-log columns naming the record
    state: State  # written if this revision wins (values, or COPY text)
    validity: Validity
    log: LogText | None = None  # head and identity as the writer takes them (PostgreSQL)

    @property
    def key(self) -> RecordKey:
        return RecordKey((self.kind, self.owner, self.record_id))


class Foreseen(NamedTuple):
    """Prepared without its rows: expected to lose (see the module docstring)."""

    provenance: Provenance
    kind: str
    owner: str
    record_id: str
    revision: int
    digest: str
    head: Row
    identity: Row
    value: bytes  # the record's value, to decode again should it win
    # The record's claim header when it was decided from it: the body must match it.
    raw_claim: bytes | None = None
    log: LogText | None = None  # head and identity as the writer takes them (PostgreSQL)

    @property
    def key(self) -> RecordKey:
        return RecordKey((self.kind, self.owner, self.record_id))


Item = Refused | Decoded | Claimed | Filtered | Prepared | Foreseen
# What the revision rule decides on.
Candidate = Prepared | Foreseen


def carried_front(item: object) -> tuple[Row, Row] | None:
    """The event-log head and identity an item carries (a filtered one names no record);
    None for one whose columns are made from its event or given (Refused)."""
    if isinstance(item, Prepared | Foreseen):
        return item.head, item.identity
    if isinstance(item, Filtered):  # not ours to know which record it was
        return item.head, NO_IDENTITY
    return None
