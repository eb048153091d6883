"""POST events over HTTP: authenticate, convert, validate, publish in one transaction.

Answers: 202 with the event ids once Kafka committed the batch (in one transaction with the
requests that waited beside it: services/ingest/producer.py); 401 unknown token; 403 an
event's owner is not the caller; 422 every failure of every event (index, field, rule);
503 Kafka or the registry is unavailable (nothing of the batch is visible; retry it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from casebus.claims import claim_header
from casebus.config import Settings
from casebus.contracts.samples import sample_penalty_event
from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic
from casebus.contracts.validation import Violation, validate_event
from casebus.events import (
    Event,
    EventType,
    event_key,
    stable_event_id,
    topic_for_event_type,
    utc_now,
)
from casebus.names import INGEST_TXN_PREFIX
from casebus.observability import metrics as m
from casebus.observability.http import RequestMetrics
from casebus.publish import Signers, event_headers, sealer_for, violation_json
from casebus.regions import Crossing
from casebus.registry.client import registry_for
from casebus.retry import RetryAfter
from casebus.security.principals import INGEST
from casebus.serde import AvroSerializer, SerdeError, SerializationContext
from services.ingest.convert import converter
from services.ingest.producer import KafkaUnavailable, Record, Sign, TransactionalPublisher
from services.ingest.settings import IngestSettings

DESCRIPTION = """
Agency systems push **one event** (a JSON object) or **a batch** (`{"events": [...]}`, at
most `ingest.max_batch`) to `POST /v1/events`, with `Authorization: Bearer <agency token>`.

Each event has the fields of its topic's Avro schema (`casebus.penalty`, `casebus.lead`,
`casebus.action`; the topic follows from `event_type`) except `event_id` and `published_at`,
which the endpoint sets (`event_id` is derived from owner, record_id, revision and
event_type, so a retried batch keeps its ids):

* dates `"2024-09-20"`; instants ISO 8601 with an offset, `"2024-09-20T08:00:00+08:00"`;
* decimals as strings, `"18.900000"` (amounts in 万元); nullable fields may be omitted;
* `event_type` as the symbol `PENALTY_ISSUED` or the code `penalty.issued`;
* `owner` must be the calling agency.

