"""The benchmarks' workload, events built from the contract samples: the mixed stream of
penalties, leads and actions with new revisions, duplicates and stale re-deliveries, or new
penalty records only. No side effects on import, so tests use it too.

`personal=True` adds personal data at the sandbox's rates (services/sandbox/data/samr.py):
one penalty in five against a natural person (a resident identity number passing GB 11643),
and four leads in five a 12315 complaint to the Luzhou market supervision with the
informant (name and phone always, mostly an identity number and an address). Without it the
events are as they always were, so earlier figures stay comparable."""

from __future__ import annotations

import random
from typing import Any

from casebus.contracts.samples import (
    sample_action_event,
    sample_lead_event,
    sample_penalty_event,
)
from casebus.events import Event, EventType, stable_event_id
from services.sandbox.data.names import informant, person, resident_id

NATURAL_PERSON_EVERY = 5  # one penalty in five
INFORMANT_SHARE = 0.8  # of leads: 12315 complaints with the informant


def _with_identity(event: Event, record_id: str, revision: int, case: int) -> Event:
    event["record_id"], event["revision"] = record_id, revision
    event["case_id"] = f"CASE-510500-2025-{case:05d}"
    event["event_id"] = stable_event_id(event["owner"], record_id, revision, event["event_type"])
    return event


def natural_person(penalty: dict[str, Any], n: int, region: str = "510500") -> None:
    """Make the party of `penalty` the n-th natural person of `region` (the same each run)."""
    pick = random.Random(f"party:{region}:{n}" if region != "510500" else f"party:{n}")
    penalty.update(
        party_name=person(pick),
        party_category="NATURAL_PERSON",
        party_uscc=None,
        legal_rep_name=None,
        person_id_type="身份证",
        person_id_no=resident_id(pick, region),
    )


def _complaint(event: Event, n: int) -> None:
    """The lead as a 12315 complaint the Luzhou market supervision received, informant given."""
    pick = random.Random(f"informant:{n}")
    if pick.random() >= INFORMANT_SHARE:
        return
    event["owner"], event["producer"] = "510500-SAMR", "connector.samr-luzhou"
    event["lead"].update(source="COMPLAINT", platform=None, informant=informant(pick, "510500"))


def make_event(kind: int, n: int, revision: int, *, personal: bool = False) -> Event:
    case = n // 3
    if kind == 0:
        event = sample_penalty_event(revision)
        event["penalty"]["decision_no"] = f"泸市监处罚〔2025〕{n}号"
        if personal and n % NATURAL_PERSON_EVERY == 0:
            natural_person(event["penalty"], n)
        if revision > 1:
            event["event_type"] = EventType.PENALTY_AMENDED.value
            event["penalty"]["remarks"] = f"第{revision}次变更"
        return _with_identity(event, event["penalty"]["decision_no"], revision, case)
    if kind == 1:
        event = sample_lead_event()
        lead = event["lead"]
        lead["lead_no"] = f"JD-2025-{n:06d}"
        lead["items"] = [
            {
                **lead["items"][0],
                "listing_id": f"{n}{i}",
                "listing_url": f"https://item.jd.com/{n}{i}.html",
            }
            for i in range(1 + n % 4)
        ]
        if personal:
            _complaint(event, n)
        if revision > 1:
            event["event_type"] = EventType.LEAD_STATUS_CHANGED.value
            lead["status"] = "ASSIGNED"
        return _with_identity(event, lead["lead_no"], revision, case)
    event = sample_action_event(EventType.ACTION_RECORDED)
    if revision > 1:
        event["event_type"] = EventType.ACTION_UPDATED.value
    return _with_identity(event, f"YS-2025-{n:06d}", revision, case)


def event_stream(count: int, seed: int = 2025) -> list[tuple[int, int, int]]:
    """(kind, record number, revision) per event: 55% new revisions, the rest re-deliveries."""
    rng = random.Random(seed)
    records = max(count // 3, 1)
    latest: dict[int, int] = {}
    out = []
    for _ in range(count):
        n = rng.randrange(records)
        current = latest.get(n, 0)
        roll = rng.random()
        if current == 0 or roll < 0.55:
            revision = latest[n] = current + 1
        elif roll < 0.85:
            revision = current  # duplicate
        else:
            revision = rng.randint(1, current)  # stale
        out.append((n % 3, n, revision))
    return out


def new_penalties(count: int) -> list[tuple[int, int, int]]:
    """`count` new penalty records, revision 1 each: the events the sync and the bare
    pipeline both process, one for one."""
    return [(0, n, 1) for n in range(count)]
