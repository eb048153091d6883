"""Decode and prepare the next batch in a worker process while the main process writes this one.

Per event, Avro decoding, validation and building the rows cost more CPU than deciding and
writing, and they depend on nothing but the bytes: a worker process (the machine's other
core) decodes a batch and prepares each event with apply's own `prepare` (kind, digest,
subscription filter, rows) and validates it, while the main process applies and commits the
batch before it. The signatures are checked in the main process as it hands a batch over
(they need only the record's bytes, and measured, the worker is the busier of the two): the
worker decodes only what a trusted key signed. The worker also hashes each valid item's rows
(the event log's `state_digest`), the one part of the chain that depends on nothing else,
and for PostgreSQL turns them into the COPY text they are written as (agencydb/copytext.py).
The main process still decides and writes everything, batch after batch in order, in one
transaction each. What comes back is items of plain values (pipeline/items.py), not the
decoded events: several times cheaper to unpickle, which is most of what the main process
saves; and they cross as flat tuples (pipeline/handover.py), not nested named tuples.

An event whose signed record claim (casebus/claims.py) shows it filtered out, or foreseen to
lose as below, is not even decoded: it is decided from the claim (pipeline/prepare.py
`prepare_claimed`), while that skips enough of a batch to pay for parsing and checking the
claims of the rest (`_CLAIMS_PAY`). Validation is speculative but never skipped: the worker
validates every admitted event except one preceded in the stream by a valid event of the
same record with a revision at least as high (it can only turn out stale, a duplicate or a
conflict: never applied), and leaves out its rows too (a `Foreseen` item); if such an event
wins after all (after a rewind, say), the checkpoint decodes it again from its bytes,
prepares and validates it.

A value written with its topic's own schema, where a generated pass to items exists for it
(pipeline/fused.py: the penalty topic), is read, checked and built into its item in that one
pass; whatever that pass does not handle takes the usual way above.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from types import EllipsisType
from typing import Any, NamedTuple

from sqlalchemy.engine import make_url

from agencydb.chain import log_text, state_digest
from agencydb.rows import RowBuilder, State, StateRows
from casebus.claims import CLAIM_HEADER
from casebus.config import Settings, Subscription
from casebus.contracts import codes
from casebus.events import Event
from casebus.filtering import admits
from casebus.gctune import MallocTrim
from casebus.ids import ConsumedRecord
from casebus.records import RecordKey
from casebus.registry.client import RegistryClient, registry_for
from casebus.serde.framing import HEADER_SIZE, MAGIC_BYTE
from casebus.topics import TopicNames
from casebus.workers import ForkedPool
from pipeline.fused import Fused, compile_fused, latest_now
from pipeline.handover import flatten, unflatten
from pipeline.inbound import Consumed, Inbound, Signature, SignatureCheck, log_rejected
from pipeline.items import (
    VALID,
    Claimed,
    Decoded,
    Filtered,
    Foreseen,
    Invalid,
    Item,
    Prepared,
    Provenance,
    RawRecord,
    Refused,
    Valid,
    carried_front,
)
from pipeline.personal import opener_for
from pipeline.prepare import prepare, prepare_claimed
from pipeline.report import Stage, SyncReport

# A batch takes the worker a second or two; one that has not come back after this never
# will (a worker stuck in a call without a deadline): the sync must not wait on it forever.
WORKER_DEADLINE_SECONDS = 120.0

# Deciding from claims costs every event that is decoded anyway 10–13 µs (the claim parsed,
# the inbound checks, then the claim checked against the body) and saves one that is
# skipped 20–25 µs (an event foreseen to lose was already left without rows or validation;
# the skip saves its decoding and digest), measured on bench/sync.py's events: below this
# share of claimed events skipped in a batch, the worker decodes every event as if it had
# no claim (neither using nor checking it), and tries the claims again every _LOOK_AGAIN
# batches.
_CLAIMS_PAY = 0.4
_LOOK_AGAIN = 10

# Records remembered for the validation skip; forgotten all at once past this (bounded
# memory whatever the topic's size; forgetting only means validating again). Just under
# the 87,381 entries at which a dict doubles its table (2.5 to 5 MB): 100,000 held 3 MB
# more for 15% more records.
_SEEN_CAP = 87_000


class WorkerStalled(BrokenProcessPool):
    """The worker did not hand a batch back within WORKER_DEADLINE_SECONDS."""


class Work(NamedTuple):
    """A batch as the worker hands it back: its items, where the worker's time went, and
    what it made of the records (kind -> items: refused, filtered, prepared, foreseen,
    invalid). The counts travel with the batch's result and the main process adds them to
    its report, then to its metrics (pipeline/observe.py). Simpler and cheaper than
    prometheus_client's multiprocess mode, which needs PROMETHEUS_MULTIPROC_DIR set before
    the first import in every process, writes memory-mapped files per pid that must be
    cleaned up when a worker is replaced (a lost worker is, pipeline/loop.py), aggregates
    them on each scrape, and handles gauges only through special modes."""

    items: list[Any]  # Items; across the process boundary, flat (pipeline/handover.py)
    decode_seconds: float
    prepare_seconds: float
    validate_seconds: float
    counts: dict[str, int] = {}  # noqa: RUF012 - a NamedTuple default, never mutated
    # Events read, checked and built into items in one generated pass (pipeline/fused.py).
    fused_seconds: float = 0.0


class DecodeWorkerJob:
    """What the decode worker does with a batch (bench/pipeline.py runs it in process)."""

    def __init__(
        self,
        settings: Settings,
        names: TopicNames,
        agency: str,
        db_url: str,
        registry: RegistryClient,  # the registry client schemas are fetched with
        verify: bool,
        principal: str | None = None,  # whom a key service is asked as (default: the sync)
    ) -> None:
        self.decoder = Inbound(settings, registry, names, verify=verify)
        self.sub: Subscription = settings.sync.subscription(agency)
        # The writer's dialect, without connecting: rows are built as it will write them.
        self.rows = RowBuilder(
            make_url(db_url).get_dialect()(), opener_for(settings, agency, principal)
        )
        self.seen: dict[int, int] = {}  # hash of (kind, owner, record_id) -> valid revision
        self.validating = 0.0  # seconds, this batch
        self.batches = 0
        self.claims_pay = True  # deciding from claims skipped enough of the last batch
        self.claims_pay_from = _CLAIMS_PAY  # that share of the claimed events skipped
        self.shared = names.read()  # topic read -> shared topic
        self.known = codes.known(settings)
        self.skew = settings.validation.clock_skew_seconds
        self.max_bytes = settings.validation.max_message_bytes
        # (topic, schema id) -> the generated pass to items, or None: the usual path.
        self.fused: dict[tuple[str, int], Fused | None] = {}
        self.fusing = 0.0  # seconds, this batch
        self.latest = latest_now(self.skew)  # the batch's latest instant and date (fused)
        self._trim = MallocTrim()

    def run(self, raw: Sequence[RawRecord], signatures: Sequence[Signature] | None) -> Work:
        """The batch's items, and the seconds spent decoding, preparing and validating."""
        self._trim.tick()  # the last batch's garbage is gone now (its result was sent)
        out: list[Item] = []
        self.validating = preparing = self.fusing = 0.0
        started = time.perf_counter()
        # Once a batch: every record in it was published before this instant (a record the
        # generated pass finds too new goes the usual way, which asks the clock again).
        self.latest = latest_now(self.skew)
        self.batches += 1
        claims = self.claims_pay or self.batches % _LOOK_AGAIN == 0
        claimed = skipped = 0
        if self.rows.personal is not None:  # the batch's data keys at once (key services)
            self.rows.personal.prefetch((r.value, _owner(r.headers)) for r in raw)
        for n, record in enumerate(raw):  # a RetryAfter (registry down) fails the batch
            signature = signatures[n] if signatures else ...
            if not claims:
                fast = self._fast(record, signature, None)
                if fast is not None:
                    out.append(fast)
                    continue
                taken: Claimed | Decoded | Refused = self.decoder.decode_one(
                    record, signature, claims=False
                )
            else:
                taken = self.decoder.take(record, signature)
            if isinstance(taken, Claimed):
                claimed += 1
                # Decided from its signed claim: filtered, or foreseen to lose, undecoded.
                t = time.perf_counter()
                ahead = prepare_claimed(taken, self.rows, self._admit, foresee=self._will_lose)
                preparing += time.perf_counter() - t
                if ahead is not None:
                    skipped += 1
                    out.append(ahead)
                    continue
                fast = self._fast(taken, ..., taken.raw_claim)
                if fast is not None:
                    out.append(fast)
                    continue
                taken = self.decoder.decode_claimed(taken)
            decoded = taken
            if isinstance(decoded, Refused):
                out.append(decoded)
                continue
            t = time.perf_counter()
            # decode_one refused anything that is not a record: no NotARecord here.
            item = prepare(
                decoded, self.rows, self._admit, foresee=self._will_lose, value=record.value or b""
            )
            preparing += time.perf_counter() - t
            if isinstance(item, Prepared):
                item = self._validated(decoded.event, item)
            out.append(item)
        if claims:
            self.claims_pay = claimed > 0 and skipped >= self.claims_pay_from * claimed
        t = time.perf_counter()
        out = [self._handed(item) for item in out]
        preparing += time.perf_counter() - t
        decoding = time.perf_counter() - started - preparing - self.validating - self.fusing
        return Work(out, decoding, preparing, self.validating, _kinds(out), self.fusing)

    def _fast(
        self, record: RawRecord | Claimed, signature: Signature | EllipsisType, claim: bytes | None
    ) -> Item | None:
        """The record's item from the generated pass (pipeline/fused.py), or None: the usual
        path decides. A Claimed record's signature and signer were checked already."""
        started = time.perf_counter()
        prov: Provenance | None = None
        if isinstance(record, Claimed):
            value: bytes | None = record.value
            prov, signer, topic = record.provenance, None, record.provenance.topic
        else:
            value, topic = record.value, record.topic
            if (signer := self.decoder.signer(signature)) is ...:
                return None
        if value is None:
            return None
        if len(value) < HEADER_SIZE or value[0] != MAGIC_BYTE or len(value) > self.max_bytes:
            return None
        schema_id = int.from_bytes(value[1:HEADER_SIZE], "big")
        fused = self.fused.get((topic, schema_id), ...)
        if fused is ...:
            schema = self.decoder.own_schema(topic, schema_id)
            if schema is None:
                return None  # not met yet (the usual path fetches it), or not the topic's own
            fused = compile_fused(schema, self.shared[topic], self.rows, self.known)
            self.fused[(topic, schema_id)] = fused
        if fused is None:
            return None
        if prov is None:
            assert isinstance(record, RawRecord)
            prov = Provenance(record.topic, record.partition, record.offset, schema_id)
        latest, latest_date = self.latest
        try:
            item: Item | None = fused(
                prov, value, signer, claim, self._admit, self._will_lose, latest, latest_date
            )
        except Exception:  # bytes it cannot read: the usual path reads or refuses them
            item = None
        if isinstance(item, Prepared):
            if len(self.seen) >= _SEEN_CAP:
                self.seen.clear()
            self.seen[hash(item.key)] = item.revision
        self.fusing += time.perf_counter() - started
        return item

    def _handed(self, item: Item) -> Item:
        """An item as the writer, the busier process, takes it: a valid one with its
        state's digest (the event log's state_digest) computed here (the writer hashes only
        the states it writes; one valid here loses only to a later revision of its record
        in the same batch); and for PostgreSQL its rows as COPY text (agencydb/copytext.py),
        and every item the event log will name with its head and identity ready for the log
        row and its chain hash (agencydb/chain.py `LogText`)."""
        front = carried_front(item) if self.rows.makes_lines else None
        log = log_text(self.rows, *front) if front is not None else None
        if isinstance(item, Prepared):
            if not isinstance(item.validity, Valid):
                return item if log is None else item._replace(log=log)
            state = item.state
            assert isinstance(state, StateRows)  # made here, as values
            digest = state_digest(state)
            if self.rows.makes_lines:
                handed: State = self.rows.as_lines(state, digest)
            else:
                handed = StateRows(*state[:-1], digest)  # digest is the last field
            # Built whole, not with _replace (a generic rebuild, 2 µs an event here).
            return Prepared(*item[:8], handed, item.validity, log)
        if log is None:
            return item
        if isinstance(item, Foreseen):
            return item._replace(log=log)
        assert isinstance(item, Filtered)
        return Filtered(item.provenance, item.head, log)

    def _admit(self, event: Event, kind: str) -> bool:
        return admits(self.sub, event, kind)

    def _will_lose(self, key: RecordKey, revision: int) -> bool:
        """A valid revision at least as high of this record came earlier in the stream."""
        return self.seen.get(hash(key), -1) >= revision

    def _validated(self, event: Event, prep: Prepared) -> Prepared:
        started = time.perf_counter()
        problem = self.decoder.check(event, prep.kind)
        self.validating += time.perf_counter() - started
        if problem is None:
            if len(self.seen) >= _SEEN_CAP:
                self.seen.clear()
            self.seen[hash(prep.key)] = prep.revision
        return prep._replace(validity=VALID if problem is None else Invalid(problem))


