"""What apply needs of a decoded event, worked out from the event alone.

`prepare` gives an event's kind, identity, revision, content digest, whether this agency
receives it, and the rows that would store it (pipeline/items.py). Apply calls it
inline; the decode worker (pipeline/decode_worker.py) calls the same function ahead.
"""

from __future__ import annotations

from collections.abc import Callable

from agencydb.rows import RowBuilder
from casebus.events import Event
from casebus.records import RecordKey, content_digest, record_kind
from pipeline.items import Claimed, Decoded, Filtered, Foreseen, Prepared, Unchecked

# Whether the agency receives an event of this kind (casebus.filtering.admits).
Admit = Callable[[Event, str], bool]
# Whether a valid revision at least as high of this record came earlier in the stream.
ForeseenLoss = Callable[[RecordKey, int], bool]


def prepare(
    decoded: Decoded,
    rows: RowBuilder,
    admit: Admit | None,
    *,
    foresee: ForeseenLoss | None = None,
    value: bytes = b"",
) -> Prepared | Filtered | Foreseen:
    """Raises casebus.records.NotARecord for an event that carries no record.

    With `foresee`, an event expected to lose is `Foreseen` (no rows; `value`, the record's
    bytes, decodes it again should it win). A Prepared item's validity is Unchecked."""
    event, provenance = decoded.event, decoded.provenance
    kind = record_kind(event)
    head = rows.log_head(provenance, event)
    if admit is not None and not admit(event, kind):
        return Filtered(provenance, head)
    digest = decoded.digest or content_digest(event, kind)
    owner, record_id, revision = (
        str(event["owner"]),
        str(event["record_id"]),
        int(event["revision"]),
    )
    identity = rows.log_identity(event, kind, digest)
    if foresee is not None and foresee(RecordKey((kind, owner, record_id)), revision):
        return Foreseen(provenance, kind, owner, record_id, revision, digest, head, identity, value)
    state = rows.state(event, kind, digest)
    return Prepared(
        provenance,
        kind,
        owner,
        record_id,
        revision,
        digest,
        head,
        identity,
        state,
        Unchecked(event),
    )


def prepare_claimed(
    claimed: Claimed, rows: RowBuilder, admit: Admit | None, *, foresee: ForeseenLoss | None
) -> Filtered | Foreseen | None:
    """What `prepare` would make of the event, from its claim alone: Filtered if this
    agency does not receive it, Foreseen if it is expected to lose (`foresee` None: every
    admitted event; the rule decides, and the checkpoint decodes the ones that win); None if
    it may win, to be decoded now."""
    claim, provenance = claimed.claim, claimed.provenance
    admitted = admit is None or admit(claim.audience(), claim.kind)
    key = RecordKey((claim.kind, claim.owner, claim.record_id))
    if admitted and foresee is not None and not foresee(key, claim.revision):
        return None  # may win: decoded now, nothing built for it here
    envelope = {
        "event_id": claim.event_id,
        "producer": claim.producer,
        "event_type": claim.event_type,
        "owner": claim.owner,
        "record_id": claim.record_id,
        "revision": claim.revision,
        "case_id": claim.case_id,
        "occurred_at": claim.occurred_at,
    }
    head = rows.log_head(provenance, envelope)
    if not admitted:
        return Filtered(provenance, head)
    identity = rows.log_identity(envelope, claim.kind, claim.digest)
    return Foreseen(
        provenance,
        claim.kind,
        claim.owner,
        claim.record_id,
        claim.revision,
        claim.digest,
        head,
        identity,
        claimed.value,
        claimed.raw_claim,
    )
