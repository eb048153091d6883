"""What crosses to another region's cluster, marked by the producer in a signed header.

In a two-region deployment (docs/regions.md) MirrorMaker 2 copies each region's shared topics
to the other cluster, and its Filter transform drops every record without the header
`casebus.share.<other region's code>`: so an event its owner did not share with the other
region never reaches that cluster, not even as bytes. The producer sets the header from the
event's own fields, by the same rules the sync's subscriptions apply (casebus/filtering.py):

- H3 (police only) stays at home, whoever it names;
- an agency named in `shared_with` takes the event to that agency's region;
- except under H2 (named agencies only), so do the event's `region` and a region code in
  `shared_with`.

The header is covered by the event's signature like every other, so nobody on the way can add
or remove it without the event being refused. Outside a two-region deployment there is no
header: single-cluster bytes stay as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from casebus.config import Settings

SHARE_HEADER_PREFIX = "casebus.share."


def share_header(region_code: str) -> str:
    """The header that lets an event cross to `region_code`'s cluster."""
    return SHARE_HEADER_PREFIX + region_code


class Crossing:
    """The regions, other than its owner's, an event is shared with."""

    def __init__(self, settings: Settings) -> None:
        clustered = {r.code for r in settings.regions if r.cluster is not None}
        self._regions = clustered if settings.home is not None else set()
        self._region_of = {a.code: a.region for a in settings.agencies}

    @property
    def active(self) -> bool:
        return bool(self._regions)

    def regions(self, event: Mapping[str, Any]) -> list[str]:
        if not self._regions or event["handling"] == "H3":
            return []
        shared = [str(s) for s in event["shared_with"]]
        found = {self._region_of[s] for s in shared if s in self._region_of}
        if event["handling"] != "H2":
            found.update(s for s in shared if s in self._regions)
            found.add(str(event["region"]))
        home = self._region_of.get(str(event["owner"]), str(event["region"]))
        return sorted((found & self._regions) - {home})

    def headers(self, event: Mapping[str, Any]) -> list[tuple[str, bytes]]:
        return [(share_header(r), b"1") for r in self.regions(event)]
