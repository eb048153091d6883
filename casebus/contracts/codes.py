"""Code tables for the open code lists (strings in Avro, checked here)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from casebus.config import Settings

PENALTY_CATEGORIES = {
    "01": "警告",
    "02": "罚款",
    "03": "没收违法所得",
    "04": "责令停产停业",
    "05": "吊销许可证",
    "06": "行政拘留",
    "07": "其他",
    "08": "通报批评",
    "09": "没收非法财物",
    "10": "降低资质等级",
    "11": "暂扣许可证",
    "12": "限制开展经营活动",
    "13": "限制从业",
    "14": "责令关闭",
}
FINE = "02"

PARTY_CATEGORIES = {
    "LEGAL_PERSON": "法人及非法人组织",
    "NATURAL_PERSON": "自然人",
    "INDIVIDUAL_BUSINESS": "个体工商户",
}
ORGANISATIONS = frozenset({"LEGAL_PERSON", "INDIVIDUAL_BUSINESS"})

LEAD_SOURCES = {
    "INSPECTION": "监督检查",
    "COMPLAINT": "投诉",
    "REPORT": "举报",
    "AGENCY_TRANSFER": "其他部门移送",
    "ASSIGNED": "上级交办",
    "ESCALATED": "下级报请",
    "TEST_REPORT": "检测报告",
    "PLATFORM": "平台报送",
    "BIG_DATA": "大数据监测",
}
INFRINGEMENT_TYPES = {
    "TRADEMARK": "商标",
    "COPYRIGHT": "著作权",
    "PATENT": "专利",
    "COUNTERFEIT": "假冒",
}
PLATFORM_ACTIONS = {
    "DELETE": "删除",
    "BLOCK": "屏蔽",
    "DISCONNECT": "断开链接",
    "TERMINATE": "终止交易和服务",
}
LEAD_STATUSES = {
    "REGISTERED": "登记",
    "ASSIGNED": "分派",
    "VERIFYING": "核查",
    "FILED": "立案",
    "NOT_FILED": "不予立案",
    "TRANSFERRED": "移送",
    "FEEDBACK_RECEIVED": "已反馈",
    "ARCHIVED": "归档",
    "REVOKED": "撤销",  # withdrawn by its owner: no longer shared with anyone outside
}
# Partner platforms named in DOMAIN.md; a deployment's config may add more.
DOMAIN_PLATFORMS = frozenset({"PLATFORM-ALIBABA", "PLATFORM-JD", "PLATFORM-DOUYIN"})

HANDLING = {
    "H0": "public",
    "H1": "all participating agencies",
    "H2": "named agencies in shared_with only",
    "H3": "police only",
}
TRANSFER_KINDS = {"AGENCY": "部门间移送", "DESIGNATED": "指定管辖", "JUDICIAL": "移送司法"}
TRANSFER_DECISIONS = {"FILED": "立案", "NOT_FILED": "不予立案"}
MATERIAL_KINDS = {
    "TRANSFER_LETTER": "移送书",
    "INVESTIGATION_REPORT": "调查报告",
    "SEIZED_ITEMS_LIST": "涉案物品清单",
    "EXPERT_REPORT": "检验报告/鉴定结论",
    "OTHER": "其他",
}
ACTION_KINDS = {"REMINDER": "行政提示", "INTERVIEW": "约谈", "RECOMMENDATION": "建议"}


@dataclass(frozen=True)
class Known:
    """The parties a deployment knows (from its settings)."""

    agencies: frozenset[str]
    platforms: frozenset[str]
    regions: frozenset[str]

    @cached_property  # read for every event: build the union once
    def owners(self) -> frozenset[str]:
        return self.agencies | self.platforms


_KNOWN: dict[int, tuple[Settings, Known]] = {}


def known(settings: Settings) -> Known:
    """Known parties of these settings (computed once per settings object)."""
    hit = _KNOWN.get(id(settings))
    if hit is not None and hit[0] is settings:
        return hit[1]
    result = Known(
        agencies=frozenset(a.code for a in settings.agencies),
        platforms=frozenset(p.code for p in settings.platforms) | DOMAIN_PLATFORMS,
        regions=frozenset(r.code for r in settings.regions),
    )
    if len(_KNOWN) > 64:  # tests build many Settings; keep the cache small
        _KNOWN.clear()
    _KNOWN[id(settings)] = (settings, result)
    return result
