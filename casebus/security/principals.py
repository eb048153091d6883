"""The principals config implies: one per agency connector, agency sync and platform, and one
each for the feeds service, ingest, the registry, replay (read-only admin) and the super user.

Every process authenticates as the principal of its job (`casebus sync run X` as `sync.X`);
the ACLs (casebus/security/acls.py) give each exactly what that job needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from casebus.config import Settings

Role = Literal[
    "admin", "connector", "ingest", "sync", "feeds", "platform", "registry", "replay", "mirror"
]

FEEDS = "feeds"
INGEST = "ingest"
REGISTRY = "registry"
REPLAY = "replay"  # replays, `casebus status`: reads everything, writes nothing
MIRROR = "mirror"  # MirrorMaker 2 between two regions' clusters (services/mirror/)


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    subject: str = ""  # the agency or platform code it acts for

    @property
    def kafka(self) -> str:
        """The name Kafka's ACLs use."""
        return f"User:{self.name}"


def connector(owner: str) -> str:
    return f"connector.{owner}"


def sync(agency: str) -> str:
    return f"sync.{agency}"


def platform(feed_name: str) -> str:
    return f"platform.{feed_name}"


def admin(settings: Settings) -> str:
    return settings.kafka.security.admin


def all_principals(settings: Settings) -> list[Principal]:
    found: list[Principal] = [Principal(admin(settings), "admin")]
    owners = sorted({c.owner for c in settings.connectors})
    found += [Principal(connector(o), "connector", o) for o in owners]
    found += [Principal(sync(s.agency), "sync", s.agency) for s in settings.sync.subscriptions]
    found += [Principal(platform(p.feed_name), "platform", p.code) for p in settings.platforms]
    found += [
        Principal(FEEDS, "feeds"),
        Principal(INGEST, "ingest"),
        Principal(REGISTRY, "registry"),
        Principal(REPLAY, "replay"),
    ]
    if settings.home is not None:  # a two-region deployment, in one of its regions
        found.append(Principal(MIRROR, "mirror"))
    return found


def by_name(settings: Settings) -> dict[str, Principal]:
    return {p.name: p for p in all_principals(settings)}
