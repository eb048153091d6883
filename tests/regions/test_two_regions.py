"""Two regions, two real clusters, Apache Kafka's MirrorMaker 2 between them as real processes.

Luzhou's and Qijiang's clusters each run in their own state folder on their own ports, each
with its registry (Luzhou's the primary, Qijiang's a read-only follower of its copied
`_schemas`), each with a MirrorMaker 2 pulling the other region's shared events in
(`casebus --region R mirror run`). Both regions publish; each region's SAMR sync reads its
own topics and the other's copies.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from agencydb.engine import make_engine
from agencydb.models import EventLogEntry, PenaltyDecision, Record
from agencydb.reconcile import reconcile_databases
from bench.two_regions import LUZHOU, QIJIANG, Deployment, two_regions
from bench.workload import NATURAL_PERSON_EVERY, natural_person
from casebus.config import Settings
from casebus.events import Event, event_key
from casebus.publish import Publisher, Signers, event_headers
from casebus.regions import share_header
from casebus.revisions import Outcome
from casebus.security.principals import INGEST
from casebus.serde import SerializationContext
from casebus.topics import PENALTY_TOPIC
from pipeline.scan import scan
from services.sync.service import sync_until_idle
from tests.fixtures.registry import start_registry, unique_schemas_topic
from tests.sync.helpers import penalty

pytestmark = pytest.mark.slow

LZ_SAMR, QJ_SAMR = "510500-SAMR", "500110-SAMR"
# Each region's one-node cluster: its client port (the controller's is the next one).
PORTS = {LUZHOU: 39420, QIJIANG: 39440}
PER_PHASE = 2_000  # events per region in each of the three phases (12,000 in all)
LINK_DOWN_SECONDS = 30
# Whatever in a record's bytes has the shape of an identity number (17 digits and a check
# character) or of a Luzhou decision number, overlapping matches included, looked up in a
# set: testing each of thousands of values against each record took 15 s of the test.
LOOKS_HIDDEN = re.compile(rb"(?=(\d{17}[\dX]|LZ-[A-Z]+-\d+))")


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    # Each region its key service, with its own key store and key-encryption keys: a SAMR
    # opens the other region's personal fields only through that region's service.
    home = tmp_path_factory.mktemp("regions")
    with two_regions(home, PORTS, key_services=True) as deployment:
        yield deployment


# -- the events ---------------------------------------------------------------------------


def with_person(event: Event, n: int, region: str) -> Event:
    """One penalty in five against a natural person, whose identity number is sealed by the
    owner's producer (docs/personal-data.md)."""
    if n % NATURAL_PERSON_EVERY == 0:
        natural_person(event["penalty"], n, region)
    return event


def luzhou_event(n: int) -> Event:
    """One in three shared with Qijiang's SAMR, one kept at home, one police only (H3)."""
    kind, case = n % 3, f"CASE-510500-2025-{n // 2:05d}"
    if kind == 0:
        event = penalty(f"LZ-SHARED-{n}", shared_with=[QJ_SAMR], case_id=case)
    elif kind == 1:
        event = penalty(f"LZ-HOME-{n}", shared_with=[], case_id=case)
    else:
        event = penalty(f"LZ-POLICE-{n}", handling="H3", shared_with=["500110-PSB"], case_id=case)
    return with_person(event, n, "510500")


def qijiang_event(n: int) -> Event:
    """Qijiang SAMR's: every other one shared with Luzhou's region."""
    shared = [LZ_SAMR] if n % 2 == 0 else []
    tag = "QJ-SHARED" if shared else "QJ-HOME"
    event = penalty(
        f"{tag}-{n}",
        owner=QJ_SAMR,
        region="500110",
        producer="qijiang-test",
        shared_with=shared,
        case_id=f"CASE-500110-2025-{n // 2:05d}",
    )
    return with_person(event, n, "500110")


def publish(settings: Settings, events: list[Event]) -> None:
    publisher = Publisher(settings, producer_name="regions-test", principal=INGEST)
    try:
        for out in publisher.encoder.encode_all(events):
            publisher.send_encoded(out)
        publisher.producer.flush(timeout=60)
        for future in publisher.take_pending():
            future.get(timeout=30)
    finally:
        publisher.producer.close(timeout=5)


