"""Chinese labels for what the console shows: record kinds, the double-publicity data items
(DOMAIN.md), code values, event types, outcomes, transfer steps and consumer states.

Code tables come from the contracts (casebus/contracts/codes.py), so a code added there is
shown here; a code or field without a label is shown as it is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from casebus.contracts import codes
from casebus.personal.envelope import ERASED, UNREADABLE, is_sealed

BEIJING = ZoneInfo("Asia/Shanghai")

KINDS = {
    "penalty": "行政处罚",
    "lead": "线索",
    "transfer": "移送",
    "action": "柔性执法措施",
    "case": "案件关联",
}

ENVELOPE = {
    "case_id": "案件编号",
    "kind": "记录类型",
    "owner": "所属单位",
    "record_id": "记录编号",
    "revision": "版本",
    "event_type": "最近事件",
    "region": "行政区划",
    "handling": "处理代码",
    "occurred_at": "发生时间",
    "digest": "内容摘要",
}

FIELDS: dict[str, dict[str, str]] = {
    "penalty": {
        "party_name": "行政相对人名称",
        "party_category": "行政相对人类别",
        "party_uscc": "统一社会信用代码",
        "reg_no": "工商注册号",
        "org_code": "组织机构代码",
        "tax_no": "税务登记号",
        "inst_cert_no": "事业单位证书号",
        "social_org_no": "社会组织登记证号",
        "legal_rep_name": "法定代表人",
        "legal_rep_id_type": "法定代表人证件类型",
        "legal_rep_id_no": "法定代表人证件号码",
        "person_id_type": "证件类型",
        "person_id_no": "证件号码",
        "decision_no": "行政处罚决定书文号",
        "violation_type": "违法行为类型",
        "violation_facts": "违法事实",
        "legal_basis": "处罚依据",
        "penalty_categories": "处罚类别",
        "penalty_content": "处罚内容",
        "fine_amount": "罚款金额（万元）",
        "confiscated_amount": "没收违法所得、没收非法财物的金额（万元）",
        "license_affected": "暂扣或吊销证照名称及编号",
        "decision_date": "处罚决定日期",
        "effective_until": "处罚有效期",
        "publicity_until": "公示截止期",
        "authority_name": "处罚机关",
        "authority_uscc": "处罚机关统一社会信用代码",
        "source_org": "数据来源单位",
        "source_org_uscc": "数据来源单位统一社会信用代码",
        "remarks": "备注",
        "revoke_reason": "撤销原因",
    },
    "lead": {
        "lead_no": "线索编号",
        "source": "线索来源",
        "platform": "报送平台",
        "seller_name": "经营者名称",
        "seller_uscc": "经营者统一社会信用代码",
        "seller_id_no": "经营者证件号码",
        "shop_name": "网店名称",
        "shop_id": "店铺ID",
        "shop_url": "网址",
        "infringement_type": "侵权类型",
        "right_certificate": "权利证明",
        "description": "违法行为描述",
        "platform_actions": "平台处置措施",
        "status": "状态",
        "jurisdiction_owner": "管辖单位",
        "target_regions": "涉及地区",
    },
    "transfer": {
        "kind": "移送类型",
        "from_owner": "移送单位",
        "to_owner": "接收单位",
        "document_no": "移送文书编号",
        "related_records": "相关记录",
        "materials": "移送材料",
        "approved_at": "批准时间",
        "sent_at": "移送时间",
        "decision": "接收机关决定",
        "decision_reason": "决定理由",
        "decided_at": "决定时间",
        "reconsideration_requested_at": "申请复议时间",
        "procuratorate_supervision": "检察监督",
        "seized_items_handed_over_at": "涉案物品移交时间",
        "decide_due": "决定期限",
        "send_due": "移送期限",
        "file_decision_due": "立案决定期限",
        "reconsideration_due": "复议申请期限",
        "seized_items_due": "涉案物品移交期限",
    },
    "action": {
        "kind": "措施类型",
        "party_name": "当事人名称",
        "party_uscc": "统一社会信用代码",
        "action_date": "措施日期",
        "content": "措施内容",
        "by": "实施单位",
    },
    "case": {
        "linked_case_ids": "关联案件",
        "agreement_ref": "协作协议",
        "reason": "关联理由",
    },
}

# Which code table each coded field's values are shown through.
CODE_TABLES: dict[tuple[str, str], Mapping[str, str]] = {
    ("penalty", "party_category"): codes.PARTY_CATEGORIES,
    ("penalty", "penalty_categories"): codes.PENALTY_CATEGORIES,
    ("lead", "source"): codes.LEAD_SOURCES,
    ("lead", "status"): codes.LEAD_STATUSES,
    ("lead", "infringement_type"): codes.INFRINGEMENT_TYPES,
    ("lead", "platform_actions"): codes.PLATFORM_ACTIONS,
    ("transfer", "kind"): codes.TRANSFER_KINDS,
    ("transfer", "decision"): codes.TRANSFER_DECISIONS,
    ("action", "kind"): codes.ACTION_KINDS,
}

HANDLING = {"H0": "H0 公开", "H1": "H1 参与机关共享", "H2": "H2 指定机关", "H3": "H3 仅限公安"}

EVENT_TYPES = {
    "PENALTY_ISSUED": "作出处罚决定",
    "PENALTY_AMENDED": "变更处罚决定",
    "PENALTY_REVOKED": "撤销处罚决定",
    "PENALTY_DELETED": "删除处罚决定",
    "LEAD_REPORTED": "登记线索",
    "LEAD_UPDATED": "更新线索",
    "LEAD_STATUS_CHANGED": "线索状态变更",
    "LEAD_TRANSFERRED": "移送线索",
    "LEAD_CLOSED": "线索办结",
    "TRANSFER_REQUESTED": "发起移送",
    "TRANSFER_DECIDED": "接收机关作出决定",
    "TRANSFER_UPDATED": "更新移送",
    "ACTION_RECORDED": "记录执法措施",
    "ACTION_UPDATED": "更新执法措施",
    "CASE_LINKED": "关联案件",
    "CASE_UNLINKED": "取消案件关联",
}

OUTCOMES = {
    "applied": "已写入",
    "stale": "旧版本，未写入",
    "duplicate": "重复，未写入",
    "conflict": "版本冲突，已隔离",
    "rejected": "拒收（签名或内容不合规）",
    "filtered": "不属本单位",
}

# agencydb/transfers.py's steps, with the deadline each carries (State Council order 310).
TRANSFER_STEPS = {
    "decide whether to transfer": "决定是否移送（3日内）",
    "send the transfer": "移送（批准后24小时内）",
    "receiver decides whether to file": "接收机关决定是否立案（3日内）",
    "request reconsideration (if contested)": "申请复议（不予立案后3日内）",
    "hand over seized items": "移交涉案物品（立案后3日内）",
}
DUE_STATUSES = {"overdue": "已逾期", "due soon": "24小时内到期", "open": "未到期"}

CONSUMER_STATES = {
    "idle": "空闲（已读完）",
    "catching up": "追赶中",
    "stuck": "停滞",
    "not started": "未启动",
}

ORIGINS = {"sync": "同步", "replay": "重放"}
STATUS_DETAILS = {"no database yet": "尚无数据库"}  # pipeline/status.py's fixed details


def field_label(kind: str, name: str) -> str:
    return FIELDS.get(kind, {}).get(name) or ENVELOPE.get(name) or name


def code_label(kind: str, name: str, value: Any) -> str:
    """A coded value (or a list of them) as its Chinese name, the code kept beside it."""
    table = CODE_TABLES.get((kind, name))
    if table is None:
        return display(value)
    items = value if isinstance(value, list) else [value]
    return "、".join(table.get(str(v), str(v)) for v in items if v is not None)


def when(value: datetime | date | str | None) -> str:
    """An instant in Beijing time (the agencies' own), a date as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return when(parsed)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=BEIJING)
        return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


# Personal values this agency's database holds sealed (it may not open them), or whose
# key is destroyed or unknown: said in words, never shown as ciphertext.
SEALED_TEXT = "（已加密：本机构无权查看）"
PERSONAL_MARKERS = {ERASED: "（已删除：个人信息已依法删除）", UNREADABLE: "（无法解密）"}


def display(value: Any) -> str:
    """Any stored value as text: lists joined, materials and items by their titles, sealed
    personal values and erasure markers in words."""
    if value is None:
        return ""
    if is_sealed(value):
        return SEALED_TEXT
    if isinstance(value, str) and value in PERSONAL_MARKERS:
        return PERSONAL_MARKERS[value]
    if isinstance(value, datetime | date):
        return when(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list):
        return "；".join(display(v) for v in value)
    if isinstance(value, dict):
        kind = codes.MATERIAL_KINDS.get(str(value.get("kind")), value.get("kind"))
        title = value.get("title")
        if title is not None:
            return f"{kind}：{title}" if kind else str(title)
        return "，".join(f"{k}={display(v)}" for k, v in value.items() if v is not None)
    return str(value)
