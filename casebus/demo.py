"""`casebus demo`: the whole flow on embedded defaults, narrated step by step.

broker → topics → schema registry → sandbox agency and platform APIs → every connector
once → sync three agency databases → each platform's lead feed → the cross-region case as
Luzhou and as Qijiang see it → reconcile → Qijiang's database lost and rebuilt by replay →
status. Everything it starts, except the broker, is
stopped at the end; a second run publishes and applies nothing new (checkpoints and stored
offsets).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import requests
from kafka import TopicPartition
from rich.console import Console
from rich.table import Table

from casebus.cli.common import ensure_configured_topics, secure_local_broker
from casebus.config import Settings
from casebus.contracts.partner import contract_subjects
from casebus.kafka.broker import wait_until_ready
from casebus.kafka.clients import connection_options, make_consumer
from casebus.process import ServiceProcess, answers, start_service
from casebus.publish import REJECTS_TOPIC
from casebus.registry.client import RegistryClient, registry_for
from casebus.security.principals import REPLAY, admin
from casebus.security.setup import local_kafka

SYNCED_AGENCIES = ("510500-SAMR", "510500-PSB", "500110-SAMR")
# The sandbox's cross-region case: a Luzhou lead transferred to Qijiang, linked to Qijiang's.
CROSS_REGION_CASE = "CASE-510500-2024-0153"
VIEWS = (("Luzhou", "510500-SAMR"), ("Qijiang", "500110-SAMR"))


@dataclass
class Demo:
    settings: Settings
    # Wide enough for the case tables when the output is a file or CI log, not a terminal.
    console: Console = field(default_factory=lambda: Console(width=None if _tty() else 160))

    def step(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    def kafka(self) -> None:
        self.step("1. Kafka")
        began = time.monotonic()
        if self.settings.kafka.uses_local_broker:
            status = local_kafka(self.settings).start()
            self.console.print(
                f"local broker (pid {status.pid}) at {status.bootstrap}, log {status.log_file}"
            )
            self.console.print(
                f"SASL_SSL, {self.settings.kafka.security.mechanism}, CA {self.settings.ca_file}"
            )
            secure_local_broker(self.settings)
        else:
            wait_until_ready(connection_options(self.settings, admin(self.settings)), 30)
            self.console.print(f"existing cluster at {self.settings.kafka.bootstrap_servers}")
        self.console.print(f"ready in {time.monotonic() - began:.1f}s")
        ensure_configured_topics(self.settings)

    @contextlib.contextmanager
    def registry(self) -> Iterator[RegistryClient]:
        self.step("2. Schema registry")
        url = self.settings.registry.url
        service: ServiceProcess | None = None
        if answers(url + "/"):
            self.console.print(f"using the registry at {url}")
        else:
            service = start_service(
                ["registry", "serve"], url=url, log=self.settings.var_dir / "logs" / "registry.log"
            )
            self.console.print(f"started `casebus registry serve` at {url} (log {service.log})")
        client = registry_for(self.settings, admin(self.settings))
        try:
            for subject, schema in contract_subjects(self.settings):
                schema_id = client.register(subject, schema)
                self.console.print(f"  {subject} → schema id {schema_id}")
            yield client
        finally:
            client.close()
            if service is not None:
                service.stop()

    @contextlib.contextmanager
    def sandbox(self) -> Iterator[tuple[Settings, str]]:
        """Serve the stand-in source systems; yield settings whose connectors point at them,
        and the sandbox's base URL."""
        from services.sandbox.server import start_sandbox, with_sandbox_urls

        self.step("3. Sandbox agency and platform APIs")
        handle = start_sandbox(self.settings)
        handle.export_credentials()
        self.console.print(f"serving {len(handle.urls)} source systems at {handle.base_url}:")
        self.console.print("  " + ", ".join(sorted(handle.urls)))
        try:
            yield with_sandbox_urls(self.settings, handle.base_url), handle.base_url
        finally:
            handle.stop()

    def connectors(self, settings: Settings, sandbox_url: str) -> None:
        """Run every connector once per sandbox day, so amendments, revocations, transfers
        and the cross-region case unfold as new revisions."""
        from connectors.runner import run_connectors_once
        from services.sandbox.data.clock import MAX_TICK

        self.step(f"4. Connectors, each once per sandbox day (days 0–{MAX_TICK})")
        columns = ("fetched", "published", "rejected", "pages", "retries")
        table = Table("day", "connector", *columns, "error")
        for day in range(MAX_TICK + 1):
            requests.post(f"{sandbox_url}/admin/tick", json={"to": day}, timeout=5)
            for name, report in run_connectors_once(settings).items():
                counts = [str(getattr(report, c)) for c in columns]
                table.add_row(str(day), name, *counts, report.error or "")
        self.console.print(table)

    @contextlib.contextmanager
    def rejects(self) -> Iterator[None]:
        """Show what the connectors quarantined while the block ran, with every failed rule."""
        consumer = make_consumer(self.settings, None, "casebus-demo-rejects", principal=REPLAY)
        consumer.topics()  # fetch metadata, so the topic's partitions are known
        partitions = consumer.partitions_for_topic(REJECTS_TOPIC) or set()
        parts = [TopicPartition(REJECTS_TOPIC, p) for p in sorted(partitions)]
        consumer.assign(parts)
        consumer.seek_to_end(*parts)
        for tp in parts:
            consumer.position(tp)  # resolve "end" now, before the connectors add to it
        try:
            yield
            ends = consumer.end_offsets(parts)
            table = Table("source record", "connector", "field", "rule", "why")
            count = 0
            while any(consumer.position(tp) < ends[tp] for tp in parts):
                for records in consumer.poll(timeout_ms=2000).values():
                    for record in records:
                        body = json.loads(record.value)
                        count += 1
                        for v in body["violations"]:
                            table.add_row(
                                body["source_record_id"],
                                body["connector"],
                                v["field"],
                                v["rule"],
                                v["message"],
                            )
            self.console.print(
                f"{count} invalid source records quarantined in "
                f"{REJECTS_TOPIC} (nothing published for them):"
            )
            if count:
                self.console.print(table)
        finally:
            consumer.close()

    def sync(self) -> None:
        from services.sync.service import sync_until_idle

        self.step("5. Sync agency databases")
        for agency in SYNCED_AGENCIES:
            report = sync_until_idle(self.settings, agency)
            self.console.print(report.summary())
            self.console.print(f"  database: {self.settings.database_url(agency)}")

    def feeds(self) -> None:
        """Forward the leads into every platform's feed; show what each platform sees."""
        from services.feeds.service import run_feeds
        from services.feeds.view import read_feed, render

        self.step("6. Partner lead feeds (redacted, in Kafka transactions)")
        self.console.print(run_feeds(self.settings, until_idle=True).summary())
        for platform in self.settings.platforms:
            render(read_feed(self.settings, platform), self.console, limit=4)

    def case(self) -> None:
        from services.sync.case_view import show_case

        for n, (region, agency) in enumerate(VIEWS, start=7):
            self.step(f"{n}. Case {CROSS_REGION_CASE} as {region} ({agency}) sees it")
            show_case(self.settings, agency, CROSS_REGION_CASE, console=self.console)

    def reconcile(self) -> bool:
        from services.sync.reconcile import reconcile

        (_, a), (_, b) = VIEWS
        self.step(f"9. Reconcile {a} and {b}")
        report = reconcile(self.settings, a, b)
        for line in report.lines():
            self.console.print(line)
        return report.identical

    def replay(self) -> bool:
        """Lose Qijiang's database, see what a replay would put back, rebuild it, check it."""
        from pathlib import Path

        from sqlalchemy.engine import make_url

        from services.replay.service import ReplayRequest, replay
        from services.sync.reconcile import reconcile

        _, agency = VIEWS[1]
        self.step(f"10. Replay: {agency}'s database lost, rebuilt from the topics")
        path = Path(str(make_url(self.settings.database_url(agency)).database))
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        self.console.print(f"deleted {path}")
        request = ReplayRequest(agency, case_id=CROSS_REGION_CASE, dry_run=True)
        dry = replay(self.settings, request)
        assert dry.difference is not None
        self.console.print(
            f"`casebus replay --into {agency} --case {CROSS_REGION_CASE} --dry-run` "
            f"(cases {', '.join(dry.cases)}):"
        )
        lines = dry.difference.lines()
        shown = lines if len(lines) <= 7 else [*lines[:5], "…", lines[-1]]
        for line in shown:
            self.console.print("  " + line, markup=False)
        fresh = replay(self.settings, ReplayRequest(agency, fresh=True))
        self.console.print(
            f"`casebus replay --into {agency} --all --fresh`: {fresh.report.summary()}"
        )
        (_, a), (_, b) = VIEWS
        report = reconcile(self.settings, a, b)
        self.console.print(report.lines()[-1])
        return report.identical

    def status(self) -> None:
        from services.ops.status import status

        self.step("11. casebus status")
        table = Table("consumer", "state", "lag", "last applied", "DLQ")
        result = status(self.settings)
        for c in result.consumers:
            if c.state != "not started":
                table.add_row(c.name, c.state, f"{c.lag:,}", c.last_applied or "", str(c.dlq))
        self.console.print(table)
        self.console.print(f"rejects: {result.rejects} quarantined source records")


def _tty() -> bool:
    return sys.stdout.isatty()


def run_demo(settings: Settings) -> int:
    # The demo narrates; routine INFO lines and per-record reject warnings would drown it
    # (rejects are shown as a table instead).
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("casebus.publish").setLevel(logging.ERROR)
    # kafka-python warns while a new consumer group's coordinator is being elected.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    demo = Demo(settings)
    demo.kafka()
    with demo.registry():
        with demo.sandbox() as (sourced, sandbox_url), demo.rejects():
            demo.connectors(sourced, sandbox_url)
        demo.sync()
        demo.feeds()
        demo.case()
        identical = demo.reconcile()
        identical = demo.replay() and identical
        demo.status()
    demo.console.rule()
    demo.console.print("done. The broker keeps running: `casebus kafka stop` ends it.")
    return 0 if identical else 1