def persons(url: str) -> dict[str, str]:
    """Record id -> the identity number as the database holds it, for natural persons."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = select(PenaltyDecision.record_id, PenaltyDecision.person_id_no).where(
                PenaltyDecision.person_id_no.is_not(None)
            )
            return {r: v for r, v in conn.execute(query)}
    finally:
        engine.dispose()


def record_ids(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {r for (r,) in conn.execute(select(Record.record_id))}
    finally:
        engine.dispose()


def logged(url: str) -> tuple[int, int, int]:
    """Event-log entries, distinct positions, and duplicates absorbed."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(EventLogEntry)).scalar_one()
            positions = conn.execute(
                select(func.count()).select_from(
                    select(EventLogEntry.topic, EventLogEntry.partition, EventLogEntry.offset)
                    .distinct()
                    .subquery()
                )
            ).scalar_one()
            duplicates = conn.execute(
                select(func.count())
                .select_from(EventLogEntry)
                .where(EventLogEntry.outcome == Outcome.DUPLICATE.value)
            ).scalar_one()
        return total, positions, duplicates
    finally:
        engine.dispose()


def sync_until(settings: Settings, agency: str, want: set[str], timeout: float = 240) -> set[str]:
    """Sync `agency` until its database holds every id in `want` (the copies may still be on
    their way); return what it holds."""
    url = settings.database_url(agency)
    deadline = time.monotonic() + timeout
    while True:
        report = sync_until_idle(settings, agency)
        assert report.dead_lettered == 0, report.summary()
        held = record_ids(url)
        if want <= held or time.monotonic() > deadline:
            return held
        time.sleep(0.5)


def expected(events: list[Event], agency: str, region: str) -> set[str]:
    return {
        e["record_id"]
        for e in events
        if e["handling"] != "H3"
        and (e["owner"] == agency or agency in e["shared_with"] or e["region"] == region)
    }


# -- the tests ----------------------------------------------------------------------------


