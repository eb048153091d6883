"""The cross-region case of the Luzhou–Qijiang one-to-one cooperation, in every system.

A Luzhou cyberspace office spots a live stream selling fake 泸州老窖 (lead, moved to Luzhou
market supervision); Luzhou SAMR finds the seller is in Qijiang and transfers the lead to
Qijiang SAMR and links the two cases; Qijiang SAMR issues a penalty and transfers the case
to Qijiang police, who decide to file it (立案).
"""

from __future__ import annotations

from services.sandbox.data.store import History

LUZHOU_CASE = "CASE-510500-2024-0153"
QIJIANG_CASE = "CASE-500110-2024-0153"
SELLER = {"name": "重庆市綦江区鑫源酒业有限公司", "uscc": "91500110MA5U7XKE8C", "rep": "罗某"}
EVIDENCE = [
    {
        "url": "https://evidence.sandbox.casebus.cn/153/live.mp4",
        "sha256": "5e0c3b7f0e7a4d2c9b8a1f6e3d2c1b0a99887766554433221100ffeeddccbbaa",
        "captured_at": "2024-09-02 20:15:00",
    }
]


def cyberspace() -> History:
    base = {
        "clue_id": "泸网信线〔2024〕153号",
        "ver": 1,
        "case_ref": LUZHOU_CASE,
        "modified": "2024-09-02 21:00:00",
        "channel": "抖音",
        "live_room": "直播间66120153",
        "anchor": "罗某",
        "seller": SELLER["name"],
        "seller_code": SELLER["uscc"],
        "shop": "鑫源酒业直销店",
        "content": (
            "主播在直播中以“厂家直供”名义低价销售“泸州老窖 特曲 52度 500ml”，"
            "涉嫌销售假冒注册商标商品。"
        ),
        "goods": [
            {"title": "泸州老窖 特曲 52度 500ml", "link": "https://live.example.cn/goods/1531"}
        ],
        "screenshots": EVIDENCE,
        "state": "登记",
        "transfer": None,
    }
    h = History(str(base["clue_id"]), "lead")
    h.add(0, base)
    h.add(
        1,
        {
            **base,
            "ver": 2,
            "state": "移送",
            "modified": "2024-09-04 10:00:00",
            "transfer": {
                "doc_no": "泸网信移〔2024〕153号",
                "to": "510500-SAMR",
                "at": "2024-09-04 10:00:00",
            },
        },
    )
    return h


def samr_luzhou() -> list[History]:
    lead = {
        "kind": "lead",
        "id": "XS-510500-2024-0153",
        "version": 1,
        "case_no": LUZHOU_CASE,
        "updated_at": "2024-09-04 15:00:00",
        "source": "其他部门移送",
        "platform": "抖音",
        "seller_name": SELLER["name"],
        "seller_uscc": SELLER["uscc"],
        "shop_name": "鑫源酒业直销店",
        "shop_url": "https://haohuo.jinritemai.com/views/shop/index?id=66120153",
        "items": [
            {
                "url": "https://live.example.cn/goods/1531",
                "id": "1531",
                "title": "泸州老窖 特曲 52度 500ml",
            }
        ],
        "infringement": "商标",
        "right_certificate": "第1386498号商标注册证",
        "description": (
            "市委网信办移送：直播间销售疑似假冒“泸州老窖”白酒，经营者住所地在重庆市綦江区。"
        ),
        "evidence": EVIDENCE,
        "status": "核查",
        "jurisdiction": "510500-SAMR",
        "regions": ["510500", "500110"],
    }
    lead_h = History(str(lead["id"]), "lead")
    lead_h.add(1, lead)
    lead_h.add(2, {**lead, "version": 2, "status": "移送", "updated_at": "2024-09-06 09:30:00"})
    transfer = {
        "kind": "transfer",
        "id": "泸市监移〔2024〕153号",
        "version": 1,
        "case_no": LUZHOU_CASE,
        "updated_at": "2024-09-06 09:30:00",
        "transfer_kind": "部门间移送",
        "from": "510500-SAMR",
        "to": "500110-SAMR",
        "related": ["510500-SAMR:XS-510500-2024-0153"],
        "materials": [{"kind": "移送书", "title": "案件移送函", "url": None, "sha256": None}],
        "approved_at": "2024-09-06 09:00:00",
        "sent_at": "2024-09-06 09:30:00",
    }
    transfer_h = History(str(transfer["id"]), "transfer")
    transfer_h.add(2, transfer)
    link = {
        "kind": "case_link",
        "id": "GL-510500-2024-0153",
        "version": 1,
        "case_no": LUZHOU_CASE,
        "updated_at": "2024-09-06 09:40:00",
        "linked_cases": [LUZHOU_CASE, QIJIANG_CASE],
        "agreement": "川渝（泸綦）市场监管一对一协作协议",
        "reason": "同一经营者通过直播在泸州销售、住所地在綦江，两地协同办理",
    }
    link_h = History(str(link["id"]), "case_link")
    link_h.add(2, link)
    return [lead_h, transfer_h, link_h]


