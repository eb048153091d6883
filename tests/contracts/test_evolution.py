"""Every current topic schema must read every kept version (BACKWARD_TRANSITIVE)."""

from __future__ import annotations

import pytest

from casebus.contracts.compatibility import compatibility_problems, parse_avro
from casebus.contracts.schemas import (
    TOPIC_SCHEMAS,
    history_versions,
    schema_for_topic,
    subject_for_topic,
)

pytestmark = pytest.mark.offline


@pytest.mark.parametrize("topic", sorted(TOPIC_SCHEMAS))
def test_current_schema_reads_every_kept_version(topic: str) -> None:
    kept = history_versions(subject_for_topic(topic))
    assert kept, f"no history kept for {topic}; add schemas/history/<subject>/v1.avsc"
    current = parse_avro(schema_for_topic(topic))
    olds = [parse_avro(schema) for _, schema in kept]
    assert compatibility_problems(current, olds, "BACKWARD_TRANSITIVE") == []


@pytest.mark.parametrize("topic", sorted(TOPIC_SCHEMAS))
def test_latest_kept_version_is_the_current_schema(topic: str) -> None:
    """A schema change must be recorded as a new history version."""
    _, latest = history_versions(subject_for_topic(topic))[-1]
    assert parse_avro(latest) == parse_avro(schema_for_topic(topic))


def test_checker_catches_a_breaking_change() -> None:
    """A new required field without a default breaks old data: the check must say so."""
    old = schema_for_topic("casebus.penalty")
    new = schema_for_topic("casebus.penalty")
    new["fields"].append({"name": "new_required", "type": "string"})
    problems = compatibility_problems(parse_avro(new), [parse_avro(old)], "BACKWARD_TRANSITIVE")
    assert problems and "new_required" in problems[0]


def test_adding_an_optional_field_is_compatible() -> None:
    old = schema_for_topic("casebus.lead")
    new = schema_for_topic("casebus.lead")
    new["fields"].append({"name": "extra", "type": ["null", "string"], "default": None})
    assert compatibility_problems(parse_avro(new), [parse_avro(old)], "BACKWARD_TRANSITIVE") == []


def test_new_event_type_symbol_is_read_by_old_readers_as_unknown() -> None:
    """The enum default keeps FORWARD compatibility when an event type is added."""
    old = schema_for_topic("casebus.action")
    new = schema_for_topic("casebus.action")
    new["fields"][1]["type"]["symbols"].append("CASE_MERGED")
    assert compatibility_problems(parse_avro(new), [parse_avro(old)], "FULL_TRANSITIVE") == []
