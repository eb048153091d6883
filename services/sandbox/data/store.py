"""Record histories on a sandbox clock, and the "changed since" query every system serves.

Each record is a list of versions, each appearing at a tick. At tick T a record shows its
latest version with tick <= T. Every version gets a global change sequence number (by
tick, then generation order); `changed_since(seq)` lists the records whose visible version
has a higher number, oldest change first. Tests move the clock with POST /admin/tick.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

Body = dict[str, Any]


@dataclass
class Version:
    tick: int
    body: Body
    seq: int = 0


@dataclass
class History:
    record_id: str
    kind: str
    versions: list[Version] = field(default_factory=list)
    defect: str | None = None  # why the record is invalid, if it was made so

    def add(self, tick: int, body: Body) -> None:
        self.versions.append(Version(tick, body))

    def visible(self, tick: int) -> Version | None:
        seen = [v for v in self.versions if v.tick <= tick]
        return seen[-1] if seen else None


class SystemData:
    """All records of one source system, numbered in change order."""

    def __init__(self, name: str, histories: list[History]) -> None:
        self.name = name
        self.histories = histories
        order = sorted(
            ((v.tick, i, j) for i, h in enumerate(histories) for j, v in enumerate(h.versions))
        )
        for seq, (_, i, j) in enumerate(order, start=1):
            histories[i].versions[j].seq = seq
        self._lock = threading.Lock()
        self._cache: tuple[int, list[tuple[History, Version]]] | None = None

    def current(self, tick: int) -> list[tuple[History, Version]]:
        with self._lock:
            if self._cache is None or self._cache[0] != tick:
                rows = [(h, v) for h in self.histories if (v := h.visible(tick)) is not None]
                rows.sort(key=lambda row: row[1].seq)
                self._cache = (tick, rows)
            return self._cache[1]

    def changed_since(self, tick: int, seq: int) -> list[tuple[History, Version]]:
        return [row for row in self.current(tick) if row[1].seq > seq]

    def truth(self, tick: int) -> list[dict[str, Any]]:
        """What a complete, correct pull at this tick must yield (for tests)."""
        return [
            {
                "id": h.record_id,
                "kind": h.kind,
                "version": len([x for x in h.versions if x.tick <= tick]),
                "seq": v.seq,
                "defect": h.defect,
                "body": v.body,
            }
            for h, v in self.current(tick)
        ]
