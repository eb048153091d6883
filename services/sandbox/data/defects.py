"""Make a share of the records invalid, the ways real source data goes wrong.

Each system names which of its fields hold a credit code, a required name, an amount and a
date; a defect is applied to every version of the record, so it stays invalid.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from casebus.contracts.uscc import ALPHABET
from services.sandbox.data.store import Body, History


@dataclass(frozen=True)
class DefectFields:
    uscc: str | None = None
    name: str | None = None
    amount: str | None = None
    date: str | None = None


def _at(body: Body, path: str) -> tuple[Body, str]:
    """The dict holding a dotted path's last key (copied, so versions stay independent)."""
    *parents, key = path.split(".")
    for name in parents:
        body[name] = dict(body[name])
        body = body[name]
    return body, key


def _get(body: Body, path: str) -> Any:
    value: Any = body
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _bad_check_digit(body: Body, path: str) -> None:
    obj, key = _at(body, path)
    code = str(obj[key])
    obj[key] = code[:17] + ALPHABET[(ALPHABET.index(code[17]) + 7) % 31]


def _zero_width(body: Body, path: str) -> None:
    obj, key = _at(body, path)
    obj[key] = str(obj[key])[:2] + "\u200b" + str(obj[key])[2:]


def _missing(body: Body, path: str) -> None:
    obj, key = _at(body, path)
    obj.pop(key, None)


def _negative(body: Body, path: str) -> None:
    obj, key = _at(body, path)
    obj[key] = "-" + str(obj[key]).lstrip("-")


def _future(body: Body, path: str) -> None:
    obj, key = _at(body, path)
    value = obj[key]
    obj[key] = (
        value + 7 * 365 * 86400 * (1000 if value > 10**11 else 1)
        if isinstance(value, int)
        else "2031-06-18" + str(value)[10:]
    )


_APPLY: dict[str, tuple[str, Callable[[Body, str], None]]] = {
    "bad_check_digit": ("uscc", _bad_check_digit),
    "zero_width": ("name", _zero_width),
    "missing_required": ("name", _missing),
    "negative_amount": ("amount", _negative),
    "future_date": ("date", _future),
}


def spoil(rng: random.Random, histories: list[History], share: float, fields: DefectFields) -> None:
    """Make about `share` of the records invalid (at least one if share > 0)."""
    kinds = [k for k, (attr, _) in _APPLY.items() if getattr(fields, attr)]
    if share <= 0 or not kinds or not histories:
        return
    chosen = [h for h in histories if rng.random() < share] or [rng.choice(histories)]
    for n, history in enumerate(chosen):
        kind = kinds[n % len(kinds)]
        attr, apply = _APPLY[kind]
        field = getattr(fields, attr)
        if not all(_get(v.body, field) for v in history.versions):
            continue  # nothing to spoil in this record
        for version in history.versions:
            apply(version.body, field)
        history.defect = kind
