"""The WAL flusher rewinds a WAL that readers keep in use (agencydb/wal.py)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from agencydb.wal import WalFlusher

pytestmark = pytest.mark.offline

PAGE = b"x" * 4000  # about a page a row


def _largest_wal(tmp_path: Path, restart_frames: int) -> int:
    """Write 600 one-row commits while a reader keeps a read transaction open nearly all the
    time, with the flusher checkpointing; the most frames the WAL held meanwhile (a row is
    two: its page and an overflow page)."""
    path = str(tmp_path / "agency.sqlite")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("PRAGMA busy_timeout=30000")
    writer.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, body BLOB)")
    stop = threading.Event()

    def read() -> None:  # a new snapshot every few milliseconds, like the sync's lookups
        reader = sqlite3.connect(path, isolation_level=None)
        while not stop.is_set():
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM t").fetchone()
            stop.wait(0.003)
            reader.execute("COMMIT")
        reader.close()

    reading = threading.Thread(target=read)
    reading.start()
    flusher = WalFlusher(path, interval=0.005, restart_frames=restart_frames).start()
    largest = 0
    try:
        for n in range(600):
            writer.execute("INSERT INTO t VALUES (?, ?)", (n, PAGE))
            time.sleep(0.002)  # commits apart, as the sync's batches are
            if n % 20 == 0:
                largest = max(largest, _frames(writer))
    finally:
        stop.set()
        reading.join()
        flusher.stop()
    assert writer.execute("SELECT count(*) FROM t").fetchone() == (600,)
    writer.close()
    return largest


def _frames(conn: sqlite3.Connection) -> int:
    # A PASSIVE checkpoint's second column: the frames in the WAL now.
    return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_a_wal_in_constant_use_is_rewound_past_its_limit(tmp_path: Path) -> None:
    assert _largest_wal(tmp_path, restart_frames=100) < 300


def test_without_the_limit_it_grows_with_every_commit(tmp_path: Path) -> None:
    # The reason for the limit: PASSIVE alone copies every frame back, and the WAL still
    # grows, since a reader is nearly always on it when the writer could rewind it.
    assert _largest_wal(tmp_path, restart_frames=10**9) > 500
