"""Serde benchmark: casebus validate/encode/decode beside bare fastavro, same record, same run.

    .venv/bin/python bench/serde.py [--events N]

The record is a realistic penalty decision with Chinese text. The registry is replaced by a
pre-seeded client cache (benchmark only), so no network time is measured.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable

from fastavro import schemaless_reader, schemaless_writer

from casebus.config import load_settings
from casebus.contracts.samples import sample_penalty_event
from casebus.contracts.schemas import parsed_schema_for_topic, schema_for_topic
from casebus.contracts.validation import validate_event
from casebus.registry import RegistryClient
from casebus.serde import AvroDeserializer, AvroSerializer, SerializationContext

TOPIC = "casebus.penalty"


def rate(func: Callable[[], object], events: int, repeats: int = 5) -> float:
    """Best events/s over a few repeats (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(events):
            func()
        best = min(best, time.perf_counter() - start)
    return events / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    n = parser.parse_args().events

    settings = load_settings()
    event = sample_penalty_event()
    parsed = parsed_schema_for_topic(TOPIC)
    client = RegistryClient("http://registry.invalid")
    client.prime(f"{TOPIC}-value", schema_for_topic(TOPIC), 1)
    serializer = AvroSerializer(client, TOPIC)
    deserializer = AvroDeserializer(client, max_message_bytes=settings.validation.max_message_bytes)
    ctx = SerializationContext(TOPIC)
    framed = serializer(event, ctx)
    buf = io.BytesIO()
    schemaless_writer(buf, parsed, event)
    body = buf.getvalue()
    assert validate_event(TOPIC, event, settings=settings) == []

    def bare_write() -> bytes:
        out = io.BytesIO()
        schemaless_writer(out, parsed, event)
        return out.getvalue()

    def produce_path() -> bytes:
        if validate_event(TOPIC, event, settings=settings):
            raise AssertionError("sample must be valid")
        return serializer(event, ctx)

    rows = [
        ("validate only", rate(lambda: validate_event(TOPIC, event, settings=settings), n), None),
        ("bare fastavro schemaless_writer", rate(bare_write, n), None),
        ("casebus encode + frame", rate(lambda: serializer(event, ctx), n), "writer"),
        ("casebus validate + encode + frame", rate(produce_path, n), "writer"),
        (
            "bare fastavro schemaless_reader",
            rate(lambda: schemaless_reader(io.BytesIO(body), parsed), n),
            None,
        ),
        (
            "casebus decode (unframe + read + checks)",
            rate(lambda: deserializer.decode(framed, ctx), n),
            "reader",
        ),
    ]
    baseline = {"writer": rows[1][1], "reader": rows[4][1]}
    print(f"penalty event: {len(framed)} bytes framed, {n} events per run, best of 5\n")
    print(f"{'operation':<42} {'events/s':>10} {'µs/event':>9}  vs bare")
    for name, per_second, against in rows:
        ratio = f"{per_second / baseline[against]:6.0%}" if against else "      "
        print(f"{name:<42} {per_second:>10,.0f} {1e6 / per_second:>9.1f}  {ratio}")


if __name__ == "__main__":
    main()
