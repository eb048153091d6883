"""The inbound step, the one way every consumer (sync, replay, redrive, the feeds) takes an
event in: check the signature (casebus.provenance) on the bytes, decode (Confluent-framed
Avro), check that the signer is the owner and that the record belongs on its topic; the
validator (`Inbound.check`) runs on events that would change a record.

Each refusal is a `Refused` item with its reason (the DLQ's `casebus.error.class`), so an
untrusted event is refused the same way by all of them and goes to the DLQ with its bytes.

Bad bytes or an invalid event become a Refused item (DLQ); an unreachable registry raises
RetryAfter so the consumer pauses and retries the same records, never DLQs them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import EllipsisType
from typing import Any, NamedTuple

from casebus import logs
from casebus.claims import claim_in, mismatch, parse_claim
from casebus.config import Settings, TrustedKey
from casebus.contracts.schemas import schema_for_topic
from casebus.contracts.validation import validate_event
from casebus.events import Event
from casebus.ids import ConsumedRecord
from casebus.provenance.keys import trust_list
from casebus.provenance.signing import Refusal, Verifier
from casebus.records import NotARecord, content_digest, record_kind
from casebus.registry.client import RegistryClient
from casebus.retry import RetryAfter
from casebus.serde import AvroDeserializer, SerdeError, SerializationContext
from casebus.serde.errors import KeySerializationError, ValueSerializationError
from casebus.serde.framing import HEADER_SIZE, MAGIC_BYTE
from casebus.topics import SHARED_TOPICS, TOPIC_BY_FAMILY, TopicNames
from pipeline.items import Claimed, Decoded, Foreseen, Item, Provenance, RawRecord, Refused

log = logging.getLogger(__name__)

MAX_VIOLATIONS_SHOWN = 5


# A record's signature as checked before it is decoded (SignatureCheck): the id of the
# trusted key that signed it, or why it is refused; None for a record without a value.
Signature = str | Refusal | None


class SignatureCheck:
    """Who signed each record, checked on its bytes alone (casebus.provenance), before it is
    decoded: inline by Inbound, or by the process that holds the records while a decode
    worker decodes them (pipeline/decode_worker.py)."""

    def __init__(self, settings: Settings, names: TopicNames) -> None:
        # Every shared topic, not only those read: a signature made for another one is
        # named as such (SignedForAnotherTopic) instead of a bare BadSignature.
        self._verifier = Verifier(trust_list(settings), SHARED_TOPICS)
        self._shared = names.read()

    def __call__(self, record: ConsumedRecord) -> Signature:
        if record.value is None:
            return None  # refused as empty before any signature matters
        signer = self._verifier.check_record(
            self._shared[record.topic], record.key, record.value, record.headers or ()
        )
        return signer if isinstance(signer, Refusal) else signer.key_id

    def trusted(self, key_id: str) -> TrustedKey:
        return self._verifier.trusted(key_id)


class Consumed(NamedTuple):
    """A consumed Kafka record and what it became (the record goes to the DLQ if refused)."""

    record: ConsumedRecord  # kafka.consumer.fetcher.ConsumerRecord, or a RawRecord
    item: Item


class Inbound:
    """Decodes records of the topics `names` puts in play (read under their actual names).
    `verify=False` only for bench/sync.py's comparison run."""

    def __init__(
        self,
        settings: Settings,
        registry: RegistryClient,
        names: TopicNames,
        *,
        verify: bool = True,
    ) -> None:
        self._settings = settings
        self._signatures = SignatureCheck(settings, names) if verify else None
        self._registry = registry
        self._shared = names.read()
        self._max = settings.validation.max_message_bytes
        # Per topic read: resolves old writers' values to the current schema (values written
        # with the current schema are read as they are).
        self._deserializers = {
            topic: AvroDeserializer(
                registry, max_message_bytes=self._max, reader_schema=schema_for_topic(shared)
            )
            for topic, shared in self._shared.items()
        }

    def decode(self, records: Sequence[ConsumedRecord], *, claims: bool = False) -> list[Consumed]:
        """Each record verified and decoded; with `claims`, a record with a usable claim
        header is verified only (`Claimed`), decoded later if it would change a record."""
        take = self.take if claims else self.decode_one
        consumed = [Consumed(record, take(record)) for record in records]
        for c in consumed:
            log_rejected(c)
        return consumed

    def take(
        self, record: ConsumedRecord, signature: Signature | EllipsisType = ...
    ) -> Claimed | Decoded | Refused:
        """Verify a record and, if it has a claim header (casebus/claims.py) that passes
        every check decoding would make (the signer is the claimed owner, its key valid when
        the event was published, the record's kind belongs on the topic, a framed value),
        stop there: `Claimed`. Any other record is decoded (`decode_one`), so whatever is
        refused is refused as before, with the same reason."""
        raw = claim_in(record.headers) if record.value is not None else None
        if raw is None or self._signatures is None:
            return self.decode_one(record, signature)
        if signature is ...:
            signature = self._signatures(record)
        claim = parse_claim(raw)
        value = record.value
        if (
            claim is None
            or not isinstance(signature, str)
            or value is None
            or len(value) < HEADER_SIZE
            or value[0] != MAGIC_BYTE
            or TOPIC_BY_FAMILY.get(claim.kind) != self._shared[record.topic]
            or Verifier.check_signer(
                self._signatures.trusted(signature), claim.owner, claim.published_at
            )
            is not None
        ):
            return self.decode_one(record, signature)
        schema_id = int.from_bytes(value[1:HEADER_SIZE], "big")
        prov = Provenance(record.topic, record.partition, record.offset, schema_id)
        return Claimed(prov, claim, value, raw)

    def own_schema(self, topic: str, schema_id: int) -> dict[str, Any] | None:
        """The topic's schema, if `schema_id` is it and the deserializer has met it."""
        deserializer = self._deserializers.get(topic)
        return None if deserializer is None else deserializer.own_schema(schema_id)

    def signer(self, signature: Signature | EllipsisType) -> TrustedKey | EllipsisType | None:
        """The trusted key a checked signature names; None when signatures are not checked
        (bench/sync.py's comparison run); `...` for a record refused or not checked."""
        if self._signatures is None:
            return None
        if not isinstance(signature, str):
            return ...
        return self._signatures.trusted(signature)

    def decode_claimed(self, claimed: Claimed) -> Decoded | Refused:
        """A Claimed record's event, decoded now (its signature was checked), the body
        checked against the claim."""
        prov = claimed.provenance
        raw = RawRecord(prov.topic, prov.partition, prov.offset, claimed.value)
        return self._decode_trusted(raw, None, claimed.raw_claim)

    def check(self, event: Event, kind: str) -> str | None:
        """Every rule the event breaks (casebus.contracts.validation), or None."""
        topic = TOPIC_BY_FAMILY[kind]
        violations = validate_event(topic, event, settings=self._settings, sealed=True)
        return describe_violations([v.message for v in violations]) if violations else None

    def redecode(self, item: Foreseen) -> Decoded | Refused:
        """A Foreseen item's event, decoded from its bytes (see pipeline/items.py). Verified
        when it was prepared; the bytes are the same. One decided from its claim without
        being decoded is refused here if its body does not match the claim, or cannot be
        decoded at all."""
        prov = item.provenance
        raw = RawRecord(prov.topic, prov.partition, prov.offset, item.value)
        again = self._decode_trusted(raw, None, item.raw_claim)
        if isinstance(again, Refused) and item.raw_claim is None:
            raise RetryAfter(f"cannot decode {prov} again: {again.reason}")
        return again

    def decode_one(
        self,
        record: ConsumedRecord,
        signature: Signature | EllipsisType = ...,
        *,
        claims: bool = True,
    ) -> Decoded | Refused:
        """Verify and decode one record (refusals are not logged here: see log_rejected).
        `signature`: what a SignatureCheck of the same trust list said, if one did.
        `claims=False`: its record claim, if any, is neither used nor checked."""
        prov = Provenance(record.topic, record.partition, record.offset)
        if record.value is None:
            return Refused(prov, "EmptyValue", "the record has no value (tombstone)")
        if self._signatures is None:
            return self._decode_trusted(record, None)
        if signature is ...:
            signature = self._signatures(record)
        if isinstance(signature, Refusal):
            return Refused(prov, signature.reason, signature.message)
        if signature is None:
            raise ValueError(f"{prov}: its signature was not checked")
        signer = self._signatures.trusted(signature)
        return self._decode_trusted(record, signer, ... if claims else None)

    def _decode_trusted(
        self,
        record: ConsumedRecord,
        signer: TrustedKey | None,
        claim: bytes | EllipsisType | None = ...,
    ) -> Decoded | Refused:
        """`claim`: the claim header the body must match (`...`: look for it in the
        record's headers; None: nothing to match)."""
        prov = Provenance(record.topic, record.partition, record.offset)
        assert record.value is not None  # refused as EmptyValue before (decode_one)
        try:
            decoded = self._deserializers[record.topic].decode(
                record.value, SerializationContext(record.topic)
            )
        except SerdeError as exc:
            if exc.transient:
                raise RetryAfter(str(exc)) from exc
            inner: SerdeError = exc
            if isinstance(exc, KeySerializationError | ValueSerializationError):
                inner = exc.inner
            return Refused(prov, type(inner).__name__, str(exc))
        prov = Provenance(record.topic, record.partition, record.offset, decoded.schema_id)
        event = decoded.value
        if signer is not None:
            refused = Verifier.check_signer(signer, event.get("owner"), event.get("published_at"))
            if refused is not None:
                return Refused(prov, refused.reason, refused.message, event)
        try:
            kind = record_kind(event)
        except NotARecord as exc:
            return Refused(prov, "NotARecord", str(exc), event)
        if TOPIC_BY_FAMILY[kind] != self._shared[record.topic]:
            why = f"a {kind} record does not belong on {self._shared[record.topic]}"
            return Refused(prov, "WrongTopic", why, event)
        if claim is ...:
            claim = claim_in(record.headers) if self._signatures is not None else None
        if claim is None:
            return Decoded(prov, event)
        # Signed with the body, the claim must say what the body says (casebus/claims.py).
        digest = content_digest(event, kind)
        wrong = mismatch(claim, event, kind, digest)
        if wrong is not None:
            return Refused(prov, "ClaimMismatch", wrong, event)
        return Decoded(prov, event, digest)


def describe_violations(messages: Sequence[str]) -> str:
    """The first few rules broken, and how many more: what the DLQ and the event log say."""
    shown = "; ".join(messages[:MAX_VIOLATIONS_SHOWN])
    more = len(messages) - MAX_VIOLATIONS_SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")


def log_rejected(c: Consumed) -> None:
    if isinstance(c.item, Refused):
        prov = c.item.provenance
        where = f"{prov.topic}:{prov.partition}@{prov.offset}"
        log.warning(
            "rejecting %s: %s",
            where,
            c.item.reason,
            extra=logs.at(prov, outcome="rejected", reason=c.item.reason),
        )
