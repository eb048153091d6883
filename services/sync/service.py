"""`casebus sync run AGENCY`: the pipeline over the agency's consumer group.

One consumer group per agency, offsets stored in the agency database, never committed to
Kafka (pipeline/checkpoint.py); where to resume and when the sync is done are
pipeline/membership.py's; the chain head is published every
`provenance.audit_interval_seconds` and when the sync stops (pipeline/heads.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

from kafka import KafkaConsumer
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from agencydb.engine import open_database, single_writer
from casebus.config import Settings
from casebus.gctune import tune_malloc
from casebus.kafka.clients import make_consumer, poll_timeout_ms
from casebus.observability.service import Observability
from casebus.retry import Backoff
from casebus.security.principals import sync as sync_principal
from casebus.topics import TopicNames
from pipeline.checkpoint import is_transient_db_error
from pipeline.coverage import unreadable_topics
from pipeline.heads import HeadPublisher
from pipeline.loop import BatchLoop
from pipeline.observe import MeteredSource, SyncObserver, missing_verdict
from pipeline.report import SyncReport
from pipeline.settings import SyncTuning
from pipeline.sink import open_sink
from pipeline.sources import GroupSource

log = logging.getLogger(__name__)


def connect_database(url: str, stop: threading.Event, backoff: Backoff) -> Engine:
    """The migrated agency database; waits (with backoff) while it cannot be reached."""
    while True:
        try:
            return open_database(url, sync_writer=True)
        except DBAPIError as exc:
            if not is_transient_db_error(exc) or stop.is_set():
                raise
            log.warning("agency database unreachable, retrying: %s", exc)
            backoff.wait(stop)


def run_sync(
    settings: Settings,
    agency: str,
    *,
    topics: TopicNames | None = None,
    until_idle: bool = False,
    stop: threading.Event | None = None,
    verify: bool = True,  # event signatures; False only in bench/sync.py's comparison run
    metrics_port: int = 0,  # /metrics, /healthz, /readyz served there (0: none)
) -> SyncReport:
    """Sync `agency`'s database until `stop` is set (or, with until_idle, until caught up).
    With until_idle, `report.missing` names the subscribed topics it could not read."""
    stop = stop or threading.Event()
    tune_malloc()  # before the clients' threads start
    tuning = SyncTuning.of(settings)
    names = settings.sync.names_for(agency, topics)
    group = settings.sync.group_for(agency)
    url = settings.sync_database_url(agency)
    principal = sync_principal(agency)
    backoff = Backoff(tuning.retry_max_seconds)
    with ExitStack() as cleanup:
        lock = cleanup.enter_context(single_writer(url))
        sink = open_sink(
            cleanup,
            settings,
            agency,
            names,
            principal=principal,
            url=url,
            connect=lambda: connect_database(url, stop, backoff),
            group=group,
            dlq_consumer=group,
            decode_worker=tuning.decode_worker,
            lock=lock,
            verify=verify,
        )
        cleanup.callback(sink.engine.dispose)
        heads = HeadPublisher(settings, agency, sink.engine, principal)
        cleanup.callback(heads.close)  # after the consumer stopped: the final head
        heads.start(settings.provenance.audit_interval_seconds)

        # Dynamic membership: every process of the agency (one on SQLite, any number on
        # PostgreSQL) joins the group as a new member, so each join rebalances from the
        # partitions the broker has now. (A static member rejoining within its session got
        # its old assignment back unchecked, missing partitions and topics added meanwhile.)
        def connect() -> KafkaConsumer:
            return make_consumer(
                settings,
                group,
                f"{group}-{threading.get_native_id()}",
                principal=principal,
                max_poll_records=tuning.batch_size,
                session_timeout_ms=tuning.session_timeout_ms,
                heartbeat_interval_ms=tuning.session_timeout_ms // 4,
                metadata_max_age_ms=tuning.metadata_refresh_ms,
            )

        subscribed = names.actual_names()
        source = GroupSource(
            connect,
            sink.engine,
            group,
            subscribed,
            batch_size=tuning.batch_size,
            poll_timeout_ms=poll_timeout_ms(tuning.poll_timeout_ms, until_idle=until_idle),
            stuck_after=tuning.stuck_after_seconds,
        )
        cleanup.callback(source.close)  # the client in use then (a stalled one is replaced)
        missing = unreadable_topics(source.consumer, subscribed)
        for topic in missing:
            log.warning(
                "subscribed topic %s does not exist or %s may not read it: nothing of it is "
                "synced until it does",
                topic,
                principal,
            )
        observer = None
        if metrics_port:  # after the decode worker was forked (open_sink): it starts threads
            observer = _observe(
                cleanup,
                settings,
                agency,
                metrics_port,
                sink.report,
                lambda: sink.engine,
                source=source,
                missing=missing,
            )
        loop = BatchLoop(
            MeteredSource(source, observer) if observer is not None else source,
            checkpoint=sink.checkpoint,
            inbound=sink.inbound,
            worker=sink.worker,
            backoff=backoff,
            on_commit=observer.committed if observer is not None else None,
        )
        # Partitions taken away: commit what was read of them first.
        source.before_revoke = loop.finish_inflight
        started = time.monotonic()
        loop.run(stop, until_idle=until_idle)
        report = sink.report
        report.seconds = time.monotonic() - started
        report.covered, report.rejoins = source.covered, source.watch.rejoins
        report.clients_replaced = source.watch.replacements
        if until_idle:
            report.missing = tuple(unreadable_topics(source.consumer, subscribed))
    log.info("sync stopped: %s", report.summary())
    return report


def _observe(
    cleanup: ExitStack,
    settings: Settings,
    agency: str,
    port: int,
    report: SyncReport,
    engine: Callable[[], Engine],
    *,
    source: GroupSource,
    missing: list[str],
) -> SyncObserver:
    """/metrics, /healthz and /readyz of the sync on `port`, closed with `cleanup`."""
    tuning = SyncTuning.of(settings)
    obs = Observability(
        settings,
        f"sync.{agency}",
        port,
        principal=sync_principal(agency),
        database=engine,
        depth_of=(settings.sync.dlq_for(agency),),
    )
    cleanup.callback(obs.close)
    observer = SyncObserver(
        agency,
        settings.sync.group_for(agency),
        report,
        obs.touch,
        ready_max_lag=tuning.ready_max_lag,
        stuck_after=tuning.stuck_after_seconds,
    )
    observer.set_missing(missing)
    obs.health.checks.update(observer.checks())
    probe = obs.probe
    if probe is not None:
        topics = source.watch.topics
        obs.watch("topics", observer.topics_check(lambda: probe.unreadable(topics)))
        # Known already (checked at start): named by /readyz from the first answer.
        obs.health.record("topics", missing_verdict(missing, agency))
    obs.start()
    return observer


def sync_until_idle(
    settings: Settings, agency: str, *, topics: TopicNames | None = None
) -> SyncReport:
    """Sync `agency` until every partition is read to its end; counts per outcome."""
    return run_sync(settings, agency, topics=topics, until_idle=True)
