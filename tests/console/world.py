"""The console's test world: two agency databases that a real sync filled from what the
sandbox's source systems published through the real connectors, over days 0 to 3 (the
cross-region case CASE-510500-2024-0153 included), plus a few crafted events: a Qijiang-only
case whose party name is hostile HTML, a forged event each sync refuses, and an event
Luzhou's stopped sync has not read."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from kafka import KafkaAdminClient
from sqlalchemy import update

from agencydb.engine import make_engine
from agencydb.models import ConsumerOffset
from casebus.config import Settings, load_settings
from casebus.events import event_key
from casebus.publish import event_headers
from casebus.serde import SerializationContext
from connectors.runner import run_connectors_once
from services.console.users import User, hash_password, save_user
from services.sandbox.data.clock import MAX_TICK
from services.sandbox.server import start_sandbox, with_sandbox_urls
from services.sync.service import sync_until_idle
from tests.fixtures.kafka import create_topic
from tests.sync.helpers import EventProducer, penalty

LUZHOU, QIJIANG = "510500-SAMR", "500110-SAMR"
CROSS_CASE, QIJIANG_CASE = "CASE-510500-2024-0153", "CASE-500110-2024-0153"
PARTY = "重庆市綦江区鑫源酒业有限公司"
HOSTILE_CASE = "CASE-500110-2025-0666"
HOSTILE_PARTY = '<script>alert("x")</script>綦江某商行'
PASSWORD = "correct horse battery"
# user name -> agency (None: admin). `locked-out` is the one the throttling test locks out.
USERS = {"luzhou": LUZHOU, "qijiang": QIJIANG, "admin": None, "locked-out": QIJIANG}


@dataclass
class World:
    settings: Settings
    env: dict[str, str]  # what a process needs to see the same deployment
    var_dir: Path
    notes: dict[str, str] = field(default_factory=dict)


def _env(
    var_dir: Path, bootstrap: str, registry_url: str, topics: dict[str, str]
) -> dict[str, str]:
    shared = ("casebus.penalty", "casebus.lead", "casebus.action")
    return {
        "CASEBUS_VAR_DIR": str(var_dir),
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_REGISTRY__URL": registry_url,
        "CASEBUS_SYNC__TOPICS": json.dumps([f"{t}={topics[t]}" for t in shared]),
        "CASEBUS_SYNC__DLQ_TOPIC": topics["dlq"],
        "CASEBUS_SYNC__GROUP_ID": f"casebus.sync.console.{uuid.uuid4().hex[:8]}",
        "CASEBUS_PROVENANCE__AUDIT_TOPIC": topics["audit"],
    }


def _load(env: dict[str, str]) -> Settings:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        return load_settings()


def build_world(admin: KafkaAdminClient, bootstrap: str, registry_url: str, var_dir: Path) -> World:
    suffix = uuid.uuid4().hex[:8]
    topics = {
        shared: create_topic(
            admin, bootstrap, f"{prefix}.console.{suffix}", stands_for=prefix, partitions=2
        )
        for shared, prefix in (
            ("casebus.penalty", "penalty"),
            ("casebus.lead", "lead"),
            ("casebus.action", "action"),
            ("casebus.rejects", "rejects"),
            ("dlq", "dlq"),
            ("audit", "audit"),
        )
    }
    env = _env(var_dir, bootstrap, registry_url, topics)
    settings = _load(env)
    connector_topics = {t: topics[t] for t in topics if t.startswith("casebus.")}
    sandbox_cfg = {
        **settings.sandbox,
        "error_rate": 0.0,
        "invalid_share": 0.15,
        "records_per_system": 6,
    }
    handle = start_sandbox(settings.model_copy(update={"sandbox": sandbox_cfg}), port=0)
    try:
        sourced = with_sandbox_urls(settings, handle.base_url, topics=connector_topics)
        with pytest.MonkeyPatch.context() as mp:
            for name, secret in handle.credentials.items():
                mp.setenv(name, secret)
            for day in range(MAX_TICK + 1):
                tick = requests.post(f"{handle.base_url}/admin/tick", json={"to": day}, timeout=5)
                tick.raise_for_status()
                run_connectors_once(sourced)
    finally:
        handle.stop()
    # The console reads the rejects topic the connectors wrote: it learns it from them.
    env["CASEBUS_CONNECTORS"] = json.dumps(
        [c.model_dump(mode="json") for c in sourced.connectors], ensure_ascii=False
    )
    settings = _load(env)
    _crafted(settings, bootstrap, registry_url, connector_topics)
    for agency in (LUZHOU, QIJIANG):
        sync_until_idle(settings, agency)
    _stop_luzhou(settings, bootstrap, registry_url, connector_topics)
    for name, agency in USERS.items():
        path = var_dir / "console" / "users.toml"
        save_user(path, User(name, agency, hash_password(PASSWORD)))
    return World(settings, env, var_dir)


def _crafted(settings: Settings, bootstrap: str, registry_url: str, topics: dict[str, str]) -> None:
    producer = EventProducer(bootstrap, registry_url, _shared(topics))
    try:
        hostile = penalty(
            "綦市监处罚〔2025〕666号",
            owner=QIJIANG,
            region="500110",
            case_id=HOSTILE_CASE,
            shared_with=[],
        )
        hostile["penalty"]["party_name"] = HOSTILE_PARTY
        forged = penalty("FORGED-0001", owner=QIJIANG, region="500110", case_id=HOSTILE_CASE)
        producer.send(hostile)
        # In Qijiang's name, signed with Luzhou police's key: every sync refuses it.
        value = producer.serializers["casebus.penalty"](
            forged, SerializationContext(topics["casebus.penalty"])
        )
        producer.send_raw(
            "casebus.penalty",
            event_key(forged),
            value,
            event_headers(forged),
            signed_by="510500-PSB",
        )
        producer.flush()
    finally:
        producer.close()


def _shared(topics: dict[str, str]) -> dict[str, str]:
    return {t: topics[t] for t in ("casebus.penalty", "casebus.lead", "casebus.action")}


def _stop_luzhou(
    settings: Settings, bootstrap: str, registry_url: str, topics: dict[str, str]
) -> None:
    """Luzhou's sync stopped two minutes ago, and one event has arrived since: stuck."""
    producer = EventProducer(bootstrap, registry_url, _shared(topics))
    try:
        producer.send_all([penalty("泸市监处罚〔2025〕88号", case_id="CASE-510500-2025-0088")])
    finally:
        producer.close()
    sync_until_idle(settings, QIJIANG)  # Qijiang's keeps up
    engine = make_engine(settings.sync_database_url(LUZHOU))
    try:
        with engine.begin() as conn:
            conn.execute(
                update(ConsumerOffset).values(updated_at=datetime.now(UTC) - timedelta(minutes=2))
            )
    finally:
        engine.dispose()
