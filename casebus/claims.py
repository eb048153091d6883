"""The record claim: what the revision rule, the subscription filter and the event log need
of an event, in one header of its own, so a consumer can decide a stale or duplicate event
without decoding its value.

The producer writes the header `casebus.record` from the value it is about to send, decoded
back from those very bytes (`claim_header`): the record's kind, owner, id, revision and
content digest (casebus.records.content_digest), its event id, type and producer, case,
region, audience and the instants the event log and the signer check use. The header is
signed with the rest of the record (casebus/provenance/signing.py covers the topic, the key,
the value and every header before the signature), so nobody but the owner's key can make a
claim, and the claim and the body it describes are bound under one signature.

A consumer trusts a claim only as far as that signature: it decides from the claim alone the
events that will not change a record (stale, duplicate, for another audience), and decodes
every event that will; when it decodes one, the claim must match the body field for field,
digest included (`mismatch`), or the event is refused (`ClaimMismatch`), never written. A
claim that lies about a skipped event is the owner's signed statement: it is what the event
log records, and the record's bytes, still on the topic under the same signature, prove it
against its owner. Events without the header are decoded and decided as before.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from fastavro import parse_schema, schemaless_reader

from casebus.contracts.schemas import schema_for_topic
from casebus.events import Event
from casebus.records import NotARecord, content_digest, record_kind
from casebus.serde.framing import HEADER_SIZE
from casebus.serde.reader import Read, Unreadable, compile_decoder, decode

CLAIM_HEADER = "casebus.record"
_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLI = timedelta(milliseconds=1)


class Claim(NamedTuple):
    """What the header says of the event (the fields as the decoded event has them)."""

    kind: str
    owner: str
    record_id: str
    revision: int
    digest: str
    event_id: str
    event_type: str
    producer: str
    case_id: str
    region: str
    handling: str
    shared_with: tuple[str, ...]
    occurred_at: datetime
    published_at: datetime

    def audience(self) -> dict[str, Any]:
        """The fields casebus.filtering.admits reads of an event."""
        return {
            "owner": self.owner,
            "region": self.region,
            "handling": self.handling,
            "shared_with": self.shared_with,
        }


def _millis(value: datetime) -> int:
    return (value - _EPOCH) // _MILLI


def claim_of(event: Event) -> Claim | None:
    """The claim of a decoded event; None if it carries no record."""
    try:
        kind = record_kind(event)
    except NotARecord:
        return None
    return _claim(event, kind, content_digest(event, kind))


def _claim(event: Mapping[str, Any], kind: str, digest: str) -> Claim:
    return Claim(
        kind,
        str(event["owner"]),
        str(event["record_id"]),
        int(event["revision"]),
        digest,
        str(event["event_id"]),
        str(event["event_type"]),
        str(event["producer"]),
        str(event["case_id"]),
        str(event["region"]),
        str(event["handling"]),
        tuple(map(str, event["shared_with"])),
        event["occurred_at"],
        event["published_at"],
    )


def encode_claim(claim: Claim) -> bytes:
    fields: list[Any] = [_VERSION, *claim[:12]]
    fields[12] = list(claim.shared_with)
    fields += [_millis(claim.occurred_at), _millis(claim.published_at)]
    return orjson.dumps(fields)


def parse_claim(data: bytes) -> Claim | None:
    """The claim a header holds; None if it is not one this version reads."""
    try:
        fields = orjson.loads(data)
        if not isinstance(fields, list) or len(fields) != 15 or fields[0] != _VERSION:
            return None
        revision, shared, occurred, published = fields[4], fields[12], fields[13], fields[14]
        texts = fields[1:4] + fields[5:12]
        if (
            set(map(type, texts)) != {str}
            or not isinstance(shared, list)
            or not {int} >= set(map(type, (revision, occurred, published)))
            or not {str} >= set(map(type, shared))
        ):
            return None
        when = (_EPOCH + _MILLI * occurred, _EPOCH + _MILLI * published)
        return Claim._make([*fields[1:12], tuple(shared), *when])
    except (ValueError, OverflowError):
        return None


def claim_in(headers: Sequence[tuple[str, Any]] | None) -> bytes | None:
    """The raw claim header of a record, if it has one (where producers put it first)."""
    if not headers:
        return None
    if len(headers) >= 4 and headers[-4][0] == CLAIM_HEADER:  # before the three of signing
        value = headers[-4][1]
        return value if isinstance(value, bytes) else None
    for name, value in headers:
        if name == CLAIM_HEADER:
            return value if isinstance(value, bytes) else None
    return None


def mismatch(raw: bytes, event: Mapping[str, Any], kind: str, digest: str) -> str | None:
    """How a decoded event (of `kind`, its content digest `digest`) differs from what its
    claim header `raw` says (None: in nothing). The same claim encodes to the same bytes, so
    a matching event costs one encoding; only a mismatch is worked out field by field."""
    try:
        actual = _claim(event, kind, digest)
    except (KeyError, TypeError, ValueError) as exc:
        return f"the event lacks what its casebus.record header claims: {exc}"
    if encode_claim(actual) == raw:
        return None
    claim = parse_claim(raw)
    if claim is None:
        return "the casebus.record header cannot be read"
    differ = [name for name in Claim._fields if getattr(actual, name) != getattr(claim, name)]
    if differ:
        return "the casebus.record header does not match the event: " + ", ".join(differ)
    return None  # encoded otherwise, but saying the same


_readers: dict[str, tuple[Read | None, Any]] = {}


def claim_header(topic: str, value: bytes) -> list[tuple[str, bytes]]:
    """The claim header of a framed value written with `topic`'s current schema (the shared
    topic's name), made from the value read back from those bytes, so that its digest is the
    one a consumer computes; [] for a value that carries no record."""
    readers = _readers.get(topic)
    if readers is None:
        schema = schema_for_topic(topic)
        readers = _readers[topic] = (compile_decoder(schema), parse_schema(schema))
    fast, parsed = readers
    event: Any = None
    if fast is not None:
        try:
            event, _ = decode(fast, value, HEADER_SIZE)
        except Unreadable:
            event = None
    if event is None:
        event = schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), parsed, None)
    claim = claim_of(event)
    return [] if claim is None else [(CLAIM_HEADER, encode_claim(claim))]