def test_only_shared_events_cross_and_the_regions_converge_through_a_link_outage_and_kills(
    regions: Deployment,
) -> None:
    lz, qj = regions.settings(LUZHOU), regions.settings(QIJIANG)
    lz_events = [luzhou_event(n) for n in range(3 * PER_PHASE)]
    qj_events = [qijiang_event(n) for n in range(3 * PER_PHASE)]
    lz_want, qj_want = (
        expected(lz_events, LZ_SAMR, "510500"),
        expected(qj_events, QJ_SAMR, "500110"),
    )
    lz_in_qj = {e["record_id"] for e in lz_events if QJ_SAMR in e["shared_with"]}
    qj_in_lz = {e["record_id"] for e in qj_events if LZ_SAMR in e["shared_with"]}

    # Phase 1, the link up.
    first = slice(0, PER_PHASE)
    publish(lz, lz_events[first])
    publish(qj, qj_events[first])

    # Phase 2, the link down (both MirrorMakers killed mid-stream) for half a minute while both
    # regions publish: each region syncs its own events meanwhile.
    regions.kill_mirror(LUZHOU)
    regions.kill_mirror(QIJIANG)
    down = time.monotonic()
    second = slice(PER_PHASE, 2 * PER_PHASE)
    publish(lz, lz_events[second])
    publish(qj, qj_events[second])
    own_lz = {e["record_id"] for e in lz_events[: 2 * PER_PHASE]} & lz_want
    own_qj = {e["record_id"] for e in qj_events[: 2 * PER_PHASE]} & qj_want
    assert own_lz <= sync_until(lz, LZ_SAMR, own_lz, timeout=60)
    assert own_qj <= sync_until(qj, QJ_SAMR, own_qj, timeout=60)
    deadline = time.monotonic() + 60
    while True:  # (a killed MirrorMaker's workers leave their group at its session timeout)
        (link,) = regions.status(QIJIANG)["links"]
        if link["state"] != "up" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert (link["source"], link["state"]) == (LUZHOU, "mirror not running"), link
    assert link["lag"] >= PER_PHASE // 3, link  # Luzhou's events of this phase, not copied
    time.sleep(max(0.0, LINK_DOWN_SECONDS - (time.monotonic() - down)))
    regions.start_mirror(LUZHOU)
    regions.start_mirror(QIJIANG)

    # Phase 3: Qijiang's MirrorMaker killed again while both publish, and restarted.
    third = slice(2 * PER_PHASE, 3 * PER_PHASE)
    publish(lz, lz_events[third][: PER_PHASE // 2])
    time.sleep(3)
    regions.kill_mirror(QIJIANG)
    publish(qj, qj_events[third])
    publish(lz, lz_events[third][PER_PHASE // 2 :])
    regions.start_mirror(QIJIANG)

    held_lz = sync_until(lz, LZ_SAMR, lz_want | qj_in_lz)
    held_qj = sync_until(qj, QJ_SAMR, qj_want | lz_in_qj)
    assert held_lz == lz_want | qj_in_lz, sorted((lz_want | qj_in_lz) ^ held_lz)[:5]
    assert held_qj == qj_want | lz_in_qj, sorted((qj_want | lz_in_qj) ^ held_qj)[:5]
    for settings, agency in ((lz, LZ_SAMR), (qj, QJ_SAMR)):
        total, positions, duplicates = logged(settings.database_url(agency))
        assert total == positions, f"{agency}: a position logged twice"
        print(f"{agency}: {total} events logged, {duplicates} duplicates absorbed")

    deadline = time.monotonic() + 60
    while True:  # the link's state, once MirrorMaker has committed what it copied
        links = regions.status(QIJIANG)["links"] + regions.status(LUZHOU)["links"]
        if all(link["state"] == "up" and link["lag"] == 0 for link in links):
            break
        assert time.monotonic() < deadline, links
        time.sleep(2)

    # The link's metrics, from each region's `mirror run`.
    for region, other in ((QIJIANG, LUZHOU), (LUZHOU, QIJIANG)):
        url = f"http://127.0.0.1:{regions.mirror_ports[region]}"
        wanted = f'casebus_link_up{{source="{other}",target="{region}"}} 1.0'
        behind = f'casebus_link_records_behind{{source="{other}",target="{region}"}} 0.0'
        deadline = time.monotonic() + 60
        while True:
            text = requests.get(url + "/metrics", timeout=5).text
            if wanted in text and behind in text:
                break
            assert time.monotonic() < deadline, [ln for ln in text.splitlines() if "link" in ln]
            time.sleep(2)
        assert requests.get(url + "/healthz", timeout=5).status_code == 200

    # The copies' event-log entries name the cluster they came from (the topic's prefix).
    engine = make_engine(qj.database_url(QJ_SAMR))
    with engine.connect() as conn:
        topics = {t for (t,) in conn.execute(select(EventLogEntry.topic).distinct())}
    engine.dispose()
    assert "luzhou.casebus.penalty" in topics and "casebus.penalty" in topics

    subs = (lz.sync.subscription(LZ_SAMR), qj.sync.subscription(QJ_SAMR))
    diff = reconcile_databases(
        lz.database_url(LZ_SAMR), qj.database_url(QJ_SAMR), subs, names=(LZ_SAMR, QJ_SAMR)
    )
    assert diff.identical and diff.compared >= len(lz_in_qj) + len(qj_in_lz), diff.lines()[:10]

    # Personal data: each SAMR reads the identity numbers of its own penalties and of those
    # the other region shared with it (config/casebus.toml [[personal.grants]]), opened.
    people = {
        e["record_id"]: e["penalty"]["person_id_no"]
        for e in lz_events + qj_events
        if e["penalty"].get("person_id_no")
    }
    for settings, agency, want in (
        (lz, LZ_SAMR, lz_want | qj_in_lz),
        (qj, QJ_SAMR, qj_want | lz_in_qj),
    ):
        stored = persons(settings.database_url(agency))
        wanted = {r: v for r, v in people.items() if r in want}
        assert stored == wanted, sorted(set(stored.items()) ^ set(wanted.items()))[:5]
    assert len([r for r in people if r in lz_in_qj]) >= PER_PHASE // 5
    # ... through the owner's region's key service: no key of an owner is in the other's.
    for region, owner, other in ((LUZHOU, LZ_SAMR, QJ_SAMR), (QIJIANG, QJ_SAMR, LZ_SAMR)):
        kek = regions.home / f"keys-{region}" / "kek"
        assert (kek / f"{owner}.key").is_file() and not (kek / f"{other}.key").exists()

    # No cluster holds an identity number in clear, mirrored copies included; and not even the
    # bytes of an event kept at home are on the other cluster.
    secrets = {v.encode() for v in people.values()}
    home_only = {
        e["penalty"]["decision_no"].encode() for e in lz_events if QJ_SAMR not in e["shared_with"]
    }
    every = secrets | home_only
    assert {m.group(1) for m in LOOKS_HIDDEN.finditer(b"|".join(every))} == every
    for settings, hidden in ((qj, every), (lz, secrets)):
        topics_there = _all_topics(settings)
        seen = 0
        admin = settings.kafka.security.admin  # the super user: every topic, DLQs too
        for record in scan(
            settings, topics_there, client_id="regions-scan", last=10**9, principal=admin
        ):
            seen += 1
            blob = b"|".join(
                [record.key or b"", record.value or b"", *(v for _, v in record.headers)]
            )
            leaked = {m.group(1) for m in LOOKS_HIDDEN.finditer(blob)} & hidden
            assert not leaked, f"{record.topic}:{record.offset} holds {leaked.pop()!r}"
        assert seen > len(lz_in_qj)
    assert any(t.startswith("luzhou.") for t in _all_topics(qj))


def _all_topics(settings: Settings) -> list[str]:
    from casebus.kafka.clients import make_admin

    admin = make_admin(
        settings, client_id="regions-test-topics", principal=settings.kafka.security.admin
    )
    try:
        return sorted(admin.list_topics())
    finally:
        admin.close()


def test_an_event_forged_in_one_region_is_refused_in_the_other(regions: Deployment) -> None:
    """Luzhou's SAMR key signing an event in Qijiang SAMR's name, marked to cross: the copy
    reaches Qijiang, whose sync refuses it for the signer."""
    lz, qj = regions.settings(LUZHOU), regions.settings(QIJIANG)
    publisher = Publisher(lz, producer_name="forger", principal=INGEST)
    forged = qijiang_event(10**6)
    forged["record_id"] = forged["penalty"]["decision_no"] = "QJ-FORGED-1"
    value = publisher.encoder._serializers[PENALTY_TOPIC](
        forged, SerializationContext(PENALTY_TOPIC)
    )
    key = event_key(forged)
    headers = [*event_headers(forged), (share_header("500110"), b"1")]
    signed = Signers(lz)(LZ_SAMR).sign(PENALTY_TOPIC, key, value, headers)
    publisher.producer.send(PENALTY_TOPIC, key=key, value=value, headers=signed).get(timeout=30)
    publisher.producer.close(timeout=5)

    dlq = qj.sync.dlq_for(QJ_SAMR)
    deadline = time.monotonic() + 120
    refused: list[str] = []
    while time.monotonic() < deadline and not refused:
        sync_until_idle(qj, QJ_SAMR)
        refused = [
            dict(r.headers).get("casebus.error.class", b"").decode()
            for r in scan(
                qj, [dlq], client_id="regions-test-dlq", last=100, principal=qj.kafka.security.admin
            )
            if dict(r.headers).get("casebus.error.topic") == b"luzhou.casebus.penalty"
        ]
        time.sleep(1)
    assert refused, "the forged copy never reached Qijiang's sync"
    assert "QJ-FORGED-1" not in record_ids(qj.database_url(QJ_SAMR))
    assert refused[-1] in {"WrongSigner", "BadSignature", "UnknownKey"}, refused


def test_the_link_refuses_registries_that_could_give_one_id_two_meanings(
    regions: Deployment, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Both registries made primaries in config, or Qijiang's pointed at a registry of its
    own (its own ids): the link refuses to start, naming the problem."""
    config = Path(regions.env["CASEBUS_CONFIG"])
    text = config.read_text("utf-8")
    other = tmp_path / "config"
    other.mkdir()
    for sibling in config.parent.iterdir():
        (other / sibling.name).write_text(sibling.read_text("utf-8"), "utf-8")
    env = {**regions.env, "CASEBUS_CONFIG": str(other / "casebus.toml")}

    def mirror(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", "--region", QIJIANG, "mirror", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    qijiang = '[regions.cluster]\nalias = "qijiang"'
    (other / "casebus.toml").write_text(
        text.replace(qijiang, qijiang + "\nprimary_registry = true"), "utf-8"
    )
    done = mirror("config")
    assert done.returncode == 2, done.stderr
    assert "exactly one region's registry must be the primary" in done.stderr

    # Qijiang's registry URL pointing at Luzhou's, the primary: one registry answering for
    # both, READWRITE where config expects a follower.
    port = regions.registries[QIJIANG].url.rsplit(":", 1)[1]
    primary = regions.registries[LUZHOU].url.rsplit(":", 1)[1]
    (other / "casebus.toml").write_text(text.replace(port, primary), "utf-8")
    done = mirror("run")
    assert done.returncode == 2, done.stdout[-1000:] + done.stderr[-1000:]
    assert "answers mode READWRITE, but config makes it a follower" in done.stderr

    # A registry of another deployment: it does not know the mirror principal.
    own = start_registry(kafka_bootstrap, unique_schemas_topic(), tmp_path)
    try:
        (other / "casebus.toml").write_text(text.replace(port, own.url.rsplit(":", 1)[1]), "utf-8")
        done = mirror("run")
    finally:
        own.stop()
    assert done.returncode == 2, done.stdout[-1000:] + done.stderr[-1000:]
    assert "refuses the mirror principal (401): it is not this deployment's registry" in done.stderr
