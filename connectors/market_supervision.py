"""Market supervision case system (市场监管): penalties (with amendments and revocations as
new revisions), leads, transfers, enforcement actions and case links, one change feed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from casebus.contracts.validation import Violation
from casebus.events import ACTION_TOPIC, LEAD_TOPIC, PENALTY_TOPIC, Event, EventType
from connectors import codes
from connectors.base import Connector, Fields, MappingError, Page, SourceRecord
from connectors.mapping import disclosed, lead_payload, transfer_payload

PENALTY_TYPES = {
    "有效": EventType.PENALTY_ISSUED,
    "已变更": EventType.PENALTY_AMENDED,
    "已撤销": EventType.PENALTY_REVOKED,
}
LEAD_TYPES = {"TRANSFERRED": EventType.LEAD_TRANSFERRED, "ARCHIVED": EventType.LEAD_CLOSED}


class MarketSupervision(Connector):
    source_system = "samr-case-system"
    personal_source = frozenset({"person_id_no", "legal_rep_id_no", "informant"})
    topics: ClassVar[tuple[str, ...]] = (PENALTY_TOPIC, LEAD_TOPIC, ACTION_TOPIC)
    schemas: ClassVar[tuple[str, ...]] = ("PenaltyEvent", "LeadEvent", "ActionEvent")

    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        since = int(checkpoint or 0)
        page = 1
        while True:
            response = self.http.get(
                f"{self.base_url}/api/v1/records",
                params={"since": since, "page": page, "page_size": self.config.page_size},
                headers={"X-Api-Key": self.credentials()},
            )
            response.raise_for_status()
            records = response.json()["records"]
            if not records:
                return
            yield Page(records, str(records[-1]["seq"]))
            if len(records) < self.config.page_size:
                return
            page += 1

    def record_key(self, record: SourceRecord) -> str:
        return str(record.get("id"))

    def map(self, record: SourceRecord) -> list[Event]:
        kind = record.get("kind")
        if kind == "penalty":
            return [self._penalty(record)]
        if kind == "lead":
            return [self._lead(record)]
        if kind in ("transfer", "action", "case_link"):
            return [self._action(record)]
        raise MappingError([_unknown_kind(kind)])

    def _base(self, f: Fields, event_type: EventType, **extra: Any) -> Event:
        return self.envelope(
            event_type,
            record_id=f.req("id", "record_id"),
            revision=f.req("version", "revision"),
            case_id=f.req("case_no", "case_id"),
            occurred_at=f.instant("updated_at", "occurred_at"),
            **extra,
        )

    def _penalty(self, r: SourceRecord) -> Event:
        f = Fields(r, "penalty.")
        status = f.req("status")
        event_type = PENALTY_TYPES.get(status, EventType.PENALTY_ISSUED)
        shared = list(r.get("shared_with") or [])
        event = self._base(f, event_type, shared_with=shared)
        event["penalty"] = {
            "party_name": f.req("party_name"),
            "party_category": codes.translate(
                codes.PARTY_CATEGORY,
                f.req("party_category"),
                "penalty.party_category",
                f.violations,
            ),
            "party_uscc": f.opt("party_uscc"),
            "reg_no": None,
            "org_code": None,
            "tax_no": None,
            "inst_cert_no": None,
            "social_org_no": None,
            "legal_rep_name": f.opt("legal_rep"),
            "legal_rep_id_type": f.opt("legal_rep_id_type"),
            "legal_rep_id_no": f.opt("legal_rep_id_no"),
            "person_id_type": f.opt("person_id_type"),
            "person_id_no": f.opt("person_id_no"),
            "decision_no": f.req("decision_no"),
            "violation_type": f.req("violation_type"),
            "violation_facts": f.req("violation_facts"),
            "legal_basis": f.req("legal_basis"),
            "penalty_categories": [
                codes.translate(
                    codes.PENALTY_CATEGORY, k, "penalty.penalty_categories", f.violations
                )
                for k in f.req("penalty_kinds") or []
            ],
            "penalty_content": "；".join(r.get("penalty_kinds") or []) + "。",
            # The case system states yuan; the contract stores 万元.
            "fine_amount": f.money("fine_yuan", "fine_amount", scale=10_000),
            "confiscated_amount": f.money("confiscated_yuan", "confiscated_amount", scale=10_000),
            "license_affected": None,
            "decision_date": f.day("decision_date"),
            "effective_until": f.day("effective_until"),
            "publicity_until": f.day("effective_until", required=False),
            "authority_name": f.req("authority", "authority_name"),
            "authority_uscc": f.req("authority_uscc"),
            "source_org": f.req("authority", "source_org"),
            "source_org_uscc": f.req("authority_uscc", "source_org_uscc"),
            "remarks": f.opt("remarks"),
            "revoke_reason": f.opt("revoke_reason"),
        }
        f.done()
        return event

    def _lead(self, r: SourceRecord) -> Event:
        f = Fields(r, "lead.")
        status = codes.translate(codes.LEAD_STATUS, f.req("status"), "lead.status", f.violations)
        revision = int(r.get("version") or 1)
        event_type = LEAD_TYPES.get(status or "", EventType.LEAD_REPORTED)
        if event_type is EventType.LEAD_REPORTED and revision > 1:
            event_type = EventType.LEAD_STATUS_CHANGED
        payload = lead_payload(f, status=status, platform_label=r.get("platform"))
        shared, handling = disclosed(
            list(r.get("regions") or []), f.opt("disclosure"), payload["platform"], f
        )
        event = self._base(f, event_type, shared_with=shared, handling=handling)
        event["lead"] = payload
        f.done()
        return event

    def _action(self, r: SourceRecord) -> Event:
        f = Fields(r, "action.")
        kind = r["kind"]
        if kind == "transfer":
            payload = transfer_payload(f)
            event_type = (
                EventType.TRANSFER_REQUESTED
                if r.get("version") == 1
                else (EventType.TRANSFER_UPDATED)
            )
            shared = [str(payload["to_owner"] or "")]
        elif kind == "action":
            payload = {
                "kind": codes.translate(
                    codes.ACTION_KIND, f.req("action_kind"), "action.kind", f.violations
                ),
                "party_name": f.req("party_name"),
                "party_uscc": f.opt("party_uscc"),
                "action_date": f.day("action_date"),
                "content": f.req("content"),
                "by": self.owner,
            }
            event_type = EventType.ACTION_RECORDED
            shared = [self.region]
        else:
            payload = {
                "linked_case_ids": f.req("linked_cases", "linked_case_ids"),
                "agreement_ref": f.opt("agreement"),
                "reason": f.req("reason"),
            }
            event_type = EventType.CASE_LINKED
            shared = sorted({c.split("-")[1] for c in payload["linked_case_ids"] or []})
        event = self._base(f, event_type, shared_with=shared)
        event["action"] = payload
        f.done()
        return event


def _unknown_kind(kind: object) -> Violation:
    return Violation("kind", "code", kind, f"unknown record kind {kind!r}")


CONNECTOR = MarketSupervision
