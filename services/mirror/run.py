"""`casebus --region R mirror run`: MirrorMaker 2 pulling the other regions' shared events
into region R's cluster (Apache Kafka's own, dedicated mode; services/mirror/config.py), and
the link's metrics beside it (pipeline/link.py)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from kafka.errors import KafkaError

from casebus.config import Region, Settings, in_region
from casebus.kafka.broker import java_options
from casebus.kafka.connect import write_log4j, write_properties
from casebus.kafka.jars import BrokerSetupError, mirror_classpath
from casebus.observability import metrics as m
from casebus.observability.service import Observability
from casebus.security.principals import MIRROR
from casebus.security.secrets import SecretStore
from pipeline.link import link_statuses
from services.mirror.config import HEADER, cluster_alias, mirror_properties

log = logging.getLogger(__name__)

MAIN_CLASS = "org.apache.kafka.connect.mirror.MirrorMaker"


class MirrorSetupError(Exception):
    """The link cannot run as configured; the message says why and what to do."""


@dataclass(frozen=True)
class Prepared:
    """What `run` executes: the command, and the files it wrote."""

    command: list[str]
    properties: Path
    log4j: Path


def home_region(settings: Settings) -> Region:
    home = settings.home
    if home is None:
        raise MirrorSetupError(
            "the link runs in a region: give --region (or CASEBUS_REGION), and describe each "
            "region's cluster in config (docs/regions.md)"
        )
    return home


def state_dir(settings: Settings) -> Path:
    return settings.var_dir / "regions" / cluster_alias(home_region(settings)) / "mirror"


def secret_for(settings: Settings, region: Region) -> str:
    """The mirror principal's secret on `region`'s cluster."""
    there = in_region(settings, region.code)
    return SecretStore(there.secrets_dir).get(MIRROR) if there.kafka.security.sasl else ""


def properties(settings: Settings) -> dict[str, str]:
    """The link's MirrorMaker 2 configuration, each cluster with its secret and CA."""
    return mirror_properties(
        settings,
        secret=lambda r: secret_for(settings, r),
        ca_file=lambda r: str(in_region(settings, r.code).ca_file),
    )


@dataclass(frozen=True)
class RegistryView:
    """What one region's registry says it is, and the schemas it serves (id -> text)."""

    alias: str
    url: str
    mode: str
    schemas: dict[int, str]


def read_registries(settings: Settings, *, timeout: float = 5.0) -> list[RegistryView]:
    """Every region's registry, asked as the mirror principal (MirrorSetupError if one
    does not answer, or refuses the principal)."""
    views = []
    for region in settings.regions:
        assert region.cluster is not None
        alias, url = region.cluster.alias, region.cluster.registry_url.rstrip("/")
        auth = (MIRROR, secret_for(settings, region))
        try:
            mode = requests.get(f"{url}/mode", auth=auth, timeout=timeout)
            listed = requests.get(f"{url}/schemas", auth=auth, timeout=timeout)
        except requests.RequestException as exc:
            raise MirrorSetupError(f"registry of {alias} at {url} does not answer: {exc}") from None
        if mode.status_code in (401, 403):
            raise MirrorSetupError(
                f"registry of {alias} at {url} refuses the {MIRROR} principal "
                f"({mode.status_code}): it is not this deployment's registry, or it runs "
                f"without --region"
            )
        if not mode.ok:
            raise MirrorSetupError(
                f"registry of {alias} at {url} answered {mode.status_code} "
                "to GET /mode: it is not a casebus registry of this version"
            )
        schemas = {int(s["id"]): s["schema"] for s in listed.json()} if listed.ok else {}
        views.append(RegistryView(alias, url, str(mode.json().get("mode")), schemas))
    return views


