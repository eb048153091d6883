"""JD open platform: infringement reports. OAuth client-credentials token (refreshed when it
expires), bearer header, opaque cursor paging (`nextCursor`, `hasMore`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

from casebus.events import LEAD_TOPIC, Event
from connectors.base import Connector, Fields, Page, SourceRecord
from connectors.mapping import evidence
from connectors.platform_lead import platform_lead, required_items

TYPES = {1: "TRADEMARK", 2: "PATENT", 3: "COPYRIGHT", 4: "COUNTERFEIT"}
STATES = {10: "open", 20: "verifying", 30: "closed"}
MEASURES = {"DOWN_SHELF": "DELETE", "BLOCK": "BLOCK", "STOP_SERVICE": "TERMINATE"}


class JD(Connector):
    source_system = "jd-ipr-infringements"
    topics: ClassVar[tuple[str, ...]] = (LEAD_TOPIC,)
    schemas: ClassVar[tuple[str, ...]] = ("LeadEvent",)
    _token: tuple[str, float] | None = None

    def _bearer(self, *, renew: bool = False) -> str:
        if renew or self._token is None or self._token[1] < time.monotonic():
            client_id, secret = self.credentials().split(":", 1)
            response = self.http.post(
                f"{self.base_url}/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": secret,
                },
            )
            response.raise_for_status()
            body = response.json()
            # Renew a little early rather than meet a 401 mid-run.
            self._token = (body["access_token"], time.monotonic() + body["expires_in"] * 0.9)
        return self._token[0]

    def _get(self, cursor: str) -> dict[str, Any]:
        params: dict[str, str | int] = {"cursor": cursor, "limit": self.config.page_size}
        url = f"{self.base_url}/api/ipr/infringements"
        response = self.http.get(
            url, params=params, headers={"Authorization": f"Bearer {self._bearer()}"}
        )
        if response.status_code == 401:  # revoked or expired early: one fresh token
            auth = {"Authorization": f"Bearer {self._bearer(renew=True)}"}
            response = self.http.get(url, params=params, headers=auth)
        response.raise_for_status()
        return dict(response.json()["result"])

    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        cursor = checkpoint or ""
        while True:
            result = self._get(cursor)
            cursor = result["nextCursor"]
            if result["data"]:
                yield Page(result["data"], cursor)
            if not result["hasMore"]:
                return

    def record_key(self, record: SourceRecord) -> str:
        return str(record.get("infringementId"))

    def map(self, record: SourceRecord) -> list[Event]:
        f = Fields(record, "lead.")
        vender = Fields(record.get("vender") or {}, "lead.", f.violations)
        event = platform_lead(
            self,
            f,
            record_id=str(f.req("infringementId", "record_id")),
            revision=int(record.get("revision") or 1),
            occurred_at=f.instant("updateTime", "occurred_at"),
            region=str(f.req("areaCode", "target_regions")),
            closed=STATES.get(record.get("state", 0)) == "closed",
            lead={
                "seller_name": vender.req("venderName", "seller_name"),
                "seller_uscc": vender.opt("creditCode"),
                "shop_name": vender.req("shopName", "shop_name"),
                "shop_id": str(vender.opt("shopId") or "") or None,
                "shop_url": f"https://mall.jd.com/index-{vender.opt('shopId')}.html",
                "items": [
                    {
                        "listing_url": f"https://item.jd.com/{s.get('skuId')}.html",
                        "listing_id": str(s.get("skuId")),
                        "title": s.get("skuName"),
                    }
                    for s in required_items(f, "skus")
                ],
                "infringement_type": TYPES.get(record.get("infringeType", 0)),
                "right_certificate": f.opt("certNo"),
                "description": f.req("desc", "description"),
                "evidence": [
                    evidence(p, f, keys=("url", "digest", "time"))
                    for p in f.req("proofs", "evidence") or []
                ],
                "platform_actions": [MEASURES.get(m, m) for m in record.get("measures", [])],
            },
        )
        f.done()
        return [event]


CONNECTOR = JD
