"""Commerce bureau (商务局): penalties on e-commerce operators, amounts already in 万元."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from casebus.events import PENALTY_TOPIC, Event, EventType
from connectors import codes
from connectors.base import Connector, Fields, Page, SourceRecord
from connectors.paging import numbered


class Commerce(Connector):
    source_system = "com-ecommerce-supervision"
    topics: ClassVar[tuple[str, ...]] = (PENALTY_TOPIC,)
    schemas: ClassVar[tuple[str, ...]] = ("PenaltyEvent",)

    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        since, size = int(checkpoint or 0), self.config.page_size
        headers = {"appKey": self.credentials()}

        def page(n: int) -> list[SourceRecord]:
            response = self.http.post(
                f"{self.base_url}/openapi/punish/query",
                json={"syncSeq": since, "pageNo": n, "pageSize": size},
                headers=headers,
            )
            response.raise_for_status()
            return list(response.json()["list"])

        return numbered(page, seq_field="syncSeq", page_size=size)

    def record_key(self, record: SourceRecord) -> str:
        return str(record.get("punishNo"))

    def map(self, record: SourceRecord) -> list[Event]:
        f = Fields(record, "penalty.")
        revoked = record.get("state") == "撤销"
        revision = int(record.get("rev") or 1)
        event_type = (
            EventType.PENALTY_REVOKED
            if revoked
            else EventType.PENALTY_AMENDED
            if revision > 1
            else EventType.PENALTY_ISSUED
        )
        event = self.envelope(
            event_type,
            record_id=f.req("punishNo", "record_id"),
            revision=revision,
            case_id=f.req("caseCode", "case_id"),
            occurred_at=f.instant("modifiedTime", "occurred_at"),
            shared_with=["510500-SAMR"],
        )
        kinds = f.req("punishTypes", "penalty_categories") or []
        event["penalty"] = {
            "party_name": f.req("partyName", "party_name"),
            "party_category": codes.translate(
                codes.PARTY_CATEGORY,
                f.req("partyType", "party_category"),
                "penalty.party_category",
                f.violations,
            ),
            "party_uscc": f.opt("creditCode"),
            "reg_no": None,
            "org_code": None,
            "tax_no": None,
            "inst_cert_no": None,
            "social_org_no": None,
            "legal_rep_name": f.opt("legalPerson"),
            "legal_rep_id_type": None,
            "legal_rep_id_no": None,
            "person_id_type": None,
            "person_id_no": None,
            "decision_no": record.get("punishNo"),
            "violation_type": f.req("illegalAct", "violation_type"),
            "violation_facts": f.req("illegalFacts", "violation_facts"),
            "legal_basis": f.req("basis", "legal_basis"),
            "penalty_categories": [
                codes.translate(
                    codes.PENALTY_CATEGORY, k, "penalty.penalty_categories", f.violations
                )
                for k in kinds
            ],
            "penalty_content": "；".join(kinds) + "。",
            "fine_amount": f.money("fineWanYuan", "fine_amount"),
            "confiscated_amount": None,
            "license_affected": None,
            "decision_date": f.day("punishDate", "decision_date"),
            "effective_until": f.day("validUntil", "effective_until"),
            "publicity_until": None,
            "authority_name": f.req("org", "authority_name"),
            "authority_uscc": f.req("orgCode", "authority_uscc"),
            "source_org": record.get("org"),
            "source_org_uscc": record.get("orgCode"),
            "remarks": None,
            "revoke_reason": f.opt("revokeReason"),
        }
        f.done()
        return [event]


CONNECTOR = Commerce
