"""Run connectors: fetch → map → validate → publish → checkpoint, the same for every source.

`run_connectors_once(settings)` runs each configured connector once (the demo, `--once`);
`run_scheduled(settings)` runs them on their interval or cron with APScheduler, one run
of a connector at a time. SIGTERM (see cli.connectors) sets the stop event: the
current page is finished, flushed and checkpointed, then the run ends.

Large pages are mapped, validated and serialized in worker processes while this process
sends the previous page (connectors.pipeline, `ConnectorConfig.worker_min_page`); pages are
sent, acknowledged and checkpointed in order either way.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from casebus.config import ConfigError, ConnectorConfig, Settings
from casebus.kafka.clients import abandon, make_producer
from casebus.observability import metrics as m
from casebus.publish import Publisher, PublishError, Rejected
from casebus.security.principals import connector as connector_principal
from casebus.workers import can_fork
from connectors.base import Connector
from connectors.checkpoints import CheckpointStore
from connectors.http import SourceSession
from connectors.pipeline import Item, PageWorkers, Preparer

log = logging.getLogger(__name__)
MAX_INFLIGHT_PAGES = 4


@dataclass
class ConnectorReport:
    name: str
    fetched: int = 0
    published: int = 0
    rejected: int = 0
    pages: int = 0
    retries: int = 0
    error: str | None = None
    broker_failed: bool = False  # a send was not acknowledged: the producer is not reused

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def load_connector(config: ConnectorConfig, settings: Settings, http: SourceSession) -> Connector:
    """Instantiate `connectors.<config.module>.CONNECTOR` for this config."""
    try:
        module = importlib.import_module(f"connectors.{config.module}")
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"connectors.{config.name}: no module connectors.{config.module}"
        ) from exc
    cls: type[Connector] = module.CONNECTOR
    return cls(config, settings, http)


def run_connector(
    connector: Connector,
    publisher: Publisher,
    store: CheckpointStore,
    *,
    stop: threading.Event | None = None,
    workers: PageWorkers | None = None,
) -> ConnectorReport:
    """One run: every page changed since the stored checkpoint, then return. Pages of
    `config.worker_min_page` records or more are prepared by `workers`, if given."""
    name = connector.config.name
    report = ConnectorReport(name)
    retries_before = connector.http.retries
    position = store.load(name)
    log.info("%s: starting from checkpoint %r", name, position, extra={"source": name})
    # (checkpoint, items) of pages fetched and being prepared, oldest first: with a worker,
    # the next pages are prepared while this process sends the oldest.
    ahead: deque[tuple[str, Callable[[], list[Item]]]] = deque()
    # (checkpoint, futures) of pages sent but not yet checkpointed, oldest first: the next
    # page is produced while the broker acknowledges the previous one.
    inflight: deque[tuple[str, list[FutureRecordMetadata]]] = deque()
    min_page = connector.config.worker_min_page
    preparer = Preparer(connector, publisher, min_page=min_page, workers=workers)
    try:
        for page in connector.fetch(position):
            report.pages += 1
            report.fetched += len(page.records)
            ahead.append((page.checkpoint, preparer.submit(page.records)))
            if _send_pages(name, publisher, store, ahead, inflight, report, preparer.ahead, stop):
                break
        else:
            _send_pages(name, publisher, store, ahead, inflight, report, 0, stop)
        publisher.producer.flush()
        _checkpoint(name, publisher, store, inflight, drain=True)
    except Exception as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        report.broker_failed = isinstance(exc, PublishError | KafkaError)
        # Pages prepared but not sent are read again by the next run.
        log.error(
            "%s: run failed, checkpoint kept at the last acknowledged page: %s",
            name,
            exc,
            extra={"source": name},
        )
    report.retries = connector.http.retries - retries_before
    log.info(
        "%s: %d fetched, %d events published, %d rejected, %d pages, %d retries",
        name,
        report.fetched,
        report.published,
        report.rejected,
        report.pages,
        report.retries,
        extra={"source": name},
    )
    return report


def _send_pages(
    name: str,
    publisher: Publisher,
    store: CheckpointStore,
    ahead: deque[tuple[str, Callable[[], list[Item]]]],
    inflight: deque[tuple[str, list[FutureRecordMetadata]]],
    report: ConnectorReport,
    keep: int,
    stop: threading.Event | None,
) -> bool:
    """Send prepared pages in order until `keep` are left; True once a stop is requested."""
    while len(ahead) > keep:
        position, prepared = ahead.popleft()
        for item in prepared():
            if isinstance(item, Rejected):
                publisher.reject(item)
                report.rejected += 1
            else:
                publisher.send_encoded(item)
                report.published += 1
        inflight.append((position, publisher.take_pending()))
        _checkpoint(name, publisher, store, inflight, drain=False)
        if stop is not None and stop.is_set():
            log.info(
                "%s: stop requested after sending up to checkpoint %r",
                name,
                position,
                extra={"source": name},
            )
            return True
    return False


def _checkpoint(
    name: str,
    publisher: Publisher,
    store: CheckpointStore,
    inflight: deque[tuple[str, list[FutureRecordMetadata]]],
    *,
    drain: bool,
) -> None:
    """Checkpoint pages in order, each only once the broker acknowledged it and every page
    before it. The order, for each page (a crash between any two steps re-reads the page,
    and the stable event ids make the repeats recognisable):
      1. every event of the page was handed to the producer (run_connector);
      2. all earlier pages were checkpointed (we go oldest first and stop at a gap);
      3. every future of the page is checked: acks=all acknowledged, else PublishError;
      4. only then the page's checkpoint is written (SQLite, synchronous=FULL).
    Without `drain`, a page is waited for only when it is already done or too many are
    in flight; with it (end of run, after a flush), every page is waited for.
    """
    while inflight:
        position, futures = inflight[0]
        ready = drain or len(inflight) > MAX_INFLIGHT_PAGES or all(f.is_done for f in futures)
        if not ready:
            return
        publisher.wait(futures)
        store.save(name, position)
        inflight.popleft()


def observe(report: ConnectorReport, source_system: str) -> None:
    """A run's counts, added to the connector metrics (once per run)."""
    labels = (report.name, source_system)
    m.CONNECTOR_FETCHED.labels(*labels).inc(report.fetched)
    m.CONNECTOR_PUBLISHED.labels(*labels).inc(report.published)
    m.CONNECTOR_REJECTED.labels(*labels).inc(report.rejected)
    m.CONNECTOR_RETRIED.labels(*labels).inc(report.retries)
    m.CONNECTOR_RUNS.labels(report.name, "failed" if report.error else "ok").inc()
    if report.error is None:
        m.CONNECTOR_LAST_FETCH.labels(source_system).set(time.time())


