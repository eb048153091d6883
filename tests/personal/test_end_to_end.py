"""Personal data from the sandbox through the connectors, the topics, the agencies' syncs,
the partner feeds, a fresh rebuild and an erasure, on the real broker.

The sandbox publishes hundreds of identity numbers, phone numbers and informants' names:
no topic holds one in clear; the agencies config allows see them opened in their
databases, the others sealed; an erasure turns them into the marker everywhere, replay and
rebuild included, with `audit verify` still passing and everyone else's data as it was.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, select

from agencydb.engine import make_engine
from agencydb.models import Lead, PenaltyDecision
from casebus.config import Settings
from casebus.personal import envelope, idcard, publicity
from casebus.personal.erasure import erase
from cli.case import show_public
from connectors.runner import run_connectors_once
from services.audit.verify import verify
from services.feeds.service import run_feeds
from services.replay.service import ReplayRequest, replay
from services.sandbox.data.world import SYSTEMS
from services.sync.service import sync_until_idle
from tests.feeds.helpers import feed_settings
from tests.fixtures.kafka import TopicFactory
from tests.fixtures.sandbox import (
    SandboxFactory,
    advance,
    read_rejects,
    read_topic,
    sandboxed,
    truth,
)
from tests.sync.helpers import SyncTopics, sync_settings

OWNER = "510500-SAMR"  # opens its own, and the cyberspace leads shared with it
SHARED_WITH = "500110-SAMR"  # opens Luzhou's penalties: they are shared with its region
NEVER = "510500-COM"  # granted nothing: sees every personal value sealed
AGENCIES = (OWNER, SHARED_WITH, NEVER)


def _people(handle: Any) -> dict[str, Any]:
    """The sandbox's personal values, and the names anyone may see (to tell apart)."""
    out: dict[str, Any] = {"ids": set(), "phones": set(), "informants": set(), "public": set()}
    out["persons"] = {}  # penalty record id -> identity number (valid ones)
    out["informant_of"] = {}  # cyberspace lead id -> informant
    for system in ("samr-luzhou", "samr-qijiang", "cac-luzhou"):
        for r in truth(handle, system):
            body = r["body"]
            for key in ("person_id_no", "legal_rep_id_no", "seller_id"):
                if body.get(key):
                    out["ids"].add(body[key])
            if body.get("person_id_no") and r["defect"] is None and system == "samr-luzhou":
                out["persons"][r["id"]] = body["person_id_no"]
                out.setdefault("case_of", {})[r["id"]] = body["case_no"]
            who = body.get("informant") or body.get("reporter")
            if who:
                out["phones"].add(who["phone"])
                out["informants"].add(who["name"])
                if who.get("id_no"):
                    out["ids"].add(who["id_no"])
                if system == "cac-luzhou" and r["defect"] is None:
                    out["informant_of"].setdefault(r["id"], []).append(who)
    # One record each (the cross-region case's lead shares its number with a generated one).
    ids = Counter(r["id"] for r in truth(handle, "cac-luzhou"))
    out["informant_of"] = {k: v[0] for k, v in out["informant_of"].items() if ids[k] == 1}
    for system in SYSTEMS:  # every text of every record but the informants
        for r in truth(handle, system):
            out["public"].update(_texts({k: v for k, v in r["body"].items() if k not in HIDDEN}))
    return out


HIDDEN = frozenset({"informant", "reporter"})


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [value] if isinstance(value, str) else []


def _scan(settings: Settings, topics: list[str], secrets: set[str]) -> tuple[int, list[str]]:
    """Records read and every secret found in clear in their keys, values or headers."""
    wanted = [(s, s.encode()) for s in secrets]
    found, count = [], 0
    for topic in topics:
        for record in read_topic(settings, topic):
            count += 1
            raw = b"|".join(
                [record.key or b"", record.value or b""]
                + [k.encode() + v for k, v in record.headers or ()]
            )
            found += [f"{topic}: {s}" for s, b in wanted if b in raw]
    return count, found


