"""Untrusted records of every kind, for the sync, replay and feeds tests: each is a real
record on the real broker, refused for one reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from casebus.config import Settings, TrustedKey
from casebus.events import Event, event_key
from casebus.provenance.signing import Signer
from casebus.publish import event_headers
from casebus.serde import SerializationContext
from tests.provenance.helpers import new_key
from tests.sync.helpers import EventProducer


@dataclass
class Keys:
    """Keys of the test: one revoked, one expired long ago, one nobody trusts."""

    revoked: tuple[Signer, TrustedKey]
    expired: tuple[Signer, TrustedKey]
    unknown: Signer

    @classmethod
    def of(cls, owner: str) -> Keys:
        now = datetime.now(UTC)
        old = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 12, 31, tzinfo=UTC)
        return cls(
            new_key(
                owner,
                now.replace(year=now.year - 1),
                now.replace(year=now.year + 1),
                revoked=True,
                revoked_reason="key leaked",
            ),
            new_key(owner, *old),
            new_key(owner, *old)[0],
        )

    def trusting(self, settings: Settings) -> Settings:
        """`settings` whose trust list also holds the revoked and the expired key."""
        extra = (*settings.provenance.trusted, self.revoked[1], self.expired[1])
        provenance = settings.provenance.model_copy(update={"trusted": extra})
        return settings.model_copy(update={"provenance": provenance})


def send_forgeries(
    producer: EventProducer,
    shared: str,
    make: Callable[[str], Event],  # record id -> a valid event of the owner below
    *,
    owner: str,
    impersonated: Callable[[str], Event],  # record id -> an event in another owner's name
    keys: Keys,
) -> dict[str, str]:
    """One record per refusal, sent; returns record id -> the reason it must be refused."""

    def framed(event: Event) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        value = producer.serializers[shared](event, SerializationContext(producer.topics[shared]))
        return event_key(event), value, event_headers(event)

    def send(
        event: Event,
        sign: Callable[[bytes, bytes, list[tuple[str, bytes]]], list[tuple[str, bytes]]],
    ) -> None:
        key, value, headers = framed(event)
        producer.send_raw(shared, key, value, sign(key, value, headers), signed_by=None)

    mine = producer.signers(owner)
    other = "casebus.lead" if shared != "casebus.lead" else "casebus.penalty"
    expected: dict[str, str] = {}

    send(make("F-unsigned"), lambda k, v, h: h)
    expected["F-unsigned"] = "Unsigned"
    # Another agency's trusted key, on an event in this owner's name.
    forged = impersonated("F-forged")
    stranger = producer.signers("510500-PSB")
    send(forged, lambda k, v, h: stranger.sign(shared, k, v, h))
    expected["F-forged"] = "WrongSigner"
    # A valid signature, then one byte of the value changed.
    key, value, headers = framed(make("F-flipped"))
    signed = mine.sign(shared, key, value, headers)
    flipped = value[:-1] + bytes([value[-1] ^ 1])
    producer.send_raw(shared, key, flipped, signed, signed_by=None)
    expected["F-flipped"] = "BadSignature"
    # The headers and signature of a valid event, on another event's value.
    donor_key, donor_value, donor_headers = framed(make("F-donor"))
    donor = mine.sign(shared, donor_key, donor_value, donor_headers)
    key, value, _ = framed(make("F-copied"))
    producer.send_raw(shared, key, value, donor, signed_by=None)
    expected["F-copied"] = "BadSignature"
    send(make("F-topic"), lambda k, v, h: mine.sign(other, k, v, h))
    expected["F-topic"] = "SignedForAnotherTopic"
    send(make("F-revoked"), lambda k, v, h: keys.revoked[0].sign(shared, k, v, h))
    expected["F-revoked"] = "RevokedKey"
    send(make("F-unknown"), lambda k, v, h: keys.unknown.sign(shared, k, v, h))
    expected["F-unknown"] = "UnknownKey"
    send(make("F-expired"), lambda k, v, h: keys.expired[0].sign(shared, k, v, h))
    expected["F-expired"] = "KeyNotValid"
    producer.flush()
    return expected
