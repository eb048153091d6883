"""Agency systems besides market supervision: cyberspace, police and commerce."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from services.sandbox.data.clock import day, iso, later_tick, stamp
from services.sandbox.data.names import company, informant, person, product, resident_id
from services.sandbox.data.samr import ABBR, evidence
from services.sandbox.data.store import History


def cyberspace(rng: random.Random, size: int) -> list[History]:
    """Leads from online-content monitoring (live streams), some moved to market supervision."""
    out = []
    for i in range(size):
        n = 40 + i
        seller = company(rng, "510500")
        title, _, _ = product(rng)
        found = stamp(day(rng), rng)
        record_id = f"泸网信线〔2024〕{n}号"
        body = {
            "clue_id": record_id,
            "ver": 1,
            "case_ref": f"CASE-510500-2024-C{n:03d}",
            "modified": iso(found),
            "channel": rng.choice(("抖音", "快手", "淘宝直播")),
            "live_room": f"直播间{rng.randint(10**7, 10**8 - 1)}",
            "anchor": person(rng),
            "seller": seller["name"],
            "seller_code": seller["uscc"],
            "shop": seller["shop"],
            "content": (
                f"主播在直播中宣称“{title}”为“厂家直供、假一赔十”，涉嫌虚假宣传及销售假冒商品。"
            ),
            "goods": [
                {"title": title, "link": f"https://live.example.cn/goods/{n}{k}"}
                for k in range(rng.randint(1, 2))
            ],
            "screenshots": evidence(rng, record_id, found),
            "state": "登记",
            "transfer": None,
        }
        _people(body, record_id)
        history = History(record_id, "lead")
        history.add(0, body)
        if rng.random() < 0.5:
            t = later_tick(rng)
            history.add(
                t,
                {
                    **body,
                    "ver": 2,
                    "state": "移送",
                    "modified": iso(found + timedelta(days=3)),
                    "transfer": {
                        "doc_no": f"泸网信移〔2024〕{n}号",
                        "to": "510500-SAMR",
                        "at": iso(found + timedelta(days=3)),
                    },
                },
            )
        out.append(history)
    return out


# Live-stream sellers are often individuals (an identity number, no credit code); most
# leads from the reporting channel (举报) carry the informant.
INDIVIDUAL_SELLER_SHARE = 0.4
REPORTED_SHARE = 0.7


def _people(body: dict[str, Any], record_id: str) -> None:
    """Drawn from the record's own id, so the other sandbox data stay as they were."""
    pick = random.Random(f"people:{record_id}")
    if pick.random() < INDIVIDUAL_SELLER_SHARE:
        body.update(seller=person(pick), seller_code=None, seller_id=resident_id(pick, "510500"))
    if pick.random() < REPORTED_SHARE:
        body["reporter"] = informant(pick, "510500")


def police(rng: random.Random, region: str, size: int) -> list[History]:
    """Receipts of judicial transfers and the filing decision (立案 / 不予立案)."""
    abbr = ABBR[region]
    out = []
    for i in range(size):
        n = 300 + i
        received = stamp(day(rng), rng)
        record_id = f"{abbr}公受〔2024〕{n}号"
        body = {
            "receipt_no": record_id,
            "version": 1,
            "case_no": f"CASE-{region}-2024-{n:04d}",
            "updated_at": iso(received),
            "transfer_doc_no": f"{abbr}市监移〔2024〕{n}号",
            "from_agency": f"{region}-SAMR",
            "suspect": company(rng, region)["name"],
            "received_at": iso(received),
            "decision": None,
            "reason": None,
            "decided_at": None,
        }
        history = History(record_id, "receipt")
        history.add(0, body)
        t = later_tick(rng)
        filed = rng.random() < 0.7
        history.add(
            t,
            {
                **body,
                "version": 2,
                "decision": "立案" if filed else "不予立案",
                "reason": None if filed else "经审查，没有犯罪事实，不予立案",
                "decided_at": iso(received + timedelta(days=2)),
                "updated_at": iso(received + timedelta(days=2)),
            },
        )
        out.append(history)
    return out


def commerce(rng: random.Random, size: int, authority: dict[str, str]) -> list[History]:
    """Penalties on e-commerce operators, in the commerce bureau's own shape (万元)."""
    out = []
    for i in range(size):
        n = 10 + i
        party = company(rng, "510500")
        decided = day(rng)
        record_id = f"泸商务罚〔2024〕{n}号"
        fine = rng.choice(("0.500000", "1.000000", "2.000000"))
        body = {
            "punishNo": record_id,
            "rev": 1,
            "caseCode": f"CASE-510500-2024-M{n:03d}",
            "modifiedTime": iso(stamp(decided, rng)),
            "partyName": party["name"],
            "partyType": party["category"],
            "creditCode": party["uscc"],
            "legalPerson": party["legal_rep"],
            "illegalAct": "电子商务经营者未履行平台内经营者身份核验义务",
            "illegalFacts": (
                f"{party['name']}运营的“{party['shop']}”未按规定核验平台内经营者身份信息。"
            ),
            "basis": "《中华人民共和国电子商务法》第二十七条、第八十条",
            "punishTypes": ["警告", "罚款"],
            "fineWanYuan": fine,
            "punishDate": decided.isoformat(),
            "validUntil": (decided + timedelta(days=180)).isoformat(),
            "org": authority["name"],
            "orgCode": authority["uscc"],
            "state": "有效",
            "revokeReason": None,
        }
        history = History(record_id, "penalty")
        history.add(0, body)
        out.append(history)
    return out
