"""Market supervision case system: penalties, leads, transfers, enforcement actions."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from services.sandbox.data.clock import day, iso, later_tick, stamp
from services.sandbox.data.names import (
    company,
    informant,
    person,
    product,
    resident_id,
    sha256_of,
)
from services.sandbox.data.store import History

ABBR = {"510500": "泸", "500110": "綦"}
PENALTY_KINDS = ("警告", "罚款", "没收违法所得", "没收非法财物", "通报批评")
VIOLATIONS = (
    (
        "销售侵犯注册商标专用权的商品",
        "《中华人民共和国商标法》第五十七条第（三）项、第六十条第二款",
    ),
    ("网络直播营销虚假宣传", "《中华人民共和国反不正当竞争法》第八条第一款、第二十条"),
    ("销售不符合食品安全标准的食品", "《中华人民共和国食品安全法》第三十四条、第一百二十四条"),
    ("未按规定公示营业执照信息", "《中华人民共和国电子商务法》第十五条、第七十六条"),
)


def evidence(rng: random.Random, key: str, when: Any, n: int = 2) -> list[dict[str, str]]:
    return [
        {
            "url": f"https://evidence.sandbox.casebus.cn/{key}/{i + 1}.png",
            "sha256": sha256_of(key, i),
            "captured_at": iso(when),
        }
        for i in range(n)
    ]


def penalty(rng: random.Random, region: str, n: int, authority: dict[str, str]) -> History:
    abbr = ABBR[region]
    party = company(rng, region)
    vtype, basis = rng.choice(VIOLATIONS)
    decided = day(rng)
    kinds = ["警告", "罚款"] + (["没收违法所得"] if rng.random() < 0.4 else [])
    fine = rng.choice((2000, 5000, 10000, 30000, 50000, 100000))
    record_id = f"{abbr}市监处罚〔2024〕{n}号"
    body = {
        "kind": "penalty",
        "id": record_id,
        "version": 1,
        "case_no": f"CASE-{region}-2024-{n:04d}",
        "updated_at": iso(stamp(decided, rng)),
        "status": "有效",
        "decision_no": record_id,
        "party_name": party["name"],
        "party_category": party["category"],
        "party_uscc": party["uscc"],
        "legal_rep": party["legal_rep"],
        "violation_type": vtype,
        "violation_facts": f"经查，当事人{party['name']}于2024年通过网店{vtype}，违法经营额"
        f"{fine * 0.7:.0f}元。",
        "legal_basis": basis,
        "penalty_kinds": kinds,
        "fine_yuan": f"{fine}.00",
        "confiscated_yuan": f"{fine * 0.07:.2f}" if "没收违法所得" in kinds else None,
        "decision_date": decided.isoformat(),
        "effective_until": (decided + timedelta(days=365)).isoformat(),
        "authority": authority["name"],
        "authority_uscc": authority["uscc"],
        "remarks": None,
        "revoke_reason": None,
        "shared_with": ["500110" if region == "510500" else "510500"],
    }
    invalid_id = _natural_person(body, region)
    history = History(record_id, "penalty")
    history.add(0, body)
    if invalid_id:
        history.defect = "bad_id_check_digit"
    if rng.random() < 0.3:  # amended after review
        t = later_tick(rng)
        history.add(
            t,
            {
                **body,
                "version": 2,
                "status": "已变更",
                "fine_yuan": f"{fine // 2}.00",
                "remarks": "经复核，依法变更罚款金额",
                "updated_at": iso(stamp(day(rng, t), rng)),
            },
        )
    if rng.random() < 0.1:  # revoked: a new revision, never a delete
        last = history.versions[-1]
        t = max(last.tick + 1, 2)
        history.add(
            t,
            {
                **last.body,
                "version": last.body["version"] + 1,
                "status": "已撤销",
                "revoke_reason": "经行政复议决定撤销原行政处罚决定",
                "updated_at": iso(stamp(day(rng, t), rng)),
            },
        )
    return history


# About one penalty in five is against a natural person; of those, about one in seven carries an
# identity number with a wrong check character (quarantined by the connector, rule named).
NATURAL_PERSON_SHARE = 0.2
INVALID_ID_SHARE = 0.15
# Complaints (投诉, 12315) and reports (举报) mostly come with the informant's details.
INFORMANT_SHARE = 0.85


def _natural_person(body: dict[str, Any], region: str) -> bool:
    """Make the party a natural person (or give an individual business's operator an
    identity number); drawn from the record's own id, so the other sandbox data stay as
    they were. Whether the identity number is invalid."""
    pick = random.Random(f"party:{body['id']}")
    if pick.random() < NATURAL_PERSON_SHARE:
        invalid = pick.random() < INVALID_ID_SHARE
        name = person(pick)
        body["violation_facts"] = body["violation_facts"].replace(body["party_name"], name)
        body.update(
            party_name=name,
            party_category="自然人",
            party_uscc=None,
            legal_rep=None,
            person_id_type="身份证",
            person_id_no=resident_id(pick, region, valid=not invalid),
        )
        return invalid
    if body["party_category"] == "个体工商户":  # the operator is the legal representative
        body.update(legal_rep_id_type="身份证", legal_rep_id_no=resident_id(pick, region))
    return False


LEAD_FLOW = ("登记", "核查", "立案")


def lead(rng: random.Random, region: str, n: int, owner: str) -> History:
    seller = company(rng, region)
    title, infringement, cert = product(rng)
    reported = day(rng)
    record_id = f"XS-{region}-2024-{n:04d}"
    shop_id = str(rng.randint(100000, 999999))
    body = {
        "kind": "lead",
        "id": record_id,
        "version": 1,
        "case_no": f"CASE-{region}-2024-{n:04d}",
        "updated_at": iso(stamp(reported, rng)),
        "source": rng.choice(("投诉", "举报", "监督检查", "大数据监测")),
        "platform": None,
        "seller_name": seller["name"],
        "seller_uscc": seller["uscc"],
        "shop_name": seller["shop"],
        "shop_url": f"https://shop{shop_id}.example-mall.cn",
        "items": [
            {
                "url": f"https://item.example-mall.cn/{shop_id}{i}.html",
                "id": f"{shop_id}{i}",
                "title": title,
            }
            for i in range(rng.randint(1, 3))
        ],
        "infringement": infringement,
        "right_certificate": cert or None,
        "description": f"群众反映该店铺销售的“{title}”疑似{infringement}侵权，价格明显低于市场价。",
        "evidence": evidence(rng, record_id, stamp(reported, rng)),
        "status": "登记",
        "jurisdiction": owner,
        "regions": [region],
    }
    withdraw = _on_platform(body, shop_id)
    pick = random.Random(f"informant:{record_id}")
    if body["source"] in ("投诉", "举报") and pick.random() < INFORMANT_SHARE:
        body["informant"] = informant(pick, region)
    history = History(record_id, "lead")
    history.add(0, body)
    for t, status in enumerate(LEAD_FLOW[1 : rng.randint(1, 3)], start=1):
        history.add(
            t,
            {
                **history.versions[-1].body,
                "version": t + 1,
                "status": status,
                "updated_at": iso(stamp(day(rng, t), rng)),
            },
        )
    if withdraw:  # sharing withdrawn (the platform's feed retracts the lead)
        last = history.versions[-1]
        history.add(
            last.tick + 1,
            {
                **last.body,
                "version": last.body["version"] + 1,
                "disclosure": None,
                "updated_at": iso(stamp(day(rng, last.tick + 1), rng)),
            },
        )
    return history


# Platform label, shop host, listing host.
PLATFORM_SITES = (
    ("京东", "mall.jd.com", "item.jd.com"),
    ("淘宝", "shop.taobao.com", "item.taobao.com"),
    ("天猫", "shop.tmall.com", "detail.tmall.com"),
    ("抖音", "haohuo.jinritemai.com", "haohuo.jinritemai.com"),
)


def _on_platform(body: dict[str, Any], shop_id: str) -> bool:
    """Place about half the leads on a partner platform, and say whom the case officer
    shares each with (`disclosure`: 平台 the platform concerned, 公开 public, none: nobody
    outside). Drawn from the lead's own id, so the other sandbox data stay as they were.
    Returns whether a later revision withdraws the sharing."""
    pick = random.Random(body["id"])
    if pick.random() < 0.5:
        return False
    label, shop_host, item_host = pick.choice(PLATFORM_SITES)
    body["platform"] = label
    body["shop_url"] = f"https://{shop_host}/{shop_id}"
    for item in body["items"]:
        item["url"] = f"https://{item_host}/{item['id']}.html"
    body["disclosure"] = pick.choice(("平台", "平台", "公开", None))
    return body["disclosure"] == "平台" and pick.random() < 0.4


def transfer(rng: random.Random, region: str, n: int, owner: str) -> History:
    abbr = ABBR[region]
    record_id = f"{abbr}市监移〔2024〕{n}号"
    approved = stamp(day(rng), rng)
    body = {
        "kind": "transfer",
        "id": record_id,
        "version": 1,
        "case_no": f"CASE-{region}-2024-{n:04d}",
        "updated_at": iso(approved),
        "transfer_kind": "移送司法",
        "from": owner,
        "to": f"{region}-PSB",
        "related": [f"{owner}:{abbr}市监处罚〔2024〕{n}号"],
        "materials": [
            {"kind": "移送书", "title": "涉嫌犯罪案件移送书", "url": None, "sha256": None},
            {
                "kind": "调查报告",
                "title": "案件调查终结报告",
                "url": f"https://docs.sandbox.casebus.cn/{n}/report.pdf",
                "sha256": sha256_of(record_id, "report"),
            },
        ],
        "approved_at": iso(approved),
        "sent_at": None,
    }
    history = History(record_id, "transfer")
    history.add(0, body)
    history.add(
        1,
        {
            **body,
            "version": 2,
            "sent_at": iso(approved + timedelta(hours=20)),
            "updated_at": iso(approved + timedelta(hours=20)),
        },
    )
    return history


def action(rng: random.Random, region: str, n: int, owner: str) -> History:
    party = company(rng, region)
    when = day(rng)
    kind = rng.choice(("约谈", "行政提示", "建议"))
    record_id = f"RX-{region}-2024-{n:04d}"
    body = {
        "kind": "action",
        "id": record_id,
        "version": 1,
        "case_no": f"CASE-{region}-2024-{n:04d}",
        "updated_at": iso(stamp(when, rng)),
        "action_kind": kind,
        "party_name": party["name"],
        "party_uscc": party["uscc"],
        "action_date": when.isoformat(),
        "content": f"对{party['name']}开展{kind}，责令其规范网络经营行为并于7日内提交整改报告。",
    }
    history = History(record_id, "action")
    history.add(0, body)
    return history


def samr(rng: random.Random, region: str, size: int, authority: dict[str, str]) -> list[History]:
    owner = f"{region}-SAMR"
    makers = (penalty, penalty, penalty, lead, lead, transfer, action)
    out = []
    for i in range(size):
        make = makers[i % len(makers)]
        extra = authority if make is penalty else owner
        out.append(make(rng, region, 200 + i, extra))  # type: ignore[arg-type]
    return out
