"""Avro serializer and deserializer: callables `(obj, ctx)`, Confluent-framed values.

The subject is `<ctx.topic>-<ctx.field>` (TopicNameStrategy). Writer schemas are fetched
from the registry by id once and kept parsed; a decode must consume the whole body.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import validate

from casebus.contracts.schemas import schema_for_topic
from casebus.serde.compiled import compile_encoder
from casebus.serde.errors import (
    KeySerializationError,
    MalformedMessage,
    SchemaMismatch,
    SerdeError,
    TrailingBytes,
    TruncatedMessage,
    UnknownSchemaId,
    ValueSerializationError,
)
from casebus.serde.framing import HEADER_SIZE, header, unframe
from casebus.serde.reader import Read, Unreadable, compile_decoder, decode

log = logging.getLogger(__name__)


class SchemaRegistry(Protocol):
    """What the serde needs from a registry client (casebus.registry.RegistryClient)."""

    def register(self, subject: str, schema: dict[str, Any] | str) -> int: ...
    def lookup(self, subject: str, schema: dict[str, Any] | str) -> int | None: ...
    def get_schema(self, schema_id: int) -> str: ...


@dataclass(frozen=True, slots=True)
class SerializationContext:
    topic: str
    field: Literal["key", "value"] = "value"
    headers: list[tuple[str, bytes]] | None = None


@dataclass(frozen=True, slots=True)
class Decoded:
    schema_id: int
    value: dict[str, Any]


def _wrap(exc: SerdeError, ctx: SerializationContext) -> SerdeError:
    return KeySerializationError(exc) if ctx.field == "key" else ValueSerializationError(exc)


class AvroSerializer:
    """Encode an event dict for `topic`'s schema (or `schema`) as a framed Avro value."""

    def __init__(
        self,
        registry_client: SchemaRegistry,
        topic: str,
        *,
        auto_register: bool = True,
        schema: dict[str, Any] | None = None,
    ) -> None:
        self._registry = registry_client
        self._schema = schema if schema is not None else schema_for_topic(topic)
        self._text = json.dumps(self._schema, ensure_ascii=False)
        self._parsed = parse_schema(self._schema)
        self._compiled = compile_encoder(self._schema)  # None: fastavro writes every value
        self._auto_register = auto_register
        self._headers: dict[str, bytes] = {}  # subject -> frame header

    def __call__(self, obj: dict[str, Any], ctx: SerializationContext) -> bytes:
        try:
            head = self._headers.get(f"{ctx.topic}-{ctx.field}") or self._header_for(ctx)
            body = self._compiled(obj) if self._compiled is not None else None
            if body is not None:
                return head + body
            buf = io.BytesIO()
            buf.write(head)
            try:
                schemaless_writer(buf, self._parsed, obj)
            except Exception as exc:
                raise SchemaMismatch(self._explain(obj, exc), topic=ctx.topic) from exc
            return buf.getvalue()
        except SerdeError as exc:
            raise _wrap(exc, ctx) from exc

    def schema_id(self, topic: str, field: Literal["key", "value"] = "value") -> int:
        """The id this serializer frames values for `topic` with (registering if needed)."""
        head = self._headers.get(f"{topic}-{field}") or self._header_for(
            SerializationContext(topic, field)
        )
        return int.from_bytes(head[1:HEADER_SIZE], "big")

    def _header_for(self, ctx: SerializationContext) -> bytes:
        subject = f"{ctx.topic}-{ctx.field}"
        try:
            if self._auto_register:
                schema_id: int | None = self._registry.register(subject, self._text)
            else:
                schema_id = self._registry.lookup(subject, self._text)
        except SerdeError as exc:
            exc.topic = exc.topic or ctx.topic
            raise
        if schema_id is None:
            raise UnknownSchemaId(f"schema is not registered under {subject}", topic=ctx.topic)
        log.debug("subject %s uses schema id %d", subject, schema_id)
        self._headers[subject] = header(schema_id)
        return self._headers[subject]

    def _explain(self, obj: object, exc: Exception) -> str:
        # Only on failure: ask the validator which field is wrong.
        try:
            validate(obj, self._parsed, raise_errors=True)
        except Exception as detail:
            return f"does not fit the schema: {detail}"
        return f"does not fit the schema: {type(exc).__name__}: {exc}"


