"""Resident identity numbers (GB 11643-1999) and the masks personal values are shown with.

An 18-character number: 6-digit region code, 8-digit birth date, 3-digit sequence (odd for
men), then a check character: sum of the first 17 digits weighted 7 9 10 5 8 4 2 1 6 3 7 9
10 5 8 4 2, mod 11, mapped through 1 0 X 9 8 7 6 5 4 3 2.
"""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_MAP = "10X98765432"
# The 证件类型 codes of a resident identity card, as sources write them.
RESIDENT_ID_TYPES = frozenset({"身份证", "居民身份证", "111", "ID_CARD"})
_HALF_WIDTH = {0xFF10 + i: 0x30 + i for i in range(10)} | {ord("ｘ"): "X", ord("Ｘ"): "X"}
_SHAPE = re.compile(r"^[1-8]\d{5}(\d{4})(\d{2})(\d{2})\d{3}[\dX]$")


def check_char(first17: str) -> str:
    """The check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_MAP[total % 11]


def normalise(value: str) -> str:
    """Spaces stripped, full-width digits and x made half-width, x upper-cased."""
    return value.strip().translate(_HALF_WIDTH).replace("x", "X").replace(" ", "")


def problem(value: str) -> tuple[str, str] | None:
    """(rule, message) for a number that is not a valid resident identity number, or None."""
    number = normalise(value)
    found = _SHAPE.match(number)
    if found is None:
        return (
            "id_no.format",
            "is not a region code, a birth date, 3 digits and a check",
        )
    year, month, day = (int(g) for g in found.groups())
    try:
        date(year, month, day)
    except ValueError:
        return "id_no.birth_date", f"has no valid birth date ({number[6:14]})"
    expected = check_char(number[:17])
    if number[17] != expected:
        return "id_no.check_digit", f"check character is {number[17]!r}, expected {expected!r}"
    return None


def with_check(first17: str) -> str:
    """The full number for 17 digits (the sandbox makes numbers with it)."""
    return first17 + check_char(first17)


def mask_id(value: str) -> str:
    """前6后4: the region code and the last four shown, the rest starred (the birth date
    and sequence are what identify a person among neighbours)."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """The first three and the last four digits of a mobile number, as 138****5678."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """The family name (the first character) and stars: 张**."""
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value
