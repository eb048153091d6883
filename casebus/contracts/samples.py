"""Realistic sample events (Luzhou–Qijiang cooperation), for tests, benchmarks and demos."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from casebus.events import Event, EventType, stable_event_id

_OCCURRED = datetime(2025, 3, 14, 2, 30, tzinfo=UTC)
_PUBLISHED = datetime(2025, 3, 14, 2, 31, 5, 250000, tzinfo=UTC)


def _envelope(
    event_type: EventType, owner: str, record_id: str, case_id: str, revision: int = 1
) -> Event:
    return {
        "event_id": stable_event_id(owner, record_id, revision, event_type),
        "event_type": event_type.value,
        "occurred_at": _OCCURRED,
        "published_at": _PUBLISHED,
        "owner": owner,
        "record_id": record_id,
        "revision": revision,
        "case_id": case_id,
        "region": "510500",
        "shared_with": ["500110", "510500-PSB"],
        "handling": "H1",
        "producer": "connector.samr-luzhou",
    }


def sample_penalty_event(revision: int = 1) -> Event:
    decision_no = "泸市监处罚〔2025〕17号"
    event = _envelope(EventType.PENALTY_ISSUED, "510500-SAMR", decision_no, "CASE-510500-2025-0017")
    event["revision"] = revision
    event["penalty"] = {
        "party_name": "泸州市江阳区某某酒业有限公司",
        "party_category": "LEGAL_PERSON",
        "party_uscc": "91310110666007217T",
        "reg_no": None,
        "org_code": None,
        "tax_no": None,
        "inst_cert_no": None,
        "social_org_no": None,
        "legal_rep_name": "张某某",
        "legal_rep_id_type": None,
        "legal_rep_id_no": None,
        "person_id_type": None,
        "person_id_no": None,
        "decision_no": decision_no,
        "violation_type": "销售侵犯注册商标专用权的商品",
        "violation_facts": (
            "当事人通过网店销售假冒“泸州老窖”注册商标的白酒共计120瓶，违法经营额3.6万元，"
            "经权利人鉴定均为侵权商品。"
        ),
        "legal_basis": "《中华人民共和国商标法》第五十七条第（三）项、第六十条第二款",
        "penalty_categories": ["01", "02", "09"],
        "penalty_content": "警告；没收侵权白酒120瓶；罚款人民币伍万元整。",
        "fine_amount": Decimal("5.000000"),
        "confiscated_amount": Decimal("0.36"),
        "license_affected": None,
        "decision_date": date(2025, 3, 12),
        "effective_until": date(2026, 3, 12),
        "publicity_until": date(2026, 3, 12),
        "authority_name": "泸州市市场监督管理局",
        "authority_uscc": "11510500MB1533970T",
        "source_org": "泸州市市场监督管理局",
        "source_org_uscc": "11510500MB1533970T",
        "remarks": "川渝一对一协作案件",
        "revoke_reason": None,
    }
    return event


def sample_lead_event() -> Event:
    event = _envelope(
        EventType.LEAD_REPORTED, "PLATFORM-JD", "JD-2025-000381", "CASE-510500-2025-0017"
    )
    event["producer"] = "connector.platform-jd"
    event["lead"] = {
        "lead_no": "JD-2025-000381",
        "source": "PLATFORM",
        "platform": "PLATFORM-JD",
        "seller_name": "泸州市江阳区某某酒业有限公司",
        "seller_uscc": "91310110666007217T",
        "seller_id_no": None,
        "shop_name": "某某酒业官方旗舰店",
        "shop_id": "1000381",
        "shop_url": "https://mall.jd.com/index-1000381.html",
        "items": [
            {
                "listing_url": "https://item.jd.com/100012345.html",
                "listing_id": "100012345",
                "title": "泸州老窖 特曲 52度 500ml",
            }
        ],
        "infringement_type": "TRADEMARK",
        "right_certificate": "第123456号商标注册证",
        "description": "疑似销售假冒注册商标白酒，价格明显低于市场价。",
        "evidence": [
            {
                "uri": "https://evidence.example.cn/jd/000381/page.png",
                "sha256": "9f" * 32,
                "captured_at": _OCCURRED,
            }
        ],
        "platform_actions": ["BLOCK"],
        "status": "REGISTERED",
        "jurisdiction_owner": "510500-SAMR",
        "target_regions": ["510500", "500110"],
        "informant": None,
    }
    return event


def sample_action_event(event_type: EventType = EventType.TRANSFER_REQUESTED) -> Event:
    event = _envelope(event_type, "510500-SAMR", "YS-2025-003", "CASE-510500-2025-0017")
    family = event_type.family
    if family == "transfer":
        event["action"] = {
            "kind": "JUDICIAL",
            "from_owner": "510500-SAMR",
            "to_owner": "510500-PSB",
            "document_no": "泸市监移〔2025〕3号",
            "related_records": ["510500-SAMR:泸市监处罚〔2025〕17号"],
            "materials": [
                {
                    "kind": "TRANSFER_LETTER",
                    "title": "涉嫌犯罪案件移送书",
                    "uri": None,
                    "sha256": None,
                }
            ],
            "approved_at": _OCCURRED,
            "sent_at": None,
            "decision": None,
            "decision_reason": None,
            "decided_at": None,
            "reconsideration_requested_at": None,
            "procuratorate_supervision": None,
            "seized_items_handed_over_at": None,
            "decide_due": None,
            "send_due": datetime(2025, 3, 15, 2, 30, tzinfo=UTC),
            "file_decision_due": None,
            "reconsideration_due": None,
            "seized_items_due": None,
        }
    elif family == "action":
        event["action"] = {
            "kind": "INTERVIEW",
            "party_name": "某某酒业官方旗舰店",
            "party_uscc": "91310110666007217T",
            "action_date": date(2025, 3, 13),
            "content": "约谈经营者，责令下架涉嫌侵权商品并提交整改报告。",
            "by": "510500-SAMR",
        }
    else:
        event["action"] = {
            "linked_case_ids": ["CASE-510500-2025-0017", "CASE-500110-2025-0042"],
            "agreement_ref": "川渝（泸綦）市场监管一对一协作协议",
            "reason": "同一经营者在两地均有销售行为",
        }
    return event
