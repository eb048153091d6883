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
from connectors.runner import ConnectorSet, select

log = logging.getLogger(__name__)


def trigger(config: ConnectorConfig) -> CronTrigger | IntervalTrigger:
    if config.cron:
        return CronTrigger.from_crontab(config.cron)
    return IntervalTrigger(seconds=config.interval_seconds or 300)


def run_scheduled(settings: Settings, names: Sequence[str] | None = None) -> None:
    group = ConnectorSet(settings, select(settings, names))
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

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current pages, then stopping", signum)
        group.stop.set()  # runs stop fetching after their current page, flushed and saved
        scheduler.shutdown(wait=True)  # waits for those runs

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        scheduler.start()
    finally:
        group.close()
