"""The WAL flusher: a SQLite WAL checkpointed from a thread of its own, so the writer's
commits never wait.

In WAL mode with synchronous=NORMAL a commit only appends to the WAL; the checkpoint that
copies the WAL back into the database file (and fsyncs it) runs, by default, inside the
commit that crosses 1,000 pages: for the sync, every batch, about 20 ms of each. The writer
here turns that off (`wal_autocheckpoint=0`) and this thread checkpoints instead, PASSIVE
(never blocking the writer), with the GIL released while SQLite works. Durability is the
same: a commit in the WAL is as safe as one in the database file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy import Engine

from agencydb.engine import sqlite_file

log = logging.getLogger(__name__)


class WalFlusher:
    @classmethod
    def for_engine(cls, engine: Engine) -> WalFlusher | None:
        """A started flusher for a SQLite file's writer; None for anything else."""
        file = sqlite_file(engine.url)
        return None if file is None else cls(file).start()

    def __init__(self, path: str, interval: float = 0.25) -> None:
        self._path, self._interval = path, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> WalFlusher:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Flush once more and end the thread (its connection gone); again: nothing."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while not self._stop.wait(self._interval):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # a busy or vanished file: the next round tries again
            log.warning("WAL checkpoint failed: %s", exc)
