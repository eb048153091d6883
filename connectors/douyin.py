"""Douyin open platform: live-room and product violations. Client token, then `X-App-Key`
and `access-token` headers; POST list with `cursor`, answered with `has_more` and `cursor`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import ClassVar

from casebus.events import LEAD_TOPIC, Event
from connectors.base import Connector, ConnectorError, Fields, Page, SourceRecord
from connectors.mapping import evidence
from connectors.platform_lead import platform_lead, required_items

TYPES = {"商标侵权": "TRADEMARK", "假冒伪劣": "COUNTERFEIT", "著作权侵权": "COPYRIGHT"}
MEASURES = {"商品下架": "DELETE", "直播间封禁": "BLOCK", "店铺清退": "TERMINATE"}


class Douyin(Connector):
    source_system = "douyin-governance"
    topics: ClassVar[tuple[str, ...]] = (LEAD_TOPIC,)
    schemas: ClassVar[tuple[str, ...]] = ("LeadEvent",)
    _token: tuple[str, float] | None = None

    def _headers(self) -> dict[str, str]:
        key, secret = self.credentials().split(":", 1)
        if self._token is None or self._token[1] < time.monotonic():
            response = self.http.post(
                f"{self.base_url}/oauth/client_token/",
                json={
                    "client_key": key,
                    "client_secret": secret,
                    "grant_type": "client_credential",
                },
            )
            response.raise_for_status()
            data = response.json()["data"]
            if data.get("error_code"):
                raise ConnectorError(f"douyin token: {data.get('description')}")
            self._token = (data["access_token"], time.monotonic() + data["expires_in"] * 0.9)
        return {"X-App-Key": key, "access-token": self._token[0]}

    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        cursor = int(checkpoint or 0)
        while True:
            response = self.http.post(
                f"{self.base_url}/api/governance/violation/list/",
                json={"cursor": cursor, "count": min(self.config.page_size, 100)},
                headers=self._headers(),
            )
            response.raise_for_status()
            data = response.json()["data"]
            cursor = int(data["cursor"])
            if data["list"]:
                yield Page(data["list"], str(cursor))
            if not data["has_more"]:
                return

    def record_key(self, record: SourceRecord) -> str:
        return str(record.get("violation_id"))

    def map(self, record: SourceRecord) -> list[Event]:
        f = Fields(record, "lead.")
        shop = Fields(record.get("shop") or {}, "lead.", f.violations)
        event = platform_lead(
            self,
            f,
            record_id=f.req("violation_id", "record_id"),
            revision=int(record.get("version") or 1),
            occurred_at=f.instant("update_time", "occurred_at"),
            region=str(f.req("region_code", "target_regions")),
            closed=record.get("status") == "已处理",
            lead={
                "seller_name": shop.req("company_name", "seller_name"),
                "seller_uscc": shop.opt("credit_code"),
                "shop_name": shop.req("shop_name"),
                "shop_id": shop.opt("shop_id"),
                "shop_url": f"https://haohuo.jinritemai.com/views/shop/index?id={shop.opt('shop_id')}",
                "items": [
                    {
                        "listing_url": p.get("product_url"),
                        "listing_id": p.get("product_id"),
                        "title": p.get("product_name"),
                    }
                    for p in required_items(f, "products")
                ],
                "infringement_type": TYPES.get(str(record.get("violation_type"))),
                "description": f.req("detail", "description"),
                "evidence": [
                    evidence(e, f, keys=("evidence_url", "hash_sha256", "capture_time"))
                    for e in f.req("evidence_list", "evidence") or []
                ],
                "platform_actions": [MEASURES.get(m, m) for m in record.get("punish_measures", [])],
            },
        )
        f.done()
        return [event]


CONNECTOR = Douyin
