"""Durable checkpoints, one per connector, in SQLite under `<var_dir>/connectors/`.

A checkpoint is the source position (opaque text, the connector's own) after the last page
whose events the broker acknowledged. SQLite with synchronous=FULL: once `save` returns the
position survives a crash or power loss.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from casebus.events import utc_now


class CheckpointStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # scheduler threads share one store
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS checkpoint ("
            " connector TEXT PRIMARY KEY, position TEXT NOT NULL, saved_at TEXT NOT NULL)"
        )

    @classmethod
    def for_var_dir(cls, var_dir: Path) -> CheckpointStore:
        return cls(var_dir / "connectors" / "checkpoints.sqlite")

    def load(self, connector: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT position FROM checkpoint WHERE connector = ?", (connector,)
            ).fetchone()
        return None if row is None else str(row[0])

    def save(self, connector: str, position: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO checkpoint (connector, position, saved_at) VALUES (?, ?, ?)"
                " ON CONFLICT(connector) DO UPDATE SET position = excluded.position,"
                " saved_at = excluded.saved_at",
                (connector, position, utc_now().isoformat()),
            )

    def close(self) -> None:
        self._db.close()
