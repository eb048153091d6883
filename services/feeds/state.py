"""What each platform's feed holds, as the feeds service knows it: one entry per lead.

The service keeps it in memory and writes every change to a compacted changelog topic in
the same Kafka transaction as the feed records and the consumed offsets, so the changelog
always agrees with the feeds; at start it is read back to its end (read_committed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

LeadKey = str  # "owner/record_id": the feed's record key


@dataclass(frozen=True, slots=True)
class Seen:
    """The latest revision of a lead the service forwarded or decided on, and who holds it."""

    revision: int
    digest: str
    holders: frozenset[str]  # platform codes whose feed holds this revision

    def to_bytes(self) -> bytes:
        return orjson.dumps({"r": self.revision, "d": self.digest, "p": sorted(self.holders)})

    @classmethod
    def from_bytes(cls, data: bytes) -> Seen:
        raw = orjson.loads(data)
        return cls(int(raw["r"]), str(raw["d"]), frozenset(raw["p"]))


class FeedState:
    """Committed entries, plus the pending changes of the transaction in progress."""

    def __init__(self, entries: Mapping[LeadKey, Seen] | None = None) -> None:
        self._committed: dict[LeadKey, Seen] = dict(entries or {})
        self._pending: dict[LeadKey, Seen] = {}

    def get(self, key: LeadKey) -> Seen | None:
        found = self._pending.get(key)
        return found if found is not None else self._committed.get(key)

    def put(self, key: LeadKey, seen: Seen) -> None:
        self._pending[key] = seen

    def commit(self) -> None:
        self._committed.update(self._pending)
        self._pending.clear()

    def abort(self) -> None:
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._committed)

    def holders_count(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for seen in self._committed.values():
            for code in seen.holders:
                out[code] = out.get(code, 0) + 1
        return out

    @classmethod
    def restore(cls, records: Iterable[tuple[bytes, bytes | None]]) -> FeedState:
        """From changelog records (key, value) in offset order: the last value wins."""
        entries: dict[LeadKey, Seen] = {}
        for key, value in records:
            if value is None:
                entries.pop(key.decode(), None)
            else:
                entries[key.decode()] = Seen.from_bytes(value)
        return cls(entries)
