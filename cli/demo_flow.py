"""`casebus demo`: the whole flow on embedded defaults, narrated step by step.

broker → topics → schema registry → sandbox agency and platform APIs → every connector
once → a forged event → sync three agency databases (which refuse it) → each platform's
lead feed → the cross-region case as Luzhou and as Qijiang see it → reconcile → Qijiang's
database lost and rebuilt by replay → audit (a hand edit caught, then repaired) → status.
Everything it starts, except the broker, is stopped at the end; a second run publishes
nothing new but the forged event and applies nothing new (checkpoints and stored offsets).
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
from sqlalchemy import Engine

from casebus.config import Settings
from casebus.contracts.partner import contract_subjects
from casebus.contracts.samples import sample_penalty_event
from casebus.events import PENALTY_TOPIC, stable_event_id
from casebus.kafka.broker import wait_until_ready
from casebus.kafka.clients import connection_options, make_consumer
from casebus.process import ServiceProcess, answers, start_service
from casebus.provenance.keys import load_signing_key
from casebus.provenance.signing import Signer
from casebus.publish import REJECTS_TOPIC, Publisher, event_headers
from casebus.registry.client import RegistryClient, registry_for
from casebus.security.principals import REPLAY, admin
from casebus.security.principals import connector as connector_principal
from casebus.security.setup import local_kafka
from cli.common import ensure_configured_topics, secure_local_broker

SYNCED_AGENCIES = ("510500-SAMR", "510500-PSB", "500110-SAMR")
# The sandbox's cross-region case: a Luzhou lead transferred to Qijiang, linked to Qijiang's.
CROSS_REGION_CASE = "CASE-510500-2024-0153"
VIEWS = (("Luzhou", "510500-SAMR"), ("Qijiang", "500110-SAMR"))
# The forged event: a penalty in Qijiang's name, signed by a Luzhou police connector's key.
FORGER, FORGED_OWNER, FORGED_RECORD = "510500-PSB", "500110-SAMR", "FORGED-0001"


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

    def forge(self) -> None:
        """A compromised connector of 510500-PSB publishes a penalty in 500110-SAMR's name,
        signed with its own (trusted) key: the ACLs let it write the topic, the signature
        check must stop it."""
        self.step(f"5. A forged event: {FORGER}'s connector publishes as {FORGED_OWNER}")
        event = sample_penalty_event()
        event.update(
            owner=FORGED_OWNER,
            region="500110",
            record_id=FORGED_RECORD,
            case_id="CASE-500110-2025-0666",
            event_id=stable_event_id(FORGED_OWNER, FORGED_RECORD, 1, "PENALTY_ISSUED"),
        )
        event["penalty"]["decision_no"] = FORGED_RECORD
        publisher = Publisher(
            self.settings,
            producer_name=f"{FORGER}-connector",
            principal=connector_principal(FORGER),
            sign=False,  # signed below, with the forger's own key
        )
        try:
            out = publisher.encoder.encode(event)
            signer = Signer(load_signing_key(self.settings, FORGER))
            headers = signer.sign(PENALTY_TOPIC, out.key, out.value, event_headers(event))
            publisher.send_encoded(out._replace(headers=headers))
            publisher.flush()
        finally:
            publisher.close()
        self.console.print(
            f"published {FORGED_RECORD} (owner {FORGED_OWNER}) to {PENALTY_TOPIC}, "
            f"signed with {FORGER}'s key {signer.key.key_id}"
        )

    def sync(self) -> None:
        from services.sync.service import sync_until_idle

        self.step("6. Sync agency databases")
        for agency in SYNCED_AGENCIES:
            report = sync_until_idle(self.settings, agency)
            self.console.print(report.summary())
            self.console.print(f"  database: {self.settings.database_url(agency)}")
        self._refused(FORGED_OWNER)

    def _refused(self, agency: str) -> None:
        """The forged event, as the agency's event log and DLQ hold it."""
        from sqlalchemy import select

        from agencydb.engine import make_engine
        from agencydb.models import EventLogEntry, Record

        engine = make_engine(self.settings.database_url(agency))
        try:
            with engine.connect() as conn:
                logged = conn.execute(
                    select(EventLogEntry.outcome, EventLogEntry.detail).where(
                        EventLogEntry.record_id == FORGED_RECORD
                    )
                ).all()
                stored = conn.scalar(
                    select(Record.record_id).where(Record.record_id == FORGED_RECORD)
                )
        finally:
            engine.dispose()
        for outcome, detail in logged:
            self.console.print(f"  {agency} event log, {FORGED_RECORD}: {outcome}: {detail}")
        where = self.settings.sync.dlq_for(agency)
        held = "stored (!)" if stored else f"not stored; its bytes are in {where}"
        self.console.print(f"  {FORGED_RECORD}: {held}")

    def feeds(self) -> None:
        """Forward the leads into every platform's feed; show what each platform sees."""
        from services.feeds.service import run_feeds
        from services.feeds.view import read_feed, render

        self.step("7. Partner lead feeds (redacted, in Kafka transactions)")
        self.console.print(run_feeds(self.settings, until_idle=True).summary())
        for platform in self.settings.platforms:
            render(read_feed(self.settings, platform), self.console, limit=4)

    def case(self) -> None:
        from cli.case import show_case

        for n, (region, agency) in enumerate(VIEWS, start=8):
            self.step(f"{n}. Case {CROSS_REGION_CASE} as {region} ({agency}) sees it")
            show_case(self.settings, agency, CROSS_REGION_CASE, console=self.console)

    def reconcile(self) -> bool:
        from agencydb.reconcile import reconcile

        (_, a), (_, b) = VIEWS
        self.step(f"10. Reconcile {a} and {b}")
        report = reconcile(self.settings, a, b)
        for line in report.lines():
            self.console.print(line)
        return report.identical

    def replay(self) -> bool:
        """Lose Qijiang's database, see what a replay would put back, rebuild it, check it."""
        from pathlib import Path

        from sqlalchemy.engine import make_url

        from agencydb.reconcile import reconcile
        from services.replay.service import ReplayRequest, replay

        _, agency = VIEWS[1]
        self.step(f"11. Replay: {agency}'s database lost, rebuilt from the topics")
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

    def audit(self) -> bool:
        """Verify Luzhou's database, zero a fine by hand, catch it, repair it by replay."""
        from sqlalchemy import text

        from agencydb.engine import open_database
        from services.replay.service import ReplayRequest, replay

        _, agency = VIEWS[0]
        self.step(f"12. Audit: {agency}'s event log, its published heads, every record")
        engine = open_database(self.settings.database_url(agency))
        try:
            clean = self._verified(agency, engine)
            with engine.begin() as conn:
                record_id = conn.scalar(
                    text("SELECT record_id FROM penalty_decisions WHERE fine_amount IS NOT NULL")
                )
                conn.execute(
                    text("UPDATE penalty_decisions SET fine_amount = '0' WHERE record_id = :r"),
                    {"r": record_id},
                )
            self.console.print(f"[bold]a hand edit:[/] the fine of {record_id} set to 0")
            caught = not self._verified(agency, engine)
            repaired = replay(self.settings, ReplayRequest(agency))
            self.console.print(
                f"`casebus replay --into {agency} --all` (a repair): {repaired.report.summary()}"
            )
            again = self._verified(agency, engine)
        finally:
            engine.dispose()
        return clean and caught and again

    def _verified(self, agency: str, engine: Engine) -> bool:
        from services.audit.verify import verify
        from services.console.journal import record_audit

        report = verify(self.settings, agency, engine)
        record_audit(self.settings, agency, report.to_dict(), by="casebus demo")
        self.console.print(f"`casebus audit verify {agency}`:")
        for line in report.lines():
            self.console.print("  " + line, markup=False)
        return report.ok

    def status(self) -> None:
        from pipeline.status import status

        self.step("13. casebus status")
        table = Table("consumer", "state", "lag", "last applied", "DLQ")
        result = status(self.settings)
        for c in result.consumers:
            if c.state != "not started":
                table.add_row(c.name, c.state, f"{c.lag:,}", c.last_applied or "", str(c.dlq))
        self.console.print(table)
        self.console.print(f"rejects: {result.rejects} quarantined source records")

    def web_console(self) -> None:
        """Serve the web console over the demo's databases (left running, like the
        broker), with a user of random password for each synced agency and an admin."""
        import secrets

        from services.console.settings import ConsoleSettings
        from services.console.users import User, hash_password, save_user

        self.step("14. The web console")
        own = ConsoleSettings.of(self.settings)
        url = f"http://{own.host}:{own.port}"
        users = {f"demo-{a.lower()}": a for a in SYNCED_AGENCIES} | {"demo-admin": None}
        table = Table("user", "sees", "password")
        for name, agency in users.items():
            password = secrets.token_urlsafe(9)
            save_user(own.users_path(self.settings), User(name, agency, hash_password(password)))
            table.add_row(name, agency or "admin: the bus, no database", password)
        if answers(url + "/healthz"):
            self.console.print(f"the console already runs at {url} (it reads the new users)")
        else:
            log = self.settings.var_dir / "logs" / "console.log"
            start_service(["console", "serve"], url=url, log=log, ready_path="/healthz")
            self.console.print(f"started `casebus console serve` at {url} (log {log})")
        self.console.print(f"[bold]console: {url}[/] — sign in as (passwords new this run):")
        self.console.print(table)
        self.console.print(
            f"try {CROSS_REGION_CASE} as demo-500110-samr; `casebus console stop` ends it"
        )


def _tty() -> bool:
    return sys.stdout.isatty()


def quiet_for_narration() -> None:
    """The demo narrates; routine INFO lines and per-record reject warnings would drown it
    (rejects are shown as a table instead; the forged event's refusal from the event log and
    DLQ); kafka-python warns while a new group's coordinator is being elected."""
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("casebus.publish", "pipeline.inbound", "pipeline.dlq", "kafka"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_demo(settings: Settings) -> int:
    quiet_for_narration()
    demo = Demo(settings)
    demo.kafka()
    with demo.registry():
        with demo.sandbox() as (sourced, sandbox_url), demo.rejects():
            demo.connectors(sourced, sandbox_url)
        demo.forge()
        demo.sync()
        demo.feeds()
        demo.case()
        identical = demo.reconcile()
        identical = demo.replay() and identical
        audited = demo.audit()
        demo.status()
        demo.web_console()
    demo.console.rule()
    demo.console.print(
        "done. The broker and the console keep running: `casebus kafka stop` and "
        "`casebus console stop` end them."
    )
    return 0 if identical and audited else 1