def _personal(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    engine: Engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = select(PenaltyDecision.record_id, PenaltyDecision.person_id_no)
            persons = {r: v for r, v in conn.execute(query)}
            informants = {r: v for r, v in conn.execute(select(Lead.record_id, Lead.informant))}
    finally:
        engine.dispose()
    return persons, informants


def test_personal_data_sealed_opened_where_allowed_and_erased(
    connector_settings: Settings,
    sandbox_factory: SandboxFactory,
    topic_factory: TopicFactory,
    registry_url: str,
    tmp_path: Path,
) -> None:
    handle = sandbox_factory(connector_settings, records_per_system=150)
    advance(handle, 3)
    settings = sandboxed(connector_settings, handle)
    topics = settings.connectors[0].topics
    people = _people(handle)
    # An informant's name is looked for unless it is in some public text (a party, a legal
    # representative, a streamer, a longer name holding it).
    public = "|".join(people["public"])
    names = {n for n in people["informants"] if n not in public}
    secrets = people["ids"] | people["phones"] | names
    assert len(names) > 20
    assert len(people["ids"]) + len(people["phones"]) >= 200, "the sandbox publishes hundreds"

    reports = run_connectors_once(settings)
    assert all(r.error is None for r in reports.values()), reports
    rejects = read_rejects(settings, topics["casebus.rejects"])
    bad_ids = [
        v
        for r in rejects
        for v in r["violations"]
        if v["field"] == "penalty.person_id_no" and v["rule"] == "id_no.check_digit"
    ]
    assert bad_ids and all("*" in v["value"] for v in bad_ids)  # quarantined, named, masked

    shared = {t: topics[t] for t in ("casebus.penalty", "casebus.lead", "casebus.action")}
    sync = SyncTopics(shared, topic_factory("dlq"), topic_factory("audit"))
    dbs = {a: f"sqlite:///{tmp_path / (a + '.sqlite')}" for a in AGENCIES}

    # Rebuilds publish their chain heads apart from the live databases' (audit verify reads
    # the live ones).
    rebuilds = SyncTopics(shared, sync.dlq, topic_factory("audit"))

    def synced(agency: str, url: str | None = None) -> Settings:
        topics = sync if url is None else rebuilds
        return sync_settings(
            settings, registry_url=registry_url, db_url=url or dbs[agency], topics=topics
        )

    for agency in AGENCIES:
        assert sync_until_idle(synced(agency), agency).dead_lettered == 0
    feeds = feed_settings(settings, source_topic=topics["casebus.lead"], registry_url=registry_url)
    run_feeds(feeds, until_idle=True)
    feed_topics = [f"{feeds.feeds.topic_prefix}{p}.leads" for p in ("alibaba", "jd", "douyin")]

    every = [*topics.values(), sync.dlq, sync.audit, rebuilds.audit, *feed_topics]
    every.append(feeds.feeds.dlq_topic)
    read, in_clear = _scan(settings, every, secrets)
    assert read > 500 and in_clear == []

    # Opened where allowed, sealed elsewhere.
    persons = {a: _personal(dbs[a])[0] for a in AGENCIES}
    for record_id, number in people["persons"].items():
        assert persons[OWNER][record_id] == number
        assert persons[SHARED_WITH][record_id] == number
        assert envelope.is_sealed(persons[NEVER][record_id])
    informants = _personal(dbs[OWNER])[1]
    for record_id, who in people["informant_of"].items():
        assert informants[record_id]["phone"] == who["phone"], record_id
    assert all(
        i is None or envelope.is_sealed(i["phone"]) for i in _personal(dbs[NEVER])[1].values()
    )

    # The public view: the name, the identity number masked where it can be read at all.
    shown_record, shown_id = sorted(people["persons"].items())[-1]
    case = people["case_of"][shown_record]
    quiet = Console(file=io.StringIO())
    for agency, expected in ((OWNER, idcard.mask_id(shown_id)), (NEVER, publicity.SEALED)):
        found = show_public(synced(agency), agency, case, as_json=True, console=quiet)
        (penalty,) = [p for p in found if p["decision_no"] == shown_record]
        assert penalty["person_id_no"] == expected and penalty["party_name"]
        assert not {"legal_rep_id_no", "remarks", "personal_keys"} & set(penalty)

    # A fresh rebuild holds what the live sync holds.
    rebuilt = f"sqlite:///{tmp_path / 'rebuilt.sqlite'}"
    replay(synced(OWNER, rebuilt), ReplayRequest(OWNER, fresh=True))
    assert _personal(rebuilt) == _personal(dbs[OWNER])

    # Erase one natural person and one informant (by phone).
    gone_record, gone_id = sorted(people["persons"].items())[0]
    informant_record, informant = sorted(people["informant_of"].items())[0]
    erase(settings, gone_id, by="测试员", agency=OWNER, reason="当事人申请删除")
    erase(settings, informant["phone"], by="测试员", agency=OWNER, reason="举报人申请删除")
    for agency in AGENCIES:  # carried out when each sync opens its database
        sync_until_idle(synced(agency), agency)
    again = f"sqlite:///{tmp_path / 'again.sqlite'}"
    replay(synced(OWNER, again), ReplayRequest(OWNER, fresh=True))
    for url in (dbs[OWNER], again):
        persons_now, informants_now = _personal(url)
        assert persons_now[gone_record] == envelope.ERASED
        assert informants_now[informant_record]["name"] == envelope.ERASED
        assert informants_now[informant_record]["confidential"] == informant["confidential"]
        for record_id, number in people["persons"].items():  # everyone else as they were
            if record_id != gone_record and number != gone_id:
                assert persons_now[record_id] == number
    for agency in AGENCIES:
        assert _personal(dbs[agency])[0][gone_record] == envelope.ERASED
        files = Path(dbs[agency].removeprefix("sqlite:///")).parent.glob(f"{agency}.sqlite*")
        assert not any(gone_id.encode() in f.read_bytes() for f in files), agency
        engine = make_engine(dbs[agency])
        try:
            report = verify(synced(agency), agency, engine)
        finally:
            engine.dispose()
        assert report.ok, report.problems