def samr_qijiang(authority: dict[str, str]) -> list[History]:
    penalty = {
        "kind": "penalty",
        "id": "綦市监处罚〔2024〕153号",
        "version": 1,
        "case_no": QIJIANG_CASE,
        "updated_at": "2024-09-20 16:00:00",
        "status": "有效",
        "decision_no": "綦市监处罚〔2024〕153号",
        "party_name": SELLER["name"],
        "party_category": "法人及非法人组织",
        "party_uscc": SELLER["uscc"],
        "legal_rep": SELLER["rep"],
        "violation_type": "销售侵犯注册商标专用权的商品",
        "violation_facts": (
            "当事人通过抖音直播销售假冒“泸州老窖”注册商标的白酒共计210瓶，违法经营额6.3万元。"
        ),
        "legal_basis": "《中华人民共和国商标法》第五十七条第（三）项、第六十条第二款",
        "penalty_kinds": ["警告", "没收非法财物", "罚款"],
        "fine_yuan": "189000.00",
        "confiscated_yuan": None,
        "decision_date": "2024-09-20",
        "effective_until": "2025-09-20",
        "authority": authority["name"],
        "authority_uscc": authority["uscc"],
        "remarks": "川渝（泸綦）一对一协作案件，线索由泸州市市场监督管理局移送",
        "revoke_reason": None,
        "shared_with": ["510500", "500110-PSB"],
    }
    penalty_h = History(str(penalty["id"]), "penalty")
    penalty_h.add(2, penalty)
    judicial = {
        "kind": "transfer",
        "id": "綦市监移〔2024〕21号",
        "version": 1,
        "case_no": QIJIANG_CASE,
        "updated_at": "2024-09-21 10:00:00",
        "transfer_kind": "移送司法",
        "from": "500110-SAMR",
        "to": "500110-PSB",
        "related": ["500110-SAMR:綦市监处罚〔2024〕153号"],
        "materials": [
            {"kind": "移送书", "title": "涉嫌犯罪案件移送书", "url": None, "sha256": None},
            {"kind": "涉案物品清单", "title": "涉案白酒清单（210瓶）", "url": None, "sha256": None},
        ],
        "approved_at": "2024-09-21 09:00:00",
        "sent_at": "2024-09-21 10:00:00",
    }
    judicial_h = History(str(judicial["id"]), "transfer")
    judicial_h.add(2, judicial)
    return [penalty_h, judicial_h]


def police_qijiang() -> History:
    receipt = {
        "receipt_no": "綦公受〔2024〕153号",
        "version": 1,
        "case_no": QIJIANG_CASE,
        "updated_at": "2024-09-21 15:00:00",
        "transfer_doc_no": "綦市监移〔2024〕21号",
        "from_agency": "500110-SAMR",
        "suspect": SELLER["name"],
        "received_at": "2024-09-21 15:00:00",
        "decision": None,
        "reason": None,
        "decided_at": None,
    }
    h = History(str(receipt["receipt_no"]), "receipt")
    h.add(2, receipt)
    h.add(
        3,
        {
            **receipt,
            "version": 2,
            "decision": "立案",
            "decided_at": "2024-09-23 11:00:00",
            "updated_at": "2024-09-23 11:00:00",
        },
    )
    return h
