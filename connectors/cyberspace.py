"""Cyberspace administration monitoring (网信办): leads from online-content monitoring such
as live-stream violations, and their transfer (移送) to market supervision."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from casebus.events import ACTION_TOPIC, LEAD_TOPIC, Event, EventType
from connectors import codes
from connectors.base import Connector, Fields, Page, SourceRecord
from connectors.mapping import evidence, informant


class Cyberspace(Connector):
    source_system = "cac-content-monitoring"
    personal_source = frozenset({"seller_id", "reporter"})
    topics: ClassVar[tuple[str, ...]] = (LEAD_TOPIC, ACTION_TOPIC)
    schemas: ClassVar[tuple[str, ...]] = ("LeadEvent", "ActionEvent")

    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        after, offset, limit = int(checkpoint or 0), 0, self.config.page_size
        headers = {"Authorization": f"ApiKey {self.credentials()}"}
        while True:
            response = self.http.get(
                f"{self.base_url}/api/clues",
                params={"after": after, "offset": offset, "limit": limit},
                headers=headers,
            )
            response.raise_for_status()
            rows = response.json()["data"]["rows"]
            if rows:
                yield Page(rows, str(rows[-1]["change_no"]))
            if len(rows) < limit:
                return
            offset += limit

    def record_key(self, record: SourceRecord) -> str:
        return str(record.get("clue_id"))

    def map(self, record: SourceRecord) -> list[Event]:
        f = Fields(record, "lead.")
        status = codes.translate(codes.LEAD_STATUS, f.req("state"), "lead.status", f.violations)
        revision = int(record.get("ver") or 1)
        transfer = record.get("transfer") or None
        event_type = (
            EventType.LEAD_TRANSFERRED
            if transfer
            else EventType.LEAD_STATUS_CHANGED
            if revision > 1
            else EventType.LEAD_REPORTED
        )
        envelope = {
            "case_id": f.req("case_ref", "case_id"),
            "occurred_at": f.instant("modified", "occurred_at"),
            "shared_with": ["510500-SAMR"],
        }
        lead = self.envelope(
            event_type, record_id=f.req("clue_id", "record_id"), revision=revision, **envelope
        )
        lead["lead"] = {
            "lead_no": record.get("clue_id"),
            # Reported through the channel (an informant), or found by monitoring.
            "source": "REPORT" if record.get("reporter") else "BIG_DATA",
            "platform": codes.PLATFORM.get(str(record.get("channel"))),
            "seller_name": f.req("seller", "seller_name"),
            "seller_uscc": f.opt("seller_code"),
            "seller_id_no": f.opt("seller_id"),
            "shop_name": f.req("shop", "shop_name"),
            "shop_id": f.opt("live_room"),
            "shop_url": f"https://live.example.cn/room/{record.get('live_room', '')}",
            "items": [
                {"listing_url": g.get("link"), "listing_id": None, "title": g.get("title")}
                for g in f.req("goods") or []
            ],
            "infringement_type": "TRADEMARK",
            "right_certificate": None,
            "description": f.req("content", "description"),
            "evidence": [evidence(e, f) for e in f.req("screenshots", "evidence") or []],
            "platform_actions": [],
            "status": status,
            "jurisdiction_owner": transfer["to"] if transfer else self.owner,
            "target_regions": [self.region],
            "informant": informant(record.get("reporter")),
        }
        events = [lead]
        if transfer:
            moved = self.envelope(
                EventType.TRANSFER_REQUESTED, record_id=transfer["doc_no"], revision=1, **envelope
            )
            moved["action"] = {
                "kind": "AGENCY",
                "from_owner": self.owner,
                "to_owner": transfer["to"],
                "document_no": transfer["doc_no"],
                "related_records": [f"{self.owner}:{record.get('clue_id')}"],
                "materials": [],
                "approved_at": Fields(transfer, "action.", f.violations).instant("at"),
                "sent_at": Fields(transfer, "action.", f.violations).instant("at"),
                **dict.fromkeys(_UNSET_TRANSFER),
            }
            events.append(moved)
        f.done()
        return events


_UNSET_TRANSFER = (
    "decision",
    "decision_reason",
    "decided_at",
    "reconsideration_requested_at",
    "procuratorate_supervision",
    "seized_items_handed_over_at",
    "decide_due",
    "send_due",
    "file_decision_due",
    "reconsideration_due",
    "seized_items_due",
)

CONNECTOR = Cyberspace
