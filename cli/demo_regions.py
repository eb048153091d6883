"""`casebus demo --regions`: the cooperation on two clusters, one per region, joined by
MirrorMaker 2 (docs/regions.md), narrated step by step.

Luzhou's and Qijiang's clusters → their registries (Luzhou's the primary, Qijiang's its
follower) → the link, both ways → the sandbox's first days, each region's connectors
publishing to their own cluster → each region's SAMR syncing its own events and the other's
copies → the link cut → two more days published on both sides, each region still syncing
its own → the link restored → both converge: the cross-region case the same in both,
`reconcile` identical. The clusters keep running (`casebus --region R kafka stop`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from rich.console import Console

from casebus.config import Settings, in_region
from casebus.contracts.partner import contract_subjects
from casebus.process import ServiceProcess, answers, start_service
from casebus.registry.client import registry_for
from casebus.security.principals import admin
from casebus.security.setup import local_kafka
from cli.common import ensure_configured_topics, secure_local_broker
from cli.demo_flow import quiet_for_narration

LUZHOU, QIJIANG = "luzhou", "qijiang"
SYNCED = {LUZHOU: "510500-SAMR", QIJIANG: "500110-SAMR"}
CROSS_REGION_CASE = "CASE-510500-2024-0153"
LINK_UP_DAYS, LAST_DAY = (0, 1), 3  # the sandbox's days published with the link up, then down


@dataclass
class RegionsDemo:
    settings: Settings  # no region: the whole deployment
    console: Console = field(default_factory=Console)
    mirrors: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    registries: list[ServiceProcess] = field(default_factory=list)

    def region(self, alias: str) -> Settings:
        return in_region(self.settings, alias)

    @property
    def logs(self) -> Path:
        return self.settings.var_dir / "logs"

    def step(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    def clusters(self) -> None:
        self.step("1. Two clusters, one per region")
        for alias in (LUZHOU, QIJIANG):
            here = self.region(alias)
            status = local_kafka(here).start()
            self.console.print(f"{alias}: broker (pid {status.pid}) at {status.bootstrap}")
            secure_local_broker(here)
            ensure_configured_topics(here)

    def schema_registries(self) -> None:
        from services.mirror.run import followers_caught_up

        self.step("2. Registries: Luzhou's assigns schema ids, Qijiang's serves them read-only")
        for alias in (LUZHOU, QIJIANG):
            here = self.region(alias)
            if answers(here.registry.url + "/"):
                self.console.print(f"{alias}: using the registry at {here.registry.url}")
                continue
            self.registries.append(
                start_service(
                    ["--region", alias, "registry", "serve"],
                    url=here.registry.url,
                    log=self.logs / f"registry-{alias}.log",
                )
            )
            role = "follows luzhou's" if here.registry.follows else "primary"
            self.console.print(f"{alias}: registry at {here.registry.url} ({role})")
        primary = self.region(LUZHOU)
        client = registry_for(primary, admin(primary))
        try:
            for subject, schema in contract_subjects(primary):
                client.register(subject, schema)
        finally:
            client.close()
        self.link_up()
        deadline = time.monotonic() + 120
        while not followers_caught_up(primary):
            if time.monotonic() > deadline:
                raise RuntimeError("Qijiang's registry did not catch up with Luzhou's")
            time.sleep(1)
        self.console.print("Qijiang's registry serves every schema of Luzhou's, by the same ids")

    def link_up(self) -> None:
        for alias in (LUZHOU, QIJIANG):
            if alias in self.mirrors:
                continue
            log = (self.logs / f"mirror-{alias}.log").open("ab")
            self.mirrors[alias] = subprocess.Popen(
                [sys.executable, "-m", "cli", "--region", alias, "mirror", "run"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            self.console.print(f"`casebus --region {alias} mirror run` (log {log.name})")

    def link_down(self) -> None:
        for alias, process in self.mirrors.items():
            process.terminate()
            process.wait(timeout=60)
            self.console.print(f"{alias}'s MirrorMaker 2 stopped")
        self.mirrors.clear()

    def publish(self, sandbox_url: str, days: range) -> None:
        from connectors.runner import run_connectors_once
        from services.sandbox.server import with_sandbox_urls

        for day in days:
            requests.post(f"{sandbox_url}/admin/tick", json={"to": day}, timeout=5)
            for alias in (LUZHOU, QIJIANG):
                sourced = with_sandbox_urls(self.region(alias), sandbox_url)
                reports = run_connectors_once(sourced).values()
                published = sum(r.published for r in reports)
                self.console.print(f"day {day}, {alias}: {published} events published")

    def sync(self) -> None:
        from pipeline.link import link_statuses
        from services.sync.service import sync_until_idle

        for alias, agency in SYNCED.items():
            here = self.region(alias)
            self.console.print(f"{alias}: " + sync_until_idle(here, agency).summary())
            for link in link_statuses(here):
                self.console.print(f"  link: {link.describe()}")

    def converge(self, timeout: float = 180) -> None:
        """Until every link is up with nothing behind, then sync both regions."""
        from pipeline.link import link_statuses

        deadline = time.monotonic() + timeout
        while True:
            links = [link for a in SYNCED for link in link_statuses(self.region(a))]
            if all(link.state == "up" and link.lag == 0 for link in links):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "the link did not catch up: " + "; ".join(link.describe() for link in links)
                )
            time.sleep(2)
        self.sync()

    def reconcile(self) -> bool:
        from agencydb.reconcile import reconcile

        report = reconcile(self.settings, *SYNCED.values())
        for line in report.lines()[-3:]:
            self.console.print(line)
        return report.identical

    def stop(self) -> None:
        self.link_down()
        for service in self.registries:
            service.stop()


def run_regions_demo(settings: Settings) -> int:
    from services.sandbox.server import start_sandbox

    quiet_for_narration()
    demo = RegionsDemo(settings)
    demo.logs.mkdir(parents=True, exist_ok=True)
    identical = False
    try:
        demo.clusters()
        demo.schema_registries()
        handle = start_sandbox(settings)
        handle.export_credentials()
        try:
            demo.step(f"3. Sandbox days {LINK_UP_DAYS[0]}–{LINK_UP_DAYS[-1]}, the link up")
            demo.publish(handle.base_url, range(LINK_UP_DAYS[0], LINK_UP_DAYS[-1] + 1))
            demo.converge()
            demo.step("4. The link cut; both regions publish and sync on their own")
            demo.link_down()
            demo.publish(handle.base_url, range(LINK_UP_DAYS[-1] + 1, LAST_DAY + 1))
            demo.sync()
            demo.console.print("while the link is down, the two databases differ:")
            demo.reconcile()
        finally:
            handle.stop()
        demo.step("5. The link restored: both regions converge")
        demo.link_up()
        demo.converge()
        identical = demo.reconcile()
        from cli.case import show_case

        for alias, agency in SYNCED.items():
            demo.step(f"Case {CROSS_REGION_CASE} as {alias} ({agency}) sees it")
            show_case(demo.region(alias), agency, CROSS_REGION_CASE, console=demo.console)
    finally:
        demo.stop()
    demo.console.rule()
    demo.console.print(
        "done. Both clusters keep running: `casebus --region luzhou kafka stop` and "
        "`casebus --region qijiang kafka stop` end them."
    )
    return 0 if identical else 1