A batch is all-or-nothing (one Kafka transaction, shared with the batches that arrive while
the previous one commits). Answers: **202** `{"event_ids": [...]}`
after the broker committed; **401** bad token; **403** foreign owner; **422**
`{"errors": [{"index", "field", "rule", "value", "message"}]}` listing every failure;
**503** Kafka unavailable — nothing of the batch was written, send it again.
"""


# What a 503 asks the caller to wait before sending the batch again: a leader change on a
# replicated cluster takes a few seconds.
RETRY_AFTER_SECONDS = 5


def _example() -> dict[str, Any]:
    event = sample_penalty_event()
    for key in ("event_id", "published_at"):
        event.pop(key)
    return _jsonable(event)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value) if not isinstance(value, str | int | float | bool | type(None)) else value


def create_app(
    settings: Settings,
    *,
    topics: Mapping[str, str] | None = None,
    transactional_id: str | None = None,
) -> FastAPI:
    """The ingest app. `topics` maps shared topic names to the ones written (tests)."""
    names = {t: t for t in TOPIC_SCHEMAS} | dict(topics or {})
    registry = registry_for(settings, INGEST)
    serializers = {
        t: AvroSerializer(registry, names[t], schema=schema_for_topic(t)) for t in TOPIC_SCHEMAS
    }
    own = IngestSettings.of(settings)
    publisher = TransactionalPublisher(
        settings, transactional_id or f"{INGEST_TXN_PREFIX}-{own.host}-{own.port}"
    )
    prefix = own.token_env_prefix
    signers = Signers(settings)  # the caller's key signs its events (casebus.provenance)
    sealer = sealer_for(
        settings, INGEST
    )  # personal fields sealed before signing (casebus.personal)
    crossing = Crossing(settings)  # which events may cross to another region's cluster

    def framed(items: list[tuple[str, Event]]) -> list[Record]:
        """Sealed and serialized, under the shared topics' names (what signatures cover)."""
        out = []
        for shared, plain in items:
            event = sealer.seal(plain, shared)
            value = serializers[shared](event, SerializationContext(names[shared]))
            headers = event_headers(event, crossing) + claim_header(shared, value)
            out.append((shared, event_key(event), value, headers))
        return out

    def sign_for(caller: str) -> Sign:
        """Signs with the caller's key (casebus.provenance), in the committer: one signature
        for all the caller's records in a transaction; written under the topics' names."""

        def sign(records: Sequence[Record]) -> list[Record]:
            headers = signers(caller).sign_batch(records)
            return [
                (names[shared], key, value, h)
                for (shared, key, value, _), h in zip(records, headers, strict=True)
            ]

        return sign

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        publisher.close()  # its producer's network thread would outlive the app

    app = FastAPI(title="casebus ingest", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.publisher = publisher

    def caller(authorization: str | None) -> str | None:
        token = (authorization or "").removeprefix("Bearer ").strip().encode()
        found = None
        for code in [a.code for a in settings.agencies] + [p.code for p in settings.platforms]:
            expected = os.environ.get(prefix + code.replace("-", "_"), "").encode()
            # Compare with every configured token, in constant time each.
            if expected and hmac.compare_digest(token, expected):
                found = code
        return found

    @app.post(
        "/v1/events",
        status_code=202,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"type": "object", "description": "one event"},
                                {"type": "object", "properties": {"events": {"type": "array"}}},
                            ]
                        },
                        "example": {"events": [_example()]},
                    }
                },
            }
        },
    )
    async def post_events(
        request: Request, authorization: str | None = Header(None)
    ) -> JSONResponse:
        who = caller(authorization)
        if who is None:
            return JSONResponse({"detail": "unknown or missing bearer token"}, status_code=401)
        try:
            body = await request.json()
        except ValueError:
            return _errors(422, [(None, Violation("(body)", "json", None, "not JSON"))])
        raw = body["events"] if isinstance(body, dict) and "events" in body else [body]
        if not isinstance(raw, list) or not raw or len(raw) > own.max_batch:
            return _errors(
                422,
                [
                    (
                        None,
                        Violation(
                            "events",
                            "size",
                            None,
                            f"1 to {own.max_batch} events",
                        ),
                    )
                ],
            )
        foreign = [
            (
                i,
                Violation(
                    "owner", "owner", e.get("owner"), f"owner: you may publish only as {who}"
                ),
            )
            for i, e in enumerate(raw)
            if isinstance(e, dict) and e.get("owner") != who
        ]
        if foreign:
            return _errors(403, foreign)
        items, errors = _prepare(raw, settings, who)
        if errors:
            return _errors(422, errors)
        try:
            # Committed with the requests that wait beside it (group commit); answered only
            # once that transaction is committed.
            await asyncio.wrap_future(publisher.submit(framed(items), who, sign_for(who)))
        except (KafkaUnavailable, SerdeError, RetryAfter) as exc:  # a key service too
            return JSONResponse(
                {"detail": f"not accepted, retry: {exc}"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        m.INGEST_EVENTS.labels(who).inc(len(items))
        return JSONResponse({"event_ids": [str(e["event_id"]) for _, e in items]}, status_code=202)

    app.state.publisher = publisher
    # Last: outermost, it counts every answer, those of the middlewares above included.
    app.add_middleware(RequestMetrics, service="ingest", routes=app.routes)
    return app


def _prepare(
    raw: list[Any], settings: Settings, who: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[int | None, Violation]]]:
    items: list[tuple[str, dict[str, Any]]] = []
    errors: list[tuple[int | None, Violation]] = []
    for i, item in enumerate(raw):
        found: list[Violation] = []
        try:
            event_type = (
                EventType.from_code(item["event_type"])
                if "." in str(item.get("event_type"))
                else EventType(item.get("event_type"))
            )
        except (ValueError, TypeError, AttributeError):
            errors.append(
                (
                    i,
                    Violation(
                        "event_type",
                        "code",
                        item.get("event_type"),
                        "event_type: not an event type",
                    ),
                )
            )
            continue
        topic = topic_for_event_type(event_type)
        event = converter(topic).event(item, found)
        event["event_type"] = event_type.value
        event["published_at"] = utc_now()
        event["event_id"] = stable_event_id(
            who, str(event.get("record_id")), int(event.get("revision") or 0), event_type
        )
        if not found:
            found = validate_event(topic, event, settings=settings)
        errors.extend((i, v) for v in found)
        items.append((topic, event))
    return items, errors


def _errors(status: int, errors: Sequence[tuple[int | None, Violation]]) -> JSONResponse:
    body = [{"index": i, **violation_json(v)} for i, v in errors]
    return JSONResponse({"errors": body}, status_code=status)
