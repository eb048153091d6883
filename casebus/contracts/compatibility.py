"""Reader/writer compatibility through the Apache `avro` package's checker.

Used by the schema-evolution test and by the registry, so both judge the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, get_args

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from casebus.config import CompatibilityLevel

COMPATIBILITY_LEVELS: tuple[str, ...] = get_args(CompatibilityLevel)


def parse_avro(schema: str | dict[str, Any]) -> avro.schema.Schema:
    """Parse with the Apache parser (raises avro.errors.SchemaParseException if invalid)."""
    text = schema if isinstance(schema, str) else json.dumps(schema)
    return avro.schema.parse(text)


def reader_problems(reader: avro.schema.Schema, writer: avro.schema.Schema) -> list[str]:
    """Why `reader` cannot read data written with `writer`; empty when it can."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    details = zip(result.incompatibilities, result.messages, result.locations, strict=False)
    found = [f"{kind.value}: {msg} at {loc}" for kind, msg, loc in details]
    return found or ["incompatible"]


def compatibility_problems(
    new: avro.schema.Schema, existing: Iterable[avro.schema.Schema], level: str
) -> list[str]:
    """Problems registering `new` after `existing` (oldest first) under a Confluent level."""
    if level not in COMPATIBILITY_LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}")
    olds = list(existing)
    if level == "NONE" or not olds:
        return []
    against = olds if level.endswith("_TRANSITIVE") else olds[-1:]
    problems: list[str] = []
    for index, old in enumerate(against):
        tag = f"version #{index + 1} of {len(against)} checked"
        if level.startswith(("BACKWARD", "FULL")):
            problems += [f"new schema cannot read {tag}: {p}" for p in reader_problems(new, old)]
        if level.startswith(("FORWARD", "FULL")):
            problems += [f"{tag} cannot read the new one: {p}" for p in reader_problems(old, new)]
    return problems
