"""Offline: signatures, every refusal a consumer can make, keys and the trust list."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from casebus.config import ConfigError, Settings, TrustedKey, load_settings
from casebus.provenance import batch, keys
from casebus.provenance.signing import (
    KEY_ID_HEADER,
    PROOF_HEADER,
    SIGNATURE_HEADER,
    Record,
    Refusal,
    Signer,
    Verifier,
    signed_bytes,
)
from tests.provenance.helpers import new_key

pytestmark = pytest.mark.offline

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TOPICS = ("casebus.penalty", "casebus.lead", "casebus.action")
HEADERS = [("event_id", b"e-1"), ("owner", b"510500-SAMR")]


def _key(owner: str, **entry: object) -> tuple[Signer, TrustedKey]:
    return new_key(owner, NOW - timedelta(days=30), NOW + timedelta(days=30), **entry)


SAMR, SAMR_KEY = _key("510500-SAMR")
PSB, PSB_KEY = _key("510500-PSB")
VERIFIER = Verifier([SAMR_KEY, PSB_KEY], TOPICS)


def _signed(
    signer: Signer = SAMR, topic: str = "casebus.penalty", value: bytes = b"\x00\x00\x00\x00\x01v"
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return b"CASE-1", value, signer.sign(topic, b"CASE-1", value, HEADERS)


def _check(key: bytes, value: bytes | None, headers: list[tuple[str, bytes]]) -> object:
    found = VERIFIER.check_record("casebus.penalty", key, value, headers)
    return found.reason if isinstance(found, Refusal) else found


def test_a_signed_record_verifies_and_names_its_key() -> None:
    key, value, headers = _signed()
    assert [n for n, _ in headers[-3:]] == [KEY_ID_HEADER, PROOF_HEADER, SIGNATURE_HEADER]
    assert headers[:2] == HEADERS  # the producer's headers are kept, in order
    assert _check(key, value, headers) == SAMR_KEY
    assert Verifier.check_signer(SAMR_KEY, "510500-SAMR", NOW) is None


def test_every_tampering_is_refused_with_its_reason() -> None:
    key, value, headers = _signed()
    flipped = bytes([value[0] ^ 1]) + value[1:]
    assert _check(key, flipped, headers) == "BadSignature"
    assert _check(b"CASE-2", value, headers) == "BadSignature"  # moved to another case
    forged_owner = [("event_id", b"e-1"), ("owner", b"500110-SAMR"), *headers[2:]]
    assert _check(key, value, forged_owner) == "BadSignature"
    # The signature of another event, under this one's key id.
    _, _, other = _signed(value=b"\x00\x00\x00\x00\x01w")
    assert _check(key, value, [*headers[:-1], other[-1]]) == "BadSignature"


def test_a_signature_made_for_another_topic_names_that_topic() -> None:
    key, value, headers = _signed(topic="casebus.lead")
    found = VERIFIER.check_record("casebus.penalty", key, value, headers)
    assert isinstance(found, Refusal) and found.reason == "SignedForAnotherTopic"
    assert "casebus.lead" in found.message


def test_missing_unknown_and_revoked_keys_are_refused() -> None:
    key, value, headers = _signed()
    assert _check(key, value, []) == "Unsigned"
    assert _check(key, value, headers[:-1]) == "Unsigned"  # no signature
    assert _check(key, value, [*headers[:-3], *headers[-2:]]) == "Unsigned"  # no key id
    stranger, _ = _key("510500-SAMR")
    assert _check(*_signed(stranger)) == "UnknownKey"
    revoked = SAMR_KEY.model_copy(update={"revoked": True, "revoked_reason": "leaked"})
    found = Verifier([revoked]).check_record("casebus.penalty", key, value, headers)
    assert isinstance(found, Refusal) and found.reason == "RevokedKey"
    assert "leaked" in found.message


def test_the_signer_must_be_the_owner_and_its_key_valid_when_published() -> None:
    assert _check(*_signed(PSB)) == PSB_KEY  # a trusted key, but not the owner's:
    wrong = Verifier.check_signer(PSB_KEY, "500110-SAMR", NOW)
    assert wrong is not None and wrong.reason == "WrongSigner"
    late = Verifier.check_signer(SAMR_KEY, "510500-SAMR", NOW + timedelta(days=31))
    early = Verifier.check_signer(SAMR_KEY, "510500-SAMR", NOW - timedelta(days=31))
    assert late is not None and early is not None
    assert (late.reason, early.reason) == ("KeyNotValid", "KeyNotValid")
    undated = Verifier.check_signer(SAMR_KEY, "510500-SAMR", None)
    assert undated is not None and undated.reason == "KeyNotValid"


@pytest.mark.parametrize("size", [1, 2, 5, 32, 33, 70])
def test_each_record_of_a_batch_verifies_alone(size: int) -> None:
    records: list[Record] = [
        ("casebus.penalty", f"CASE-{i}".encode(), bytes([i % 256]) * 40, HEADERS)
        for i in range(size)
    ]
    signed = SAMR.sign_batch(records)
    assert len({dict(h)[SIGNATURE_HEADER] for h in signed}) == -(-size // batch.BATCH)
    fresh = Verifier([SAMR_KEY], TOPICS)  # nothing remembered: each checked from scratch
    for (topic, key, value, _), headers in zip(records, signed, strict=True):
        assert fresh.check_record(topic, key, value, headers) == SAMR_KEY
    if size > 1:  # another record's path, or its value, under this one's signature
        (t, k, v, _), h0 = records[0], signed[0]
        swapped = [*h0[:-2], signed[1][-2], h0[-1]]
        assert isinstance(fresh.check_record(t, k, v, swapped), Refusal)
        assert isinstance(fresh.check_record(t, k, records[1][2], h0), Refusal)


def test_verified_roots_are_remembered_in_two_generations() -> None:
    """A root verified once is not verified again while remembered; past `remember` the
    older half is forgotten, not all of it; a tampered record is never let through by it."""
    batches = [
        SAMR.sign_batch([("casebus.penalty", b"K", bytes([n]) * 8, HEADERS)]) for n in range(5)
    ]
    verifier = Verifier([SAMR_KEY], TOPICS, remember=4)  # two generations of two

    def check(n: int) -> object:
        return verifier.check_record("casebus.penalty", b"K", bytes([n]) * 8, batches[n][0])

    for n in (0, 1, 0, 1):
        assert check(n) == SAMR_KEY
    assert verifier.verifications == 2
    assert check(2) == SAMR_KEY  # the newer generation was full: 0 and 1 are the older now
    assert check(0) == SAMR_KEY and check(1) == SAMR_KEY and verifier.verifications == 3
    for n in (3, 4):  # 2 and 3 fill a generation, 4 starts one: 0 and 1 are forgotten
        assert check(n) == SAMR_KEY
    assert check(2) == SAMR_KEY and verifier.verifications == 5
    assert check(0) == SAMR_KEY and verifier.verifications == 6
    tampered = verifier.check_record("casebus.penalty", b"K", b"\x09" * 8, batches[0][0])
    assert isinstance(tampered, Refusal) and tampered.reason == "BadSignature"


def test_malformed_paths_are_refused_not_raised() -> None:
    key, value, headers = _signed()
    for path in (b"", b"\x00", b"\x00\x05\x00\x02", b"\x00\x00\x00\x01" + b"x" * 32):
        bad = [*headers[:-2], (PROOF_HEADER, path), headers[-1]]
        assert _check(key, value, bad) == "BadSignature"


def test_no_part_can_be_shifted_into_another() -> None:
    assert signed_bytes("t", b"ab", b"c", []) != signed_bytes("t", b"a", b"bc", [])
    assert signed_bytes("t", None, b"", []) != signed_bytes("t", b"", b"", [])
    assert signed_bytes("t", b"k", None, []) != signed_bytes("t", b"k", b"", [])


def test_a_trust_entry_whose_id_is_not_its_fingerprint_is_refused_at_start() -> None:
    bad = SAMR_KEY.model_copy(update={"key_id": PSB_KEY.key_id})
    with pytest.raises(ConfigError, match="fingerprint"):
        Verifier([bad])


@pytest.fixture
def local(tmp_path: Path) -> Settings:
    settings = load_settings()
    provenance = settings.provenance.model_copy(update={"keys_dir": str(tmp_path / "keys")})
    return settings.model_copy(update={"provenance": provenance})


def test_generate_writes_a_private_key_0600_and_a_trust_entry(local: Settings) -> None:
    entry = keys.generate(local, "510500-SAMR")
    path = keys.key_path(local, "510500-SAMR")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in path.read_text() and "PRIVATE" not in local.trust_file.read_text()
    assert keys.trust_list(local) == (entry,)
    loaded = keys.load_signing_key(local, "510500-SAMR")
    assert loaded.key_id == entry.key_id
    with pytest.raises(FileExistsError):
        keys.generate(local, "510500-SAMR")
    newer = keys.generate(local, "510500-SAMR", replace=True)
    assert [e.key_id for e in keys.trust_list(local)] == [entry.key_id, newer.key_id]
    revoked = keys.revoke(local, entry.key_id, "rotated")
    assert revoked.revoked and keys.trust_list(local)[0].revoked
    with pytest.raises(ConfigError, match="not in the trust file"):
        keys.revoke(local, "0" * 32, "")


def test_a_missing_key_names_the_environment_variable_and_the_file(local: Settings) -> None:
    with pytest.raises(keys.MissingKey, match="CASEBUS_SIGNING_KEY_510500_PSB"):
        keys.load_signing_key(local, "510500-PSB")


def test_ensure_keys_makes_one_key_per_owner_once(local: Settings) -> None:
    made = keys.ensure_keys(local)
    owners = {e.owner for e in made}
    assert {"510500-SAMR", "PLATFORM-JD", local.provenance.feeds_owner} <= owners
    assert keys.ensure_keys(local) == []
