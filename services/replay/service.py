"""`casebus replay`: the modes put together.

- into the live database (default): the scope is applied through the same apply rule as
  sync, with every duplicate of a stored revision written again (a repair: rows edited by
  hand are put back as the events say); no offsets are stored or moved;
- `--fresh`: into a new database (services/replay/fresh.py) that is swapped in at the end;
  it stores the agency's sync offsets at the end offsets the replay read to, so
  `casebus sync run AGENCY` continues exactly there. The agency's sync must be stopped;
- `--dry-run`: into a scratch SQLite file, then compared with the database
  (services/replay/diff.py); nothing is written to the agency's database.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from sqlalchemy import Engine, inspect, select
from sqlalchemy.engine import make_url

from agencydb.engine import make_engine, open_database, single_writer
from agencydb.models import CaseLink, Record
from agencydb.offsets import save_offsets
from casebus.config import Settings
from casebus.gctune import tune_malloc
from casebus.kafka.clients import make_admin, make_consumer
from casebus.registry.client import RegistryClient
from casebus.retry import Backoff
from casebus.security.principals import REPLAY
from casebus.serde import AvroDeserializer, SerdeError, SerializationContext
from casebus.topics import ACTION_TOPIC, TOPIC_BY_FAMILY, TopicNames
from pipeline.heads import HeadPublisher
from pipeline.loop import BatchLoop
from pipeline.reading import Reader
from pipeline.report import SyncReport
from pipeline.settings import SyncTuning
from pipeline.sink import open_sink
from pipeline.sources import AssignedSource, Scope
from services.replay.diff import Difference, compare
from services.replay.fresh import Rebuild, start_rebuild
from services.replay.scope import SlicedReader, case_closure, whole

log = logging.getLogger(__name__)


class ReplayError(RuntimeError):
    """A replay that cannot start as asked (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    agency: str
    case_id: str | None = None  # None: --all
    topic: str | None = None  # a shared topic (casebus.penalty), or the actual one read
    since: datetime | None = None
    fresh: bool = False
    dry_run: bool = False


@dataclass
class ReplayReport:
    request: ReplayRequest
    report: SyncReport
    scope_offsets: int = 0
    partitions: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    database: str = ""
    previous: str | None = None  # --fresh: where the replaced database is kept
    difference: Difference | None = None  # --dry-run

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        body: dict[str, Any] = {
            "agency": r.agency,
            "mode": "dry-run" if r.dry_run else ("fresh" if r.fresh else "repair"),
            "case": r.case_id,
            "cases": self.cases,
            "topic": r.topic,
            "from": r.since.isoformat() if r.since else None,
            "events": self.report.events,
            "outcomes": dict(self.report.counts),
            "dead_lettered": self.report.dead_lettered,
            "seconds": round(self.report.seconds, 3),
            "partitions": self.partitions,
            "database": self.database,
            "previous": self.previous,
        }
        if self.difference is not None:
            body["difference"] = self.difference.to_dict()
        return body


@dataclass(frozen=True, slots=True)
class Progress:
    read: int  # offsets read so far (a case's records: events applied)
    applied: int  # events applied so far
    total: int  # offsets in the scope


OnProgress = Callable[[Progress], None]


def replay(
    settings: Settings, request: ReplayRequest, progress: OnProgress | None = None
) -> ReplayReport:
    agency = request.agency
    tune_malloc()  # before the clients' threads start
    tuning = SyncTuning.of(settings)
    names = _topics(settings, request)
    target = settings.sync_database_url(agency)
    if request.fresh and request.case_id is not None:
        raise ReplayError("--fresh rebuilds a whole database: use it with --all")
    if request.fresh and not request.dry_run:
        _no_live_sync(settings, agency)
    # Before anything opens (and so creates) the database: the links it holds, if any.
    known = stored_links(target) if request.case_id is not None else None
    started = time.monotonic()
    with ExitStack() as stack:
        rebuild: Rebuild | None = None
        lock: int | None = None  # the SQLite sync lock's descriptor, while --fresh holds it
        if request.dry_run:
            scratch = settings.var_dir / "replay" / f"dry-run-{agency}-{os.getpid()}.sqlite"
            scratch.parent.mkdir(parents=True, exist_ok=True)
            rebuild = start_rebuild(target, scratch=f"sqlite:///{scratch}")
            stack.callback(rebuild.discard)
        elif request.fresh:
            lock = stack.enter_context(single_writer(target))
            rebuild = start_rebuild(target)
        readers = None
        if request.case_id is not None:  # forked before the sink starts any client thread
            readers = SlicedReader.for_machine(settings, f"casebus-replay-{agency}")
            if readers is not None:
                stack.callback(readers.close)
        url = rebuild.url if rebuild is not None else target
        sink = open_sink(
            stack,
            settings,
            agency,
            names,
            principal=REPLAY,
            url=url,
            connect=(lambda: rebuild.engine)
            if rebuild is not None
            else (lambda: open_database(url)),
            group=None,  # offsets are stored once, at the end (a fresh rebuild only)
            dlq_consumer=f"replay.{agency}",
            origin="replay",
            rewrite=rebuild is None,  # a repair: duplicates of stored revisions written again
            decode_worker=tuning.decode_worker and request.case_id is None,
            lock=lock,
        )
        engine = sink.engine
        if rebuild is None:
            stack.callback(engine.dispose)

        def connect() -> KafkaConsumer:
            return make_consumer(settings, None, f"casebus-replay-{agency}", principal=REPLAY)

        # One client (replaced should it stall) reads the scope, then the batches.
        reader = Reader(connect(), reconnect=connect, stalled_after=tuning.stuck_after_seconds)
        stack.callback(reader.close)
        scope = _scope(settings, reader, sink.registry, names, request, known, readers)
        if readers is not None:
            readers.close()  # the scope is read: its processes are done
        out = ReplayReport(request, sink.report, database=target)
        out.scope_offsets = scope.total
        out.partitions = [f"{tp.topic}[{tp.partition}]" for tp in sorted(scope.ends)]
        out.cases = sorted(scope.cases or ())
        source = AssignedSource(reader, scope, tuning.batch_size)
        tracker = _Tracker(settings, agency, scope, progress)
        stack.callback(tracker.done)
        applied = 0

        def committed(events: int) -> None:
            nonlocal applied
            applied += events
            tracker.update(source.position() if not scope.records else applied, applied)

        loop = BatchLoop(
            source,
            checkpoint=sink.checkpoint,
            inbound=sink.inbound,
            worker=sink.worker,
            backoff=Backoff(tuning.retry_max_seconds),
            on_commit=committed,
        )
        loop.run(threading.Event())
        if request.fresh and not request.dry_run:
            with engine.begin() as conn:  # where sync is to continue: the ends read to
                ends = {(tp.topic, tp.partition): o for tp, o in scope.ends.items()}
                save_offsets(conn, settings.sync.group_for(agency), ends)
        if not request.dry_run:  # the new head (a rebuild: a new chain) as evidence
            heads = HeadPublisher(settings, agency, engine, REPLAY)
            heads.close()
        if sink.wal is not None:
            sink.wal.stop()  # its connection must be gone before the rebuild is made one file
        if request.dry_run:
            assert rebuild is not None
            out.difference = _compare(target, rebuild.engine, scope, request)
        elif rebuild is not None:
            out.previous = rebuild.swap()
    out.report.seconds = time.monotonic() - started
    return out


def _topics(settings: Settings, request: ReplayRequest) -> TopicNames:
    names = settings.sync.names_for(request.agency)
    if request.topic is None:
        return names
    chosen = {s: a for s, a in names.items() if request.topic in (a, s)}
    if not chosen:
        raise ReplayError(f"--topic {request.topic}: {request.agency} reads {names.describe()}")
    return TopicNames(chosen, {c: s for c, s in names.copies.items() if s in chosen})


def _no_live_sync(settings: Settings, agency: str) -> None:
    """A fresh rebuild replaces the database under a running sync: refuse while one runs."""
    group = settings.sync.group_for(agency)
    admin = make_admin(settings, client_id="casebus-replay-admin", principal=REPLAY)
    try:
        described = admin.describe_groups([group])
    finally:
        admin.close()
    members = len((described.get(group) or {}).get("members") or [])
    if members:
        raise ReplayError(
            f"{members} sync process(es) of {agency} are running (group {group}): stop "
            f"`casebus sync run {agency}` before `replay --fresh`, and start it again after"
        )


def _scope(
    settings: Settings,
    reader: Reader,
    registry: RegistryClient,
    names: TopicNames,
    request: ReplayRequest,
    known: dict[str, set[str]] | None,
    readers: SlicedReader | None = None,
) -> Scope:
    if request.case_id is None:
        return whole(reader.consumer, names.actual_names(), request.since)
    decode = AvroDeserializer(registry, max_message_bytes=settings.validation.max_message_bytes)

    def links_of(record: Any) -> list[str]:
        try:
            event = decode(record.value, SerializationContext(record.topic))
        except SerdeError:
            return []  # undecodable: applied (and DLQ'd) with the rest
        if not str(event.get("event_type", "")).startswith("CASE_"):
            return []
        return [str(c) for c in (event.get("action") or {}).get("linked_case_ids") or []]

    if ACTION_TOPIC not in names:
        log.info("no %s read: case links are not followed", ACTION_TOPIC)
    return case_closure(
        reader, names, request.case_id, request.since, links_of, known, readers=readers
    )


def stored_links(url: str) -> dict[str, set[str]] | None:
    """Case links the agency database holds, both ways (None if it is lost or new)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(str(parsed.database)).exists():
        return None
    engine = make_engine(url)
    links: dict[str, set[str]] = {}
    try:
        if not inspect(engine).has_table("case_links"):
            return None
        with engine.connect() as conn:
            query = select(Record.case_id, CaseLink.linked_case_ids).join(
                Record,
                (Record.kind == "case")
                & (Record.owner == CaseLink.owner)
                & (Record.record_id == CaseLink.record_id),
            )
            for case, linked in conn.execute(query):
                ends = {case, *linked}
                for c in ends:
                    links.setdefault(c, set()).update(ends - {c})
    finally:
        engine.dispose()
    return links


def _compare(target: str, replayed: Engine, scope: Scope, request: ReplayRequest) -> Difference:
    kinds = None
    if request.topic is not None:
        kinds = {k for k, t in TOPIC_BY_FAMILY.items() if request.topic in (t,)} or None

    def wanted(row: dict[str, Any]) -> bool:
        if scope.cases is not None and row["case_id"] not in scope.cases:
            return False
        return kinds is None or row["kind"] in kinds

    parsed = make_url(target)
    if parsed.get_backend_name() == "sqlite" and not Path(str(parsed.database)).exists():
        return compare(None, replayed, wanted)  # lost: connecting would create it
    database = make_engine(target)
    try:
        return compare(database, replayed, wanted)
    finally:
        database.dispose()


class _Tracker:
    """Progress for the terminal and for `casebus status` (var/replay/<agency>.json)."""

    def __init__(
        self, settings: Settings, agency: str, scope: Scope, progress: OnProgress | None
    ) -> None:
        self.path: Path = settings.var_dir / "replay" / f"{agency}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.scope, self.progress = scope, progress
        self.started = time.time()
        self.update(0, 0)

    def update(self, read: int, applied: int) -> None:
        total = self.scope.total
        if self.progress is not None:
            self.progress(Progress(read, applied, total))
        body = {
            "pid": os.getpid(),
            "started": self.started,
            "updated": time.time(),
            "read": read,
            "applied": applied,
            "total": total,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        tmp.replace(self.path)

    def done(self) -> None:
        self.path.unlink(missing_ok=True)
