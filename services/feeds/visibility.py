"""Who may see a lead: the one rule, decided by the lead's owner.

A lead reaches platform P's feed only when all of these hold:
1. it is not police-only (handling H3 never leaves the agencies) and not revoked;
2. it concerns P: P is the lead's platform, or its shop or a listing is on one of P's domains;
3. its owner shared it with P: handling H0 (public), or P named in `shared_with`, or P is the
   owner itself (a platform sees the leads it reported).
Anything else reaches no platform (deny by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from casebus.config import Platform

PUBLIC, POLICE_ONLY = "H0", "H3"
WITHDRAWN_STATUSES = frozenset({"REVOKED"})


def _host(url: object) -> str:
    try:
        return (urlsplit(str(url)).hostname or "").lower()
    except ValueError:
        return ""


def _on(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def hosts(lead: Mapping[str, Any]) -> frozenset[str]:
    """The hosts of the lead's shop and listing URLs."""
    urls = [lead.get("shop_url"), *(item.get("listing_url") for item in lead.get("items") or ())]
    return frozenset(_host(url) for url in urls if url)


def concerns(lead: Mapping[str, Any], platform: Platform, on: frozenset[str]) -> bool:
    """`on`: the lead's hosts (hosts(lead))."""
    return lead.get("platform") == platform.code or any(_on(h, platform.domains) for h in on)


def shared_with(event: Mapping[str, Any], platform: Platform) -> bool:
    return (
        event.get("handling") == PUBLIC
        or platform.code in (event.get("shared_with") or ())
        or event.get("owner") == platform.code
    )


def audience(event: Mapping[str, Any], platforms: Iterable[Platform]) -> frozenset[str]:
    """The codes of the platforms that may see this lead event."""
    lead = event.get("lead") or {}
    if event.get("handling") == POLICE_ONLY or lead.get("status") in WITHDRAWN_STATUSES:
        return frozenset()
    sharing = [p for p in platforms if shared_with(event, p)]  # cheap, and usually empty
    if not sharing:
        return frozenset()
    on = hosts(lead)
    return frozenset(p.code for p in sharing if concerns(lead, p, on))
