"""The common lead contract for platform reports: a suspected-infringement listing with
evidence, under the jurisdiction of the seller's region's market supervision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casebus.events import Event, EventType
from connectors.base import Connector, Fields


def platform_lead(
    connector: Connector,
    f: Fields,
    *,
    record_id: str,
    revision: int,
    occurred_at: datetime | None,
    region: str,
    closed: bool,
    lead: dict[str, Any],
) -> Event:
    """Envelope and payload; `lead` carries the fields the platform's shape provides."""
    if closed:
        event_type = EventType.LEAD_CLOSED
    else:
        event_type = EventType.LEAD_UPDATED if revision > 1 else EventType.LEAD_REPORTED
    jurisdiction = f"{region}-SAMR"
    event = connector.envelope(
        event_type,
        record_id=record_id,
        revision=revision,
        # A platform does not know the agencies' case numbers: its report is its own case.
        case_id=f"LEAD-{connector.owner}-{record_id}",
        occurred_at=occurred_at,  # type: ignore[arg-type]
        region=region,
        shared_with=[jurisdiction],
    )
    event["lead"] = {
        "lead_no": record_id,
        "source": "PLATFORM",
        "platform": connector.owner,
        "seller_id_no": None,
        "right_certificate": None,
        "platform_actions": [],
        "status": "ARCHIVED" if closed else "REGISTERED",
        "jurisdiction_owner": jurisdiction,
        "target_regions": [region],
        "informant": None,
        **lead,
    }
    return event


def required_items(f: Fields, name: str, target: str = "items") -> list[dict[str, Any]]:
    return list(f.req(name, target) or [])
