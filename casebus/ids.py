"""Typed ids for what is passed around as strings: the type says which string it is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NewType, Protocol

AgencyCode = NewType("AgencyCode", str)  # 510500-SAMR; a platform code too (PLATFORM-JD)
CaseId = NewType("CaseId", str)
# A record's family, its `kind` column in an agency database.
RecordKind = Literal["penalty", "lead", "transfer", "action", "case"]
KINDS: tuple[RecordKind, ...] = ("penalty", "lead", "transfer", "action", "case")


class ConsumedRecord(Protocol):
    """What the pipeline reads of a Kafka record: kafka-python's ConsumerRecord, or the
    worker's RawRecord (pipeline/items.py)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]] | None: ...
