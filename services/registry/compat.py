"""Schema parsing, identity and compatibility for the registry.

A schema's identity is its JSON with keys sorted and no whitespace: the same schema
registered with different formatting gets the same id. Compatibility is judged by the
Apache `avro` checker (casebus.contracts.compatibility), as the evolution test does.
"""

from __future__ import annotations

import json
from functools import lru_cache

import avro.schema

from casebus.contracts.compatibility import COMPATIBILITY_LEVELS, compatibility_problems


class InvalidSchema(ValueError):
    """Not a valid Avro schema (42201)."""


def normalise(text: str) -> tuple[str, str]:
    """(stored text, identity key) of a schema; InvalidSchema if it does not parse."""
    try:
        document = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InvalidSchema(f"schema is not JSON: {exc}") from exc
    stored = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    try:
        parsed(stored)
    except Exception as exc:
        raise InvalidSchema(f"invalid Avro schema: {exc}") from exc
    return stored, json.dumps(document, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=1024)
def parsed(text: str) -> avro.schema.Schema:
    return avro.schema.parse(text)


def problems(new: str, existing: list[str], level: str) -> list[str]:
    """Why `new` may not follow `existing` (oldest first) under `level`; empty if it may."""
    return compatibility_problems(parsed(new), [parsed(old) for old in existing], level)


def valid_level(level: object) -> bool:
    return isinstance(level, str) and level in COMPATIBILITY_LEVELS