def select(settings: Settings, names: Sequence[str] | None) -> list[ConnectorConfig]:
    configured = {c.name: c for c in settings.connectors}
    if not names:
        return list(configured.values())
    unknown = [n for n in names if n not in configured]
    if unknown:
        raise ConfigError(f"unknown connectors {unknown}; configured: {sorted(configured)}")
    return [configured[n] for n in names]


class ConnectorSet:
    """Connectors sharing one checkpoint store, and one producer per owner: each owner's
    connectors publish as that owner's principal, which may write nothing else."""

    def __init__(self, settings: Settings, configs: Iterable[ConnectorConfig]) -> None:
        self.settings = settings
        self.configs = list(configs)
        self.producers: dict[str, KafkaProducer] = {}
        self._lock = threading.Lock()  # scheduled runs may start together
        self.store = CheckpointStore.for_var_dir(settings.var_dir)
        self.stop = threading.Event()
        # Forked first, before any producer or scheduler thread (casebus.workers).
        self.workers = _page_workers(settings, self.configs)

    def run(self, config: ConnectorConfig) -> ConnectorReport:
        http = SourceSession()
        connector = load_connector(config, self.settings, http)
        publisher = Publisher(
            self.settings,
            producer_name=connector.producer_name,
            principal=connector_principal(config.owner),
            topics=config.topics,
            producer=self.producer(config.owner),
        )
        try:
            report = run_connector(
                connector, publisher, self.store, stop=self.stop, workers=self.workers
            )
        finally:
            http.close()
        if report.broker_failed:
            self.discard_producer(config.owner)
        observe(report, connector.source_system)
        return report

    def discard_producer(self, owner: str) -> None:
        """Replace an owner's producer after a send was not acknowledged: kafka-python's
        idempotent producer (3.0.12) whose batches expired keeps failing every later send
        to those partitions (measured on a three-node cluster that lost two nodes), where
        Kafka's Java client bumps its epoch. The next run starts a new one."""
        with self._lock:
            producer = self.producers.pop(owner, None)
        if producer is not None:
            log.warning("connectors of %s: producer replaced after a failed send", owner)
            abandon(producer)

    def producer(self, owner: str) -> KafkaProducer:
        with self._lock:
            if owner not in self.producers:
                self.producers[owner] = make_producer(
                    self.settings,
                    client_id=f"casebus-connectors-{owner}",
                    principal=connector_principal(owner),
                )
            return self.producers[owner]

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
        for producer in self.producers.values():
            producer.close()
        self.store.close()


def _page_workers(settings: Settings, configs: Sequence[ConnectorConfig]) -> PageWorkers | None:
    """Page workers, if any connector asks for pages large enough to prepare in them."""
    parallel = [c for c in configs if 0 < c.worker_min_page <= c.page_size]
    if not parallel or not can_fork():
        return None
    # The workers' own copies: only `map` is called there, never the source's API.
    connectors = {c.name: load_connector(c, settings, SourceSession()) for c in parallel}
    return PageWorkers(settings, connectors)


def run_connectors_once(
    settings: Settings, names: Sequence[str] | None = None
) -> dict[str, ConnectorReport]:
    """Run each selected connector once, one after another; per-connector counts."""
    group = ConnectorSet(settings, select(settings, names))
    try:
        return {c.name: group.run(c) for c in group.configs}
    finally:
        group.close()