# The headers the worker reads: the record claim (pipeline/inbound.py) and the owner (the
# personal opener's prefetch).
_WORKER_HEADERS = frozenset({CLAIM_HEADER, "owner"})


def _for_worker(headers: Sequence[tuple[str, bytes]] | None) -> tuple[tuple[str, bytes], ...]:
    return tuple(h for h in headers or () if h[0] in _WORKER_HEADERS)


def _owner(headers: Sequence[tuple[str, bytes]]) -> str:
    """The record's owner, from its headers (casebus.publish.event_headers)."""
    for name, value in headers:
        if name == "owner":
            return value.decode("utf-8", "replace")
    return ""


def _kinds(items: Sequence[Item]) -> dict[str, int]:
    """Items per kind (one pass over the batch, in the worker)."""
    counts: dict[str, int] = {}
    for item in items:
        kind = type(item).__name__.lower()
        if isinstance(item, Prepared) and isinstance(item.validity, Invalid):
            kind = "invalid"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


_worker: DecodeWorkerJob | None = None


def _start_worker(
    settings: Settings, names: TopicNames, agency: str, db_url: str, principal: str, verify: bool
) -> None:
    global _worker
    registry = registry_for(settings, principal)
    _worker = DecodeWorkerJob(settings, names, agency, db_url, registry, verify, principal)


