"""Decided before decoding: an event whose signed record claim (casebus/claims.py) shows it
stale, a duplicate or for another audience is decided from the claim, never decoded; the
database and the event log end up exactly as when every event is decoded; a claim that does
not say what the body says is refused once the body is decoded, and one changed on the way
breaks the signature. Offline: a primed registry, the owners' keys, SQLite."""

from __future__ import annotations

import collections
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast
from unittest import mock

import pytest
from sqlalchemy import select

from agencydb.engine import make_engine, open_database
from agencydb.reconcile import reconcile_databases
from agencydb.rows import EVENT_LOG, LOG_HEAD, LOG_IDENTITY
from bench.workload import event_stream, make_event
from casebus import claims
from casebus.claims import CLAIM_HEADER, claim_of, encode_claim, parse_claim
from casebus.config import Settings, load_settings
from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic
from casebus.events import Event
from casebus.filtering import admits
from casebus.provenance.signing import Refusal
from casebus.publish import EventEncoder
from casebus.registry import RegistryClient
from casebus.revisions import Outcome
from casebus.serde import AvroDeserializer
from casebus.topics import TopicNames
from pipeline.checkpoint import Checkpoint
from pipeline.decode_worker import DecodeWorkerJob
from pipeline.dlq import DeadLetters
from pipeline.inbound import Consumed, SignatureCheck
from pipeline.items import Claimed, RawRecord
from pipeline.report import SyncReport
from tests.sync.helpers import penalty

pytestmark = pytest.mark.offline

AGENCY = "500110-SAMR"  # receives bench/sync.py's workload, as there
NAMES = TopicNames.same(TOPIC_SCHEMAS)
# Every column of the event log but the row id, when it was logged and the chain's hash.
COMPARED = (*LOG_HEAD, *LOG_IDENTITY, "outcome", "detail", "origin", "state_digest")


