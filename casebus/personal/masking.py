"""Masks for personal values wherever they would otherwise be written in clear: an invalid
source record in the rejects topic, a failed rule's value, the public view of a penalty."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from casebus.contracts.checks import Violation
from casebus.personal.envelope import is_opaque
from casebus.personal.fields import every_topic
from casebus.personal.idcard import mask_id, mask_name, mask_phone

_ID_LIKE = re.compile(r"^\d{15}(\d{2}[\dXx])?$")
_PHONE_LIKE = re.compile(r"^1\d{10}$")


def mask(value: Any) -> Any:
    """A personal value masked: identity numbers 前6后4, mobiles 3+4, other text to its first
    character; records and lists element by element; sealed values and markers as they are."""
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if not isinstance(value, str) or is_opaque(value):
        return value
    if _ID_LIKE.match(value):
        return mask_id(value)
    if _PHONE_LIKE.match(value):
        return mask_phone(value)
    return mask_name(value)


def redact_source(record: Any, keys: Collection[str]) -> Any:
    """A source record with the values under `keys` (its personal fields, at any depth)
    masked; a copy."""
    if isinstance(record, dict):
        return {
            k: mask(v) if k in keys and v is not None else redact_source(v, keys)
            for k, v in record.items()
        }
    if isinstance(record, list):
        return [redact_source(v, keys) for v in record]
    return record


def _personal_paths() -> tuple[str, ...]:
    return tuple(f.dotted for fields in every_topic().values() for f in fields)


def redact_violations(violations: Sequence[Violation]) -> list[Violation]:
    """The failed rules, the value of any on a personal field masked."""
    paths = _personal_paths()
    out = []
    for v in violations:
        field = re.sub(r"\[\d+\]", "", v.field)
        if any(field == p or field.startswith(p + ".") for p in paths):
            v = replace(v, value=mask(v.value))
        out.append(v)
    return out
