"""The chain head, published: evidence outside the agency database of what its log held.

Sync (every `provenance.audit_interval_seconds` and when it stops) and replay (when it is
done) publish the head of the database's event-log chain to the audit topic, keyed by the
agency and signed with the agency's key, so that an admin who rewrites the whole chain,
hashes and all, no longer matches what was published (`casebus audit verify`).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from agencydb.chain import Head, read_head
from casebus.config import Settings
from casebus.kafka.clients import make_producer
from casebus.provenance.keys import load_signing_key
from casebus.provenance.signing import Signer

log = logging.getLogger(__name__)

CONTENT_TYPE = b"application/vnd.casebus.audit-head+json"


@dataclass(frozen=True)
class PublishedHead:
    agency: str
    chain_id: str
    position: int
    hash: str
    rows: int
    published_at: str  # ISO 8601, UTC

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> PublishedHead:
        body = json.loads(data)
        return cls(**{k: body[k] for k in cls.__dataclass_fields__})


class MissingAuditTopic(Exception):
    """The sync has nowhere to publish its chain heads."""


class HeadPublisher:
    """Publishes the head when it moved since the last publication."""

    def __init__(self, settings: Settings, agency: str, engine: Engine, principal: str) -> None:
        self.agency = agency
        self.topic = settings.provenance.audit_topic
        self._engine = engine
        self._signer = Signer(load_signing_key(settings, agency))  # MissingKey at start
        self._producer: KafkaProducer = make_producer(
            settings, client_id=f"casebus-audit-{agency}", principal=principal, max_block_ms=10_000
        )
        try:  # fail at start, not at every head
            self._producer.partitions_for(self.topic)
        except KafkaError as exc:
            self._producer.close(timeout=0)
            raise MissingAuditTopic(
                f"cannot publish chain heads to {self.topic}: {exc!r} (`casebus topics "
                f"ensure` creates the topic; the ACLs let the sync write it)"
            ) from exc
        self._last: Head | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self) -> PublishedHead | None:
        """Publish the current head (None: unchanged, or empty). Raises KafkaError or
        DBAPIError; `start`'s thread logs and retries them."""
        with self._engine.connect() as conn:
            head = read_head(conn)
        if head is None or head == self._last or head.rows == 0:
            return None
        published = PublishedHead(
            self.agency,
            head.chain_id,
            head.position,
            head.hash,
            head.rows,
            datetime.now(UTC).isoformat(),
        )
        key, value = self.agency.encode(), published.to_bytes()
        headers = self._signer.sign(self.topic, key, value, [("content-type", CONTENT_TYPE)])
        self._producer.send(self.topic, key=key, value=value, headers=headers)
        self._producer.flush(timeout=30)
        self._last = head
        log.info("published chain head of %s: position %d", self.agency, head.position)
        return published

    def start(self, interval_seconds: float) -> HeadPublisher:
        def loop() -> None:
            while not self._stop.wait(interval_seconds):
                self._publish_logged()

        self._thread = threading.Thread(target=loop, name="audit-heads", daemon=True)
        self._thread.start()
        return self

    def _publish_logged(self) -> None:
        try:
            self.publish()
        except (KafkaError, DBAPIError) as exc:  # evidence is published late, never lost
            log.warning("chain head of %s not published (next time): %s", self.agency, exc)

    def close(self) -> None:
        """Stop the thread, publish the final head, close the producer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._publish_logged()
        self._producer.close(timeout=5)
