"""Run the sync for one agency: wire settings to the consumer, database, registry and DLQ."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack, closing

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from casebus.config import Settings
from casebus.kafka.clients import make_consumer
from casebus.registry.client import registry_for
from casebus.security.principals import sync as sync_principal
from casebus.topics import TopicNames
from services.sync.checkpoint import is_transient_db_error
from services.sync.consumer import Backoff, SyncConsumer
from services.sync.db.checkpoint import WalCheckpointer
from services.sync.db.engine import open_database, single_writer
from services.sync.decode import BatchDecoder
from services.sync.dlq import DeadLetters
from services.sync.heads import HeadPublisher
from services.sync.prefetch import Prefetcher
from services.sync.report import SyncReport
from services.sync.settings import SyncTuning

log = logging.getLogger(__name__)


def group_id(settings: Settings, agency: str) -> str:
    return settings.sync.group_for(agency)


def dlq_topic(settings: Settings, agency: str) -> str:
    return settings.sync.dlq_for(agency)


def database_url(settings: Settings, agency: str) -> str:
    return settings.sync.db_url or settings.database_url(agency)


def topic_names(settings: Settings, agency: str, topics: TopicNames | None = None) -> TopicNames:
    """The topics the agency's sync reads: the subscription's, under their own names; or
    exactly those `topics` (else settings.sync.topics, "shared=actual" pairs) names."""
    chosen = topics or settings.sync.topic_names()
    return chosen or TopicNames.same(settings.sync.subscription(agency).topics)


def connect_database(settings: Settings, agency: str, stop: threading.Event) -> Engine:
    """The migrated agency database; waits (with backoff) while it cannot be reached."""
    backoff = Backoff(SyncTuning.of(settings).retry_max_seconds)
    while True:
        try:
            return open_database(database_url(settings, agency), sync_writer=True)
        except DBAPIError as exc:
            if not is_transient_db_error(exc) or stop.is_set():
                raise
            log.warning("agency database unreachable, retrying: %s", exc)
            backoff.wait(stop)


def _start_prefetch(
    settings: Settings, names: TopicNames, agency: str, lock: int | None, verify: bool
) -> Prefetcher:
    fds = [lock] if lock is not None else []
    url = database_url(settings, agency)
    principal = sync_principal(agency)
    return Prefetcher(
        settings, names, agency, url, principal=principal, close_fds=fds, verify=verify
    )


def wal_checkpointer(engine: Engine) -> WalCheckpointer | None:
    """A SQLite file's WAL is checkpointed by a thread, off the commit path (see there)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return WalCheckpointer(str(url.database)).start()


def run_sync(
    settings: Settings,
    agency: str,
    *,
    topics: TopicNames | None = None,
    until_idle: bool = False,
    stop: threading.Event | None = None,
    verify: bool = True,  # event signatures; False only in bench/sync.py's comparison run
) -> SyncReport:
    """Sync `agency`'s database until `stop` is set (or, with until_idle, until caught up)."""
    stop = stop or threading.Event()
    sub = settings.sync.subscription(agency)
    tuning = SyncTuning.of(settings)
    names = topic_names(settings, agency, topics)
    group = group_id(settings, agency)
    with ExitStack() as cleanup:
        lock = cleanup.enter_context(single_writer(database_url(settings, agency)))
        # Forked next: before any database connection or Kafka client (and its threads).
        prefetch = None
        if tuning.decode_ahead:
            worker = _start_prefetch(settings, names, agency, lock, verify)
            prefetch = cleanup.enter_context(closing(worker))
        engine = connect_database(settings, agency, stop)
        cleanup.callback(engine.dispose)
        checkpointer = wal_checkpointer(engine)
        if checkpointer is not None:
            cleanup.callback(checkpointer.stop)
        principal = sync_principal(agency)
        registry = registry_for(settings, principal)
        cleanup.callback(registry.close)
        dead_letters = DeadLetters(settings, dlq_topic(settings, agency), group, principal)
        cleanup.callback(dead_letters.close)
        heads = HeadPublisher(settings, agency, engine, principal)
        cleanup.callback(heads.close)  # after the consumer stopped: the final head
        heads.start(settings.provenance.audit_interval_seconds)
        # Dynamic membership: every process of the agency (one on SQLite, any number on
        # PostgreSQL) joins the group as a new member, so each join rebalances from the
        # partitions the broker has now. (A static member rejoining within its session got
        # its old assignment back unchecked, missing partitions and topics added meanwhile.)
        consumer = make_consumer(
            settings,
            group,
            f"{group}-{threading.get_native_id()}",
            principal=principal,
            max_poll_records=tuning.batch_size,
            session_timeout_ms=tuning.session_timeout_ms,
            heartbeat_interval_ms=tuning.session_timeout_ms // 4,
            metadata_max_age_ms=tuning.metadata_refresh_ms,
        )
        cleanup.callback(consumer.close, autocommit=False)
        runner = SyncConsumer(
            settings,
            sub,
            engine=engine,
            consumer=consumer,
            decoder=BatchDecoder(settings, registry, names, verify=verify),
            dead_letters=dead_letters,
            group=group,
            topics=names.actual_names(),
            prefetch=prefetch,
        )
        report = runner.run(stop, until_idle=until_idle)
    log.info("sync stopped: %s", report.summary())
    return report


def sync_until_idle(
    settings: Settings, agency: str, *, topics: TopicNames | None = None
) -> SyncReport:
    """Sync `agency` until every partition is read to its end; counts per outcome."""
    return run_sync(settings, agency, topics=topics, until_idle=True)
