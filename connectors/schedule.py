"""Run connectors on their schedule (APScheduler), until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from casebus.config import ConnectorConfig, Settings
from casebus.observability.service import Observability
from casebus.security.principals import connector as connector_principal
from casebus.topics import REJECTS_TOPIC
from connectors.runner import ConnectorSet, select

log = logging.getLogger(__name__)


def trigger(config: ConnectorConfig) -> CronTrigger | IntervalTrigger:
    if config.cron:
        return CronTrigger.from_crontab(config.cron)
    return IntervalTrigger(seconds=config.interval_seconds or 300)


HEARTBEAT_SECONDS = 5.0  # how often the scheduler's own job touches the heartbeat


def run_scheduled(
    settings: Settings, names: Sequence[str] | None = None, *, metrics_port: int = 0
) -> None:
    """`metrics_port`: /metrics, /healthz, /readyz served there (0: none)."""
    group = ConnectorSet(settings, select(settings, names))
    # After the page workers were forked (ConnectorSet): the watcher and server are threads.
    # Ready while Kafka and the registry answer (the runner publishes as each owner; the
    # probe connects as the first connector's owner) and, live, while the scheduler runs jobs.
    obs = None
    if metrics_port and group.configs:
        obs = Observability(
            settings,
            "connectors",
            metrics_port,
            principal=connector_principal(group.configs[0].owner),
            depth_of=(rejects_topic(group.configs[0]),),
        ).start()
    scheduler = BlockingScheduler(
        # One run per connector at a time; missed runs collapse into one.
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
        executors={"default": {"type": "threadpool", "max_workers": 4}},
    )
    now = datetime.now(UTC)
    for config in group.configs:
        scheduler.add_job(
            group.run,
            trigger(config),
            args=[config],
            id=config.name,
            name=config.name,
            next_run_time=now,
        )

    if obs is not None:
        scheduler.add_job(
            obs.touch, IntervalTrigger(seconds=HEARTBEAT_SECONDS), id="casebus-heartbeat"
        )

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current pages, then stopping", signum)
        group.stop.set()  # runs stop fetching after their current page, flushed and saved
        scheduler.shutdown(wait=True)  # waits for those runs

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        scheduler.start()
    finally:
        if obs is not None:
            obs.close()
        group.close()


def rejects_topic(config: ConnectorConfig) -> str:
    return config.topics.get(REJECTS_TOPIC, REJECTS_TOPIC)
