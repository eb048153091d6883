"""`casebus demo`: the whole flow on embedded defaults, narrated step by step.

broker → topics → schema registry → sandbox agency and platform APIs → every connector
once → sync three agency databases → the cross-region case as Luzhou and as Qijiang see
it → reconcile. Everything it starts, except the broker, is stopped at the end; a second run
publishes and applies nothing new (checkpoints and stored offsets).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from casebus.cli.common import ensure_configured_topics, local_kafka
from casebus.config import Settings
from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic, subject_for_topic
from casebus.kafka.broker import wait_until_ready
from casebus.process import ServiceProcess, answers, start_service
from casebus.registry.client import RegistryClient

SYNCED_AGENCIES = ("510500-SAMR", "510500-PSB", "500110-SAMR")


@dataclass
class Demo:
    settings: Settings
    console: Console = field(default_factory=Console)

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
        else:
            wait_until_ready(self.settings.kafka.bootstrap_servers, 30)
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
        client = RegistryClient(url)
        try:
            for topic in TOPIC_SCHEMAS:
                subject = subject_for_topic(topic)
                schema_id = client.register(subject, schema_for_topic(topic))
                self.console.print(f"  {subject} → schema id {schema_id}")
            yield client
        finally:
            client.close()
            if service is not None:
                service.stop()

    @contextlib.contextmanager
    def sandbox(self) -> Iterator[Settings]:
        """Serve the stand-in source systems; yield settings whose connectors point at them."""
        from services.sandbox.server import start_sandbox, with_sandbox_urls

        self.step("3. Sandbox agency and platform APIs")
        handle = start_sandbox(self.settings)
        handle.export_credentials()
        self.console.print(f"serving {len(handle.urls)} source systems at {handle.base_url}:")
        self.console.print("  " + ", ".join(sorted(handle.urls)))
        try:
            yield with_sandbox_urls(self.settings, handle.base_url)
        finally:
            handle.stop()

    def connectors(self, settings: Settings) -> None:
        from connectors.runner import run_connectors_once

        self.step("4. Connectors, each once")
        reports = run_connectors_once(settings)
        table = Table("connector", "fetched", "published", "rejected", "pages", "retries", "error")
        for name, r in reports.items():
            table.add_row(
                name,
                str(r.fetched),
                str(r.published),
                str(r.rejected),
                str(r.pages),
                str(r.retries),
                r.error or "",
            )
        self.console.print(table)
        self.console.print(
            "rejected source records are in topic casebus.rejects, with every failed rule"
        )


def run_demo(settings: Settings) -> int:
    demo = Demo(settings)
    demo.kafka()
    with demo.registry(), demo.sandbox() as sourced:
        demo.connectors(sourced)
    demo.console.rule()
    demo.console.print("done. The broker keeps running: `casebus kafka stop` ends it.")
    return 0
