"""The connector contract: declare the source as class attributes, implement fetch and map.

    class Cyberspace(Connector):
        source_system = "cac-clue-system"
        topics = (LEAD_TOPIC, ACTION_TOPIC)
        schemas = ("LeadEvent", "ActionEvent")

        def fetch(self, checkpoint): ...   # pages of records changed since the checkpoint
        def map(self, record): ...         # one source record -> its events

The runner (connectors.runner) validates, publishes, rejects and checkpoints, the same for
every connector.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from casebus.config import ConnectorConfig, Settings
from casebus.contracts.validation import Violation
from casebus.events import Event, EventType, stable_event_id, utc_now
from connectors.http import SourceSession

SourceRecord = dict[str, Any]
_MICRO = Decimal("0.000001")  # money's quantum: decimal(18, 6)


@dataclass(frozen=True)
class Page:
    """One page of source records; `checkpoint` is the source position after it."""

    records: list[SourceRecord]
    checkpoint: str


class ConnectorError(Exception):
    """The connector cannot run (missing credentials, bad answer from the source)."""


class MappingError(Exception):
    """A source record cannot be mapped to events; carries every rule it broke."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.message}" for v in violations))


@dataclass
class Fields:
    """Reads a source record, collecting a Violation for every missing or malformed field
    instead of stopping at the first."""

    record: SourceRecord
    prefix: str = ""
    violations: list[Violation] = field(default_factory=list)

    def _missing(self, name: str, target: str) -> None:
        self.violations.append(
            Violation(self.prefix + target, "required", None, f"source field {name!r} is missing")
        )

    def req(self, name: str, target: str | None = None) -> Any:
        value = self.record.get(name)
        # `not value` first: the usual present value is truthy and skips the comparisons.
        if not value and (value is None or value == "" or value == []):
            self._missing(name, target or name)
        return value

    def opt(self, name: str) -> Any:
        value = self.record.get(name)
        return None if value == "" else value

    def day(self, name: str, target: str | None = None, *, required: bool = True) -> date | None:
        raw = self.req(name, target) if required else self.opt(name)
        if raw is None:
            return None
        try:
            return date.fromisoformat(str(raw)[:10])
        except ValueError:
            self.violations.append(
                Violation(self.prefix + (target or name), "date", raw, "not an ISO date")
            )
            return None

    def instant(self, name: str, target: str | None = None, *, required: bool = True) -> Any:
        raw = self.req(name, target) if required else self.opt(name)
        if raw is None:
            return None
        try:
            return parse_instant(raw)
        except ValueError:
            self.violations.append(
                Violation(self.prefix + (target or name), "timestamp", raw, "not an instant")
            )
            return None

    def money(self, name: str, target: str | None = None, *, scale: int = 1) -> Decimal | None:
        """A decimal amount; `scale` converts the source unit (e.g. yuan → 万元: 10000)."""
        raw = self.opt(name)
        if raw is None:
            return None
        try:
            return (Decimal(str(raw)) / scale).quantize(_MICRO)
        except InvalidOperation:
            self.violations.append(
                Violation(self.prefix + (target or name), "decimal", raw, "not a decimal number")
            )
            return None

    def done(self) -> None:
        if self.violations:
            raise MappingError(self.violations)


def parse_instant(raw: Any) -> datetime:
    """ISO text (naive means Beijing time), or epoch seconds/milliseconds, to UTC."""
    if isinstance(raw, int | float):
        seconds = raw / 1000 if raw > 10**11 else raw
        return _millis(datetime.fromtimestamp(seconds, tz=UTC))
    text = str(raw).replace(" ", "T")
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        # datetime.replace parses keywords: combine sets the zone in a fraction of the time.
        value = datetime.combine(value, value.time(), BEIJING)
    return _millis(value.astimezone(UTC))


def _millis(value: datetime) -> datetime:
    if value.microsecond % 1000 == 0:
        return value  # already whole milliseconds, as source timestamps mostly are
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


BEIJING = datetime.fromisoformat("2000-01-01T00:00:00+08:00").tzinfo


class Connector(ABC):
    """One source system, publishing as `config.owner`. Subclasses declare the contract."""

    source_system: ClassVar[str]  # e.g. "samr-case-system"
    topics: ClassVar[tuple[str, ...]]  # shared topics it writes
    schemas: ClassVar[tuple[str, ...]]  # their value schemas (schemas/<name>.avsc)
    handling: ClassVar[str] = "H1"
    # Keys of the source records holding personal values (at any depth): masked when an
    # invalid record goes to the rejects topic (casebus.personal.masking).
    personal_source: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ConnectorConfig, settings: Settings, http: SourceSession) -> None:
        self.config = config
        self.settings = settings
        self.http = http
        self.owner = config.owner
        self.region = config.owner.split("-", 1)[0] if config.owner[:1].isdigit() else ""
        self.producer_name = f"connector.{config.name}"
        self.base_url = config.base_url.rstrip("/")

    @abstractmethod
    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        """Pages of the records changed since `checkpoint` (None: from the beginning)."""

    @abstractmethod
    def map(self, record: SourceRecord) -> list[Event]:
        """The events one source record stands for; MappingError if it cannot be mapped."""

    @abstractmethod
    def record_key(self, record: SourceRecord) -> str:
        """The source's id of the record (the rejects topic's key)."""

    def credentials(self) -> str:
        name = self.config.credentials_env
        secret = os.environ.get(name, "") if name else ""
        if not secret:
            raise ConnectorError(f"{self.config.name}: environment variable {name!r} is not set")
        return secret

    def envelope(
        self,
        event_type: EventType,
        *,
        record_id: str,
        revision: int,
        case_id: str,
        occurred_at: datetime,
        shared_with: list[str],
        region: str | None = None,
        handling: str | None = None,
        owner: str | None = None,
    ) -> Event:
        owner = owner or self.owner
        return {
            # Same record, same revision, same type -> same id, so re-publishing after a
            # crash is recognisable downstream.
            "event_id": stable_event_id(owner, record_id, revision, event_type),
            "event_type": event_type.value,
            "occurred_at": occurred_at,
            "published_at": utc_now(),
            "owner": owner,
            "record_id": record_id,
            "revision": int(revision),
            "case_id": case_id,
            "region": region or self.region,
            "shared_with": shared_with,
            "handling": handling or self.handling,
            "producer": self.producer_name,
        }
