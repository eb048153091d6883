"""Which fields of an event are personal: one walk over the resolved schema model.

A field tagged `"confluent:tags": ["PII"]` is personal. A string (or nullable string) field
so tagged is a personal value, sealed on its own; a record so tagged (the informant) is a
person: each of its tagged fields is a personal value, its untagged ones (whether the
informant asked for confidentiality) stay clear. Whose value it is, the subject whose data
key seals it, is named by `"casebus.subject"`: the sibling fields whose first non-empty value
identifies the person (an identity number, else a phone number, else a name); without it,
the value itself. A tagged field of any other shape (an array, a number) is a schema error:
it would otherwise travel in clear.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from casebus.contracts.model import Array, Field, Map, Node, Primitive, Record, SchemaError, Union
from casebus.contracts.model import resolve as resolve_schema
from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic

TAG = "PII"
SUBJECT = "casebus.subject"


@dataclass(frozen=True, slots=True)
class PersonalField:
    path: tuple[str, ...]  # from the event's root: ("lead", "informant", "phone")
    subject: tuple[str, ...]  # sibling fields identifying the person, first non-empty wins

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    @property
    def name(self) -> str:
        return self.path[-1]

    def parent(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """The record (dict) holding this field in `event`, or None where it is absent."""
        node: Any = event
        for step in self.path[:-1]:
            node = node.get(step) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else None


def is_tagged(f: Field) -> bool:
    return TAG in (f.json.get("confluent:tags") or ())


def personal_fields(root: Node) -> tuple[PersonalField, ...]:
    """Every personal value under `root` (an event's record), in schema order."""
    return tuple(_walk(root, (), set()))


def _walk(node: Node, path: tuple[str, ...], seen: set[int]) -> Iterator[PersonalField]:
    for record in _records(node):
        if id(record) in seen:
            continue
        seen.add(id(record))
        for f in record.fields:
            here = (*path, f.name)
            if is_tagged(f):
                yield from _tagged(f, here)
            else:
                yield from _walk(f.type, here, seen)
        seen.discard(id(record))
    if isinstance(node, Array | Map):
        inner = node.items if isinstance(node, Array) else node.values
        if any(True for _ in _walk(inner, path, seen)):
            raise SchemaError(f"{'.'.join(path)}: personal fields inside a list are not supported")


def _tagged(f: Field, path: tuple[str, ...]) -> Iterator[PersonalField]:
    if _is_text(f.type):
        yield PersonalField(path, _subject(f))
        return
    records = list(_records(f.type))
    if not records:
        raise SchemaError(f"{'.'.join(path)}: a PII field must be a string or a record")
    for record in records:
        for inner in record.fields:
            if not is_tagged(inner):
                continue
            if not _is_text(inner.type):
                raise SchemaError(f"{'.'.join(path)}.{inner.name}: a PII value must be a string")
            yield PersonalField((*path, inner.name), _subject(inner))


def _subject(f: Field) -> tuple[str, ...]:
    named = f.json.get(SUBJECT)
    if named is None:
        return (f.name,)
    return (named,) if isinstance(named, str) else tuple(named)


def _is_text(node: Node) -> bool:
    branches = node.others if isinstance(node, Union) else (node,)
    return (
        len(branches) == 1 and isinstance(branches[0], Primitive) and branches[0].kind == "string"
    )


def _records(node: Node) -> Iterator[Record]:
    if isinstance(node, Record):
        yield node
    elif isinstance(node, Union):
        for branch in node.others:
            if isinstance(branch, Record):
                yield branch


@cache
def for_topic(shared_topic: str) -> tuple[PersonalField, ...]:
    """The personal values of a shared topic's events (casebus.penalty, ...)."""
    return personal_fields(resolve_schema(schema_for_topic(shared_topic)))


@cache
def by_parent(shared_topic: str) -> tuple[tuple[tuple[str, ...], tuple[PersonalField, ...]], ...]:
    """A shared topic's personal values grouped by the record holding them (the path to it
    from the event's root), in schema order: each record is reached once per event."""
    groups: dict[tuple[str, ...], list[PersonalField]] = {}
    for f in for_topic(shared_topic):
        groups.setdefault(f.path[:-1], []).append(f)
    return tuple((path, tuple(fields)) for path, fields in groups.items())


def every_topic() -> dict[str, tuple[PersonalField, ...]]:
    return {topic: for_topic(topic) for topic in TOPIC_SCHEMAS}


# A name identifies a person only when nothing else does: an erasure cannot name them by it.
NOT_AN_ALIAS = frozenset({"name"})


def identifiers(f: PersonalField, parent: Mapping[str, Any]) -> list[str]:
    """Who the value belongs to: the first non-empty of its subject fields (the subject),
    then the other non-empty ones an erasure may name the person by (aliases)."""
    found = [
        (name, value)
        for name in f.subject
        if isinstance(value := parent.get(name), str) and value.strip()
    ]
    if not found:
        return []
    return [found[0][1], *(v for name, v in found[1:] if name not in NOT_AN_ALIAS)]
