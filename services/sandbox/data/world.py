"""Every sandbox system's records, generated once from the seed."""

from __future__ import annotations

import random

from casebus.config import Settings
from services.sandbox.data import agencies, cross_region, platforms, samr
from services.sandbox.data.defects import DefectFields, spoil
from services.sandbox.data.store import History, SystemData
from services.sandbox.settings import SandboxSettings

# Per system: which fields the defects spoil.
DEFECT_FIELDS = {
    "samr-luzhou": DefectFields("party_uscc", "party_name", "fine_yuan", "decision_date"),
    "samr-qijiang": DefectFields("party_uscc", "party_name", "fine_yuan", "decision_date"),
    "cac-luzhou": DefectFields("seller_code", "seller", None, "modified"),
    "psb-luzhou": DefectFields(None, "transfer_doc_no", None, "received_at"),
    "psb-qijiang": DefectFields(None, "transfer_doc_no", None, "received_at"),
    "com-luzhou": DefectFields("creditCode", "partyName", "fineWanYuan", "punishDate"),
    "alibaba": DefectFields("seller_credit_code", "seller_company", None, "gmt_modified"),
    "jd": DefectFields("vender.creditCode", "vender.venderName", None, "updateTime"),
    "douyin": DefectFields("shop.credit_code", "shop.company_name", None, "update_time"),
}
SYSTEMS = tuple(DEFECT_FIELDS)


def build_world(settings: Settings) -> dict[str, SystemData]:
    cfg = SandboxSettings.of(settings)
    size = cfg.records_per_system

    def authority(code: str) -> dict[str, str]:
        agency = settings.agency(code)
        return {"name": agency.name, "uscc": agency.uscc}

    def rng(system: str) -> random.Random:
        return random.Random(f"{cfg.seed}:{system}")

    made: dict[str, list[History]] = {
        "samr-luzhou": samr.samr(rng("samr-luzhou"), "510500", size, authority("510500-SAMR")),
        "samr-qijiang": samr.samr(rng("samr-qijiang"), "500110", size, authority("500110-SAMR")),
        "cac-luzhou": agencies.cyberspace(rng("cac-luzhou"), size),
        "psb-luzhou": agencies.police(rng("psb-luzhou"), "510500", size),
        "psb-qijiang": agencies.police(rng("psb-qijiang"), "500110", size),
        "com-luzhou": agencies.commerce(rng("com-luzhou"), size, authority("510500-COM")),
        "alibaba": platforms.alibaba(rng("alibaba"), size),
        "jd": platforms.jd(rng("jd"), size),
        "douyin": platforms.douyin(rng("douyin"), size),
    }
    for system, histories in made.items():
        spoil(rng(system + ":defects"), histories, cfg.invalid_share, DEFECT_FIELDS[system])
    # The cross-region case is always present and always valid.
    made["cac-luzhou"].append(cross_region.cyberspace())
    made["samr-luzhou"].extend(cross_region.samr_luzhou())
    made["samr-qijiang"].extend(cross_region.samr_qijiang(authority("500110-SAMR")))
    made["psb-qijiang"].append(cross_region.police_qijiang())
    return {system: SystemData(system, histories) for system, histories in made.items()}
