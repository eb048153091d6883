"""Police case receipts (公安受案): judicial transfers received and the filing decision
(立案 / 不予立案 with reason). Police-only (H3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import ClassVar

from casebus.events import ACTION_TOPIC, Event, EventType
from connectors import codes
from connectors.base import Connector, Fields, Page, SourceRecord
from connectors.paging import numbered


class Police(Connector):
    source_system = "psb-case-receipts"
    topics: ClassVar[tuple[str, ...]] = (ACTION_TOPIC,)
    schemas: ClassVar[tuple[str, ...]] = ("ActionEvent",)
    handling = "H3"

    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        since, size = int(checkpoint or 0), self.config.page_size
        headers = {"X-Api-Key": self.credentials()}

        def page(n: int) -> list[SourceRecord]:
            response = self.http.get(
                f"{self.base_url}/api/receipts",
                params={"since": since, "page": n, "size": size},
                headers=headers,
            )
            response.raise_for_status()
            return list(response.json()["记录"])

        return numbered(page, seq_field="sync_id", page_size=size)

    def record_key(self, record: SourceRecord) -> str:
        return str(record.get("receipt_no"))

    def map(self, record: SourceRecord) -> list[Event]:
        f = Fields(record, "action.")
        decision = codes.translate(
            codes.TRANSFER_DECISION, f.opt("decision"), "action.decision", f.violations
        )
        received = f.instant("received_at")
        decided = f.instant("decided_at", required=False)
        event = self.envelope(
            EventType.TRANSFER_DECIDED if decision else EventType.TRANSFER_UPDATED,
            record_id=f.req("receipt_no", "record_id"),
            revision=f.req("version", "revision"),
            case_id=f.req("case_no", "case_id"),
            occurred_at=f.instant("updated_at", "occurred_at"),
            shared_with=[self.owner, str(record.get("from_agency"))],
        )
        event["action"] = {
            "kind": "JUDICIAL",
            "from_owner": f.req("from_agency", "from_owner"),
            "to_owner": self.owner,
            "document_no": f.req("transfer_doc_no", "document_no"),
            "related_records": [f"{record.get('from_agency')}:{record.get('transfer_doc_no')}"],
            "materials": [],
            "approved_at": None,
            "sent_at": received,
            "decision": decision,
            "decision_reason": f.opt("reason"),
            "decided_at": decided,
            "reconsideration_requested_at": None,
            "procuratorate_supervision": None,
            "seized_items_handed_over_at": None,
            "decide_due": None,
            "send_due": None,
            # Police decide within 3 days of receipt whether to file; the sender may ask for
            # reconsideration within 3 days of the decision.
            "file_decision_due": received + timedelta(days=3) if received else None,
            "reconsideration_due": decided + timedelta(days=3) if decided else None,
            "seized_items_due": None,
        }
        f.done()
        return [event]


CONNECTOR = Police