def check_registries(settings: Settings, *, timeout: float = 5.0) -> None:
    """Refuse a link whose registries could give one schema id two meanings: exactly one
    primary answering READWRITE, every other region's registry a READONLY follower whose
    schemas, id by id, are the primary's."""
    views = {v.alias: v for v in read_registries(settings, timeout=timeout)}
    for region in settings.regions:
        assert region.cluster is not None
        view = views[region.cluster.alias]
        expected = "READWRITE" if region.cluster.primary_registry else "READONLY"
        if view.mode != expected:
            role = "the primary" if expected == "READWRITE" else "a follower of the primary"
            raise MirrorSetupError(
                f"registry of {view.alias} at {view.url} answers mode {view.mode}, but config "
                f"makes it {role}: a schema id would not mean the same schema on both "
                f"clusters (start it with `casebus --region {view.alias} registry serve`)"
            )
    primary = next(v for v in views.values() if v.mode == "READWRITE")
    for view in views.values():
        for schema_id, text in view.schemas.items():
            if primary.schemas.get(schema_id, text) != text:
                raise MirrorSetupError(
                    f"schema id {schema_id} means one schema at {primary.alias}'s registry "
                    f"and another at {view.alias}'s: the follower does not serve the "
                    "primary's schemas"
                )


def followers_caught_up(settings: Settings) -> bool:
    """Every follower serves every schema the primary does (the link has copied them)."""
    views = read_registries(settings)
    primary = next(v for v in views if v.mode == "READWRITE")
    return all(v.schemas == primary.schemas for v in views)


def prepare(settings: Settings) -> Prepared:
    """Write the configuration (mode 0600: it holds the mirror principal's secrets) and the
    logging setup; return the command that runs MirrorMaker 2."""
    home = home_region(settings)
    java = shutil.which("java")
    if java is None:
        raise MirrorSetupError("no Java runtime (java) on PATH: install Java 17 or newer")
    try:
        classpath, origin = mirror_classpath()
    except BrokerSetupError as exc:
        raise MirrorSetupError(str(exc)) from None
    log.info("MirrorMaker 2 jars from %s", origin)
    folder = state_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    props = properties(settings)
    path = folder / "mm2.properties"
    write_properties(path, props, header=HEADER)
    log4j = write_log4j(folder)
    command = [
        java,
        *java_options("384m", full_jit=settings.kafka.local.full_jit),
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        classpath,
        MAIN_CLASS,
        str(path),
        "--clusters",
        cluster_alias(home),
    ]
    return Prepared(command, path, log4j)


def run(settings: Settings, *, check: bool = True, metrics_port: int | None = None) -> int:
    """Check the registries, write the configuration and run MirrorMaker 2 until it exits
    (SIGTERM and SIGINT are passed on: it stops its tasks cleanly; it dies with this process,
    SIGKILL included, a crash it recovers from by exactly-once delivery). Meanwhile serve
    the link's metrics, /healthz and /readyz on the mirror's metrics port. Its exit code."""
    if check:
        check_registries(settings)
    prepared = prepare(settings)
    home = cluster_alias(home_region(settings))
    log.info("MirrorMaker 2 into %s, configuration %s", home, prepared.properties)
    process = subprocess.Popen(prepared.command, preexec_fn=_die_with_parent)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _n, _f: process.terminate())
    port = settings.metrics.port_for("mirror", metrics_port)
    obs = Observability(settings, "mirror", port, principal=MIRROR, registry=False).start()
    try:
        exported = 0.0
        while process.poll() is None:
            obs.touch()  # live while MirrorMaker runs
            if port and time.monotonic() - exported > LINK_EXPORT_SECONDS:
                exported = time.monotonic()
                _export(settings, home)
            time.sleep(1)
    finally:
        obs.close()
    return process.returncode


LINK_EXPORT_SECONDS = 15.0  # how often the link's gauges are measured (a few reads each)


def _export(settings: Settings, home: str) -> None:
    try:
        statuses = link_statuses(settings, principal=MIRROR)
    except KafkaError as exc:
        log.warning("cannot measure the link: %s", exc)
        return
    for link in statuses:
        m.LINK_UP.labels(link.source, home).set(1 if link.state == "up" else 0)
        if link.lag is not None:
            m.LINK_RECORDS_BEHIND.labels(link.source, home).set(link.lag)
            m.LINK_SECONDS_BEHIND.labels(link.source, home).set(link.lag_seconds or 0.0)


def _die_with_parent() -> None:
    """In the child: SIGKILL when the parent dies (Linux), so that MirrorMaker never
    outlives the command that runs it."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


PR_SET_PDEATHSIG = 1
