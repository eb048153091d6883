"""Alibaba (Taobao open platform): IPR complaints. Every request is signed: HMAC-SHA256 over
the sorted parameters (a timestamp among them) with the app secret; page numbers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar

from casebus.events import LEAD_TOPIC, Event
from connectors.base import Connector, Fields, Page, SourceRecord
from connectors.mapping import evidence
from connectors.paging import numbered
from connectors.platform_lead import platform_lead, required_items

METHOD = "taobao.ipr.complaints.get"
ACTIONS = {"delete": "DELETE", "block": "BLOCK", "disconnect": "DISCONNECT"}


def sign(params: dict[str, str], secret: str) -> str:
    text = "".join(f"{k}{params[k]}" for k in sorted(params))
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


class Alibaba(Connector):
    source_system = "alibaba-ipr-complaints"
    topics: ClassVar[tuple[str, ...]] = (LEAD_TOPIC,)
    schemas: ClassVar[tuple[str, ...]] = ("LeadEvent",)

    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        app_key, secret = self.credentials().split(":", 1)
        size = min(self.config.page_size, 100)

        def page(n: int) -> list[SourceRecord]:
            params = {
                "method": METHOD,
                "app_key": app_key,
                "sign_method": "hmac-sha256",
                "timestamp": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                "format": "json",
                "v": "2.0",
                "start_seq": checkpoint or "0",
                "page_no": str(n),
                "page_size": str(size),
            }
            params["sign"] = sign(params, secret)
            response = self.http.get(f"{self.base_url}/router/rest", params=params)
            response.raise_for_status()
            body = response.json()["ipr_complaints_get_response"]
            return list(body["complaints"]["complaint"])

        return numbered(page, seq_field="sync_seq", page_size=size)

    def record_key(self, record: SourceRecord) -> str:
        return str(record.get("complaint_id"))

    def map(self, record: SourceRecord) -> list[Event]:
        f = Fields(record, "lead.")
        event = platform_lead(
            self,
            f,
            record_id=f.req("complaint_id", "record_id"),
            revision=int(record.get("modify_count") or 0) + 1,
            occurred_at=f.instant("gmt_modified", "occurred_at"),
            region=str(f.req("seller_region", "target_regions")),
            closed=record.get("status") == "CLOSED",
            lead={
                "seller_name": f.req("seller_company", "seller_name"),
                "seller_uscc": f.opt("seller_credit_code"),
                "shop_name": f.req("shop_title", "shop_name"),
                "shop_id": None,
                "shop_url": f.req("shop_url"),
                "items": [
                    {
                        "listing_url": a.get("detail_url"),
                        "listing_id": a.get("num_iid"),
                        "title": a.get("title"),
                    }
                    for a in required_items(f, "auctions")
                ],
                "infringement_type": str(f.req("ipr_type", "infringement_type")).upper(),
                "right_certificate": f.opt("right_holder_cert"),
                "description": f.req("reason", "description"),
                "evidence": [
                    evidence(e, f, keys=("file_url", "file_hash", "upload_time"))
                    for e in f.req("evidences", "evidence") or []
                ],
                "platform_actions": [ACTIONS.get(a, a) for a in record.get("handle_result", [])],
            },
        )
        f.done()
        return [event]


CONNECTOR = Alibaba