def _decode(raw: Sequence[tuple[Any, ...]], signatures: Sequence[Signature] | None) -> Work:
    assert _worker is not None
    work = _worker.run([RawRecord._make(r) for r in raw], signatures)
    return work._replace(items=flatten(work.items))  # made items again by `collect`


class Pending(NamedTuple):
    """A batch handed to the worker: its work to come, and the seconds this process spent
    checking its signatures."""

    future: Future[Work]
    verify_seconds: float


class DecodeWorker:
    """One decode worker (casebus.workers: forked now, so create it before the Kafka
    consumer and any other thread)."""

    def __init__(
        self,
        settings: Settings,
        names: TopicNames,
        agency: str,
        db_url: str,
        *,
        principal: str,  # whom the worker's registry client authenticates as
        close_fds: Sequence[int] = (),  # descriptors the worker must not keep open
        verify: bool = True,  # signatures (False only in bench/sync.py's comparison run)
    ) -> None:
        # Signatures are checked here, on the records' bytes, as a batch is handed over: the
        # worker is the busier process (bench/sync.py), this one waits on it.
        self._signatures = SignatureCheck(settings, names) if verify else None
        self._pool = ForkedPool(
            1,
            _start_worker,
            (settings, names, agency, db_url, principal, verify),
            close_fds=close_fds,
        )

    def submit(self, records: Sequence[ConsumedRecord]) -> Pending:
        started = time.perf_counter()
        check = self._signatures
        signatures = [check(r) for r in records] if check is not None else None
        verifying = time.perf_counter() - started
        # Plain tuples, made into RawRecords over there: pickling a named tuple calls back
        # into Python for each one. Without the key and the headers the worker does not read
        # (the signature's were checked here): 680 of a new penalty's 1,500 bytes.
        raw = [
            (r.topic, r.partition, r.offset, r.value, None, _for_worker(r.headers)) for r in records
        ]
        return Pending(self._pool.submit(_decode, raw, signatures), verifying)

    def close(self) -> None:
        self._pool.close()

    def terminate(self) -> None:
        """Kill the worker (lost or stalled) without waiting for it."""
        self._pool.terminate()


def collect(
    records: Sequence[ConsumedRecord],
    pending: Pending,
    report: SyncReport,
    deadline: float | None = None,  # WORKER_DEADLINE_SECONDS
) -> list[Consumed]:
    """The worker's items, beside their records (raises what the worker raised, and
    WorkerStalled if it does not answer within `deadline` seconds)."""
    started = time.perf_counter()
    deadline = WORKER_DEADLINE_SECONDS if deadline is None else deadline
    try:
        work = pending.future.result(timeout=deadline)
    except FutureTimeout:
        raise WorkerStalled(f"no answer from the decode worker in {deadline:.0f}s") from None
    report.stages[Stage.WAIT] += time.perf_counter() - started
    report.stages[Stage.VERIFY] += pending.verify_seconds
    report.stages[Stage.DECODE] += work.decode_seconds + work.fused_seconds
    report.stages[Stage.PREPARE] += work.prepare_seconds
    report.stages[Stage.VALIDATE] += work.validate_seconds
    report.worker_items.update(work.counts)
    items = unflatten(work.items)
    consumed = [Consumed(r, item) for r, item in zip(records, items, strict=True)]
    for c in consumed:
        log_rejected(c)
    return consumed
