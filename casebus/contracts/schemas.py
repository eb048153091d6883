"""Load the Avro contracts from `schemas/` (one `.avsc` per named type).

Each shared topic has one value schema (TopicNameStrategy, subject `<topic>-value`). The
top-level record references other named types by full name; `schema_for_topic` inlines
them (each defined once, at first use) so the result can be registered as a single schema.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema

from casebus.config import PROJECT_ROOT
from casebus.contracts.model import full_name, inlined, resolve
from casebus.topics import ACTION_TOPIC, LEAD_TOPIC, PENALTY_TOPIC

SCHEMA_DIR = PROJECT_ROOT / "schemas"
HISTORY_DIR = SCHEMA_DIR / "history"
NAMESPACE = "cn.casebus"

TOPIC_SCHEMAS: dict[str, str] = {
    PENALTY_TOPIC: "PenaltyEvent",
    LEAD_TOPIC: "LeadEvent",
    ACTION_TOPIC: "ActionEvent",
}


def subject_for_topic(topic: str) -> str:
    """Confluent TopicNameStrategy subject of the topic's value schema."""
    return f"{topic}-value"


@cache
def _named_types(directory: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """Every `.avsc` in the directory, by full name."""
    types: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.avsc")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        full = full_name(schema["name"], schema.get("namespace", NAMESPACE))
        if path.stem != schema["name"]:
            raise ValueError(f"{path}: file name must match the record name {schema['name']!r}")
        types[full] = schema
    return types


def schema_for_record(name: str) -> dict[str, Any]:
    """The named type as one self-contained schema (references inlined); a fresh copy."""
    return copy.deepcopy(_schema_for_record(name))


@cache
def _schema_for_record(name: str) -> dict[str, Any]:
    # Resolved as one model (casebus.contracts.model), written back self-contained.
    result: dict[str, Any] = inlined(resolve(full_name(name, NAMESPACE), known=_named_types()))
    return result


def schema_for_topic(topic: str) -> dict[str, Any]:
    """The full value schema of a shared topic (JSON, references inlined), for registering."""
    return schema_for_record(_record_name(topic))


def schema_text_for_topic(topic: str) -> str:
    """The value schema as compact JSON text, as it is registered."""
    return json.dumps(_schema_for_record(_record_name(topic)), ensure_ascii=False)


@cache
def parsed_schema_for_topic(topic: str) -> Any:
    """The fastavro-parsed value schema of a topic (cached; do not mutate)."""
    return parse_schema(schema_for_record(_record_name(topic)))


def _record_name(topic: str) -> str:
    try:
        return TOPIC_SCHEMAS[topic]
    except KeyError:
        known = ", ".join(sorted(TOPIC_SCHEMAS))
        raise KeyError(f"topic {topic!r} has no value schema; known: {known}") from None


def history_versions(subject: str) -> list[tuple[int, dict[str, Any]]]:
    """Kept versions of a subject from schemas/history/<subject>/v<N>.avsc, oldest first."""
    folder = HISTORY_DIR / subject
    found = []
    for path in folder.glob("v*.avsc"):
        version = int(path.stem[1:])
        found.append((version, json.loads(path.read_text(encoding="utf-8"))))
    return sorted(found, key=lambda item: item[0])