class FixedIds:
    """A registry stand-in holding ids resolved elsewhere: lets a worker process frame
    values without a registry round trip. An unknown subject is an error, never a guess."""

    def __init__(self, ids: dict[str, int]) -> None:
        self._ids = dict(ids)

    def register(self, subject: str, schema: dict[str, Any] | str) -> int:
        found = self.lookup(subject, schema)
        if found is None:
            raise UnknownSchemaId(f"no schema id was resolved for {subject}")
        return found

    def lookup(self, subject: str, schema: dict[str, Any] | str) -> int | None:
        return self._ids.get(subject)

    def get_schema(self, schema_id: int) -> str:
        raise UnknownSchemaId(f"schema id {schema_id} is not held here")


class AvroDeserializer:
    """Decode a framed Avro value with its writer schema (from the registry, by id).

    With `reader_schema`, values are resolved to it (old events gain new fields' defaults);
    values written with the reader schema itself skip resolution (several times faster), and
    are read by a decoder generated for that schema (casebus.serde.reader), fastavro
    reading (or refusing) any value that decoder cannot.
    """

    def __init__(
        self,
        registry_client: SchemaRegistry,
        *,
        max_message_bytes: int,
        reader_schema: dict[str, Any] | None = None,
    ) -> None:
        self._registry = registry_client
        self._max = max_message_bytes
        self._reader_json = reader_schema
        self._reader = parse_schema(reader_schema) if reader_schema is not None else None
        # id -> (writer, reader or None: no resolution, generated decoder or None)
        self._writers: dict[int, tuple[Any, Any, Read | None]] = {}

    def __call__(self, data: bytes, ctx: SerializationContext) -> dict[str, Any]:
        return self.decode(data, ctx).value

    def decode(self, data: bytes, ctx: SerializationContext) -> Decoded:
        try:
            schema_id = unframe(data, topic=ctx.topic, max_message_bytes=self._max)
            known = self._writers.get(schema_id)
            if known is None:
                known = self._fetch(schema_id, ctx.topic)
            writer, reader, fast = known
            if fast is not None:
                try:
                    value, end = decode(fast, data, HEADER_SIZE)
                    if end == len(data) and isinstance(value, dict):
                        return Decoded(schema_id, value)
                except Unreadable:
                    pass  # fastavro reads it, or says why it cannot
            buf = io.BytesIO(data)
            buf.seek(HEADER_SIZE)
            try:
                value = schemaless_reader(buf, writer, reader)
            except EOFError as exc:
                raise TruncatedMessage(
                    f"Avro body ends early (schema id {schema_id}): {exc}", topic=ctx.topic
                ) from exc
            except Exception as exc:
                raise MalformedMessage(
                    f"cannot decode with schema id {schema_id}: {type(exc).__name__}: {exc}",
                    topic=ctx.topic,
                ) from exc
            end = buf.tell()
            if end != len(data):
                raise TrailingBytes(
                    f"{len(data) - end} bytes left after the Avro body (schema id {schema_id})",
                    topic=ctx.topic,
                )
        except SerdeError as exc:
            raise _wrap(exc, ctx) from exc
        if not isinstance(value, dict):
            raise _wrap(MalformedMessage("value is not a record", topic=ctx.topic), ctx)
        return Decoded(schema_id, value)

    def own_schema(self, schema_id: int) -> dict[str, Any] | None:
        """The reader schema, if values of `schema_id` (fetched already) are written with it
        and read by a generated decoder; None otherwise (or not fetched yet)."""
        known = self._writers.get(schema_id)
        if known is None or known[1] is not None or known[2] is None:
            return None
        return self._reader_json

    def _fetch(self, schema_id: int, topic: str) -> Any:
        try:
            text = self._registry.get_schema(schema_id)
        except SerdeError as exc:
            exc.topic = exc.topic or topic
            raise
        writer = json.loads(text)
        parsed = parse_schema(writer)
        reader = None if writer == self._reader_json else self._reader
        fast = compile_decoder(writer) if reader is None else None
        self._writers[schema_id] = (parsed, reader, fast)
        return parsed, reader, fast