class _Letters:
    """The DLQ, recorded."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, str]] = []

    def send(self, record: Any, error_class: str, message: str) -> None:
        self.sent.append((record.offset, error_class, message))

    def flush(self) -> None:
        pass


def _registry() -> RegistryClient:
    registry = RegistryClient("http://registry.invalid")  # primed: never asked
    for schema_id, topic in enumerate(sorted(TOPIC_SCHEMAS), 1):
        registry.prime(f"{topic}-value", schema_for_topic(topic), schema_id)
    return registry


def _records(
    settings: Settings, registry: RegistryClient, events: Sequence[Event], *, with_claims: bool
) -> list[RawRecord]:
    """The events as a connector publishes them (signed), with or without claims."""
    encoder = EventEncoder(settings, NAMES, registry)
    none = mock.patch("casebus.publish.claim_header", lambda topic, value: [])
    with none if not with_claims else _nothing():
        out = encoder.encode_all(list(events))
    offsets: collections.Counter[str] = collections.Counter()
    raw = []
    for o in out:
        raw.append(RawRecord(o.topic, 0, offsets[o.topic], o.value, o.key, tuple(o.headers)))
        offsets[o.topic] += 1
    return raw


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _counting_decodes() -> Iterator[list[int]]:
    calls: list[int] = []
    decode = AvroDeserializer.decode

    def counted(self: AvroDeserializer, data: bytes, ctx: Any) -> Any:
        calls.append(1)
        return decode(self, data, ctx)

    fast = DecodeWorkerJob._fast

    def read(self: DecodeWorkerJob, *args: Any) -> Any:
        item = fast(self, *args)
        if item is not None:  # read in the generated pass (pipeline/fused.py)
            calls.append(1)
        return item

    with (
        mock.patch.object(AvroDeserializer, "decode", counted),
        mock.patch.object(DecodeWorkerJob, "_fast", read),
    ):
        yield calls


def _sync(
    settings: Settings,
    registry: RegistryClient,
    raw: Sequence[RawRecord],
    url: str,
    worker: bool,
    claims_pay_from: float = 0.0,
) -> tuple[list[Outcome], _Letters]:
    """Batches of 50 through the decode worker's job (in process) or the inline decode, then
    the checkpoint, as the sync runs them. The worker decides from claims whatever share of
    a batch they skip, unless `claims_pay_from` says otherwise."""
    sub = settings.sync.subscription(AGENCY)
    engine = open_database(url)
    job = DecodeWorkerJob(settings, NAMES, AGENCY, url, registry, verify=True)
    job.claims_pay_from = claims_pay_from
    letters = _Letters()
    checkpoint = Checkpoint(
        engine,
        job.decoder,
        admit=lambda event, kind: admits(sub, event, kind),
        dead_letters=cast(DeadLetters, letters),
        report=SyncReport(AGENCY),
        group="test-claims",
    )
    outcomes: list[Outcome] = []
    for start in range(0, len(raw), 50):
        batch = raw[start : start + 50]
        if worker:
            work = job.run(batch, None)
            consumed = [Consumed(r, i) for r, i in zip(batch, work.items, strict=True)]
        else:
            consumed = job.decoder.decode(batch, claims=True)
        outcomes += [r.outcome for r in checkpoint.commit(consumed)]
    engine.dispose()
    return outcomes, letters


def _log(url: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            columns = [EVENT_LOG.c[name] for name in COMPARED]
            return [tuple(r) for r in conn.execute(select(*columns).order_by(EVENT_LOG.c.id))]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="module")
def registry() -> RegistryClient:
    return _registry()


def test_the_claim_is_what_a_consumer_decodes_and_is_signed(
    settings: Settings, registry: RegistryClient
) -> None:
    event = penalty("泸市监处罚〔2025〕9号", 3)
    (record,) = _records(settings, registry, [event], with_claims=True)
    raw = dict(record.headers)[CLAIM_HEADER]
    decoded = AvroDeserializer(registry, max_message_bytes=10**6)(record.value or b"", mock.Mock())
    assert parse_claim(raw) == claim_of(decoded)  # digest, instants and all
    assert parse_claim(raw) is not None and parse_claim(raw).revision == 3  # type: ignore[union-attr]
    # The signature covers the claim: one changed on the way is refused.
    check = SignatureCheck(settings, NAMES)
    assert isinstance(check(record), str)
    lie = claim_of(decoded)._replace(revision=1)  # type: ignore[union-attr]
    forged = [(n, encode_claim(lie) if n == CLAIM_HEADER else v) for n, v in record.headers]
    refusal = check(record._replace(headers=tuple(forged)))
    assert isinstance(refusal, Refusal) and refusal.reason == "BadSignature"


@pytest.mark.parametrize("worker", [True, False], ids=["decode worker", "inline"])
def test_stale_and_duplicate_events_are_decided_undecoded_with_the_same_results(
    settings: Settings, registry: RegistryClient, tmp_path: Path, worker: bool
) -> None:
    events = [make_event(*spec) for spec in event_stream(600, seed=7)]
    before = f"sqlite:///{tmp_path / 'decoded.sqlite'}"
    after = f"sqlite:///{tmp_path / 'claimed.sqlite'}"
    plain = _records(settings, registry, events, with_claims=False)
    claimed = _records(settings, registry, events, with_claims=True)
    with _counting_decodes() as every:
        expected, _ = _sync(settings, registry, plain, before, worker)
    with _counting_decodes() as decoded:
        outcomes, letters = _sync(settings, registry, claimed, after, worker)

    assert outcomes == expected and not letters.sent
    counts = collections.Counter(outcomes)
    assert counts[Outcome.STALE] + counts[Outcome.DUPLICATE] > 150, counts
    assert len(every) == len(events)
    # Only what was written was decoded: nothing stale, duplicate or filtered.
    assert len(decoded) == counts[Outcome.APPLIED], counts
    assert _log(after) == _log(before)  # the same event log, row for row
    sub = settings.sync.subscription(AGENCY)
    report = reconcile_databases(after, before, (sub, sub), names=("claimed", "decoded"))
    assert report.identical and report.compared > 100, report.lines()


@pytest.mark.parametrize("worker", [True, False], ids=["decode worker", "inline"])
def test_a_claim_that_does_not_match_its_body_is_refused_when_decoded(
    settings: Settings, registry: RegistryClient, tmp_path: Path, worker: bool
) -> None:
    """Signed by the owner's own key, so the signature holds: the body gives it away."""
    honest = penalty("泸市监处罚〔2025〕1号", 1, shared_with=[AGENCY])
    lying = penalty("泸市监处罚〔2025〕2号", 1, shared_with=[AGENCY])

    def wrong_digest(topic: str, value: bytes) -> list[tuple[str, bytes]]:
        ((name, raw),) = real(topic, value)
        claim = parse_claim(raw)
        assert claim is not None
        if claim.record_id == lying["record_id"]:
            claim = claim._replace(digest="0" * 64)
        return [(name, encode_claim(claim))]

    real = claims.claim_header
    with mock.patch("casebus.publish.claim_header", wrong_digest):
        raw = _records(settings, registry, [honest, lying], with_claims=True)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    outcomes, letters = _sync(settings, registry, raw, url, worker)

    assert outcomes == [Outcome.APPLIED, Outcome.REJECTED]
    ((offset, error_class, message),) = letters.sent
    assert (offset, error_class) == (1, "ClaimMismatch")
    assert message.endswith("does not match the event: digest")
    logged = {row[COMPARED.index("record_id")]: row for row in _log(url)}
    assert logged[lying["record_id"]][COMPARED.index("outcome")] == "rejected"
    assert logged[lying["record_id"]][COMPARED.index("digest")] is None  # from the body


def test_records_without_a_usable_claim_are_decoded_as_before(
    settings: Settings, registry: RegistryClient
) -> None:
    (record,) = _records(settings, registry, [penalty("P-9", 1)], with_claims=True)
    job = DecodeWorkerJob(settings, NAMES, AGENCY, "sqlite://", registry, verify=True)
    assert isinstance(job.decoder.take(record), Claimed)
    (plain,) = _records(settings, registry, [penalty("P-9", 1)], with_claims=False)
    assert not isinstance(job.decoder.take(plain), Claimed)


def test_the_worker_stops_deciding_from_claims_where_they_skip_too_little(
    settings: Settings, registry: RegistryClient, tmp_path: Path
) -> None:
    """New records only: nothing to skip, so after its first batch the worker decodes
    every event as if it had no claim, with the same results."""
    events = [penalty(f"泸市监处罚〔2025〕{n}号", 1, shared_with=[AGENCY]) for n in range(300)]
    raw = _records(settings, registry, events, with_claims=True)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with (
        mock.patch("pipeline.inbound.mismatch", wraps=claims.mismatch) as checked,
        mock.patch("pipeline.fused.mismatch", wraps=claims.mismatch) as fused,  # its scope
    ):
        outcomes, letters = _sync(settings, registry, raw, url, True, claims_pay_from=0.4)
    assert outcomes == [Outcome.APPLIED] * 300 and not letters.sent
    assert checked.call_count + fused.call_count == 50  # the first batch's claims only
