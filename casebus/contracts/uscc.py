"""Unified social credit code (统一社会信用代码, GB 32100-2015): normalisation and check.

18 characters from `0123456789ABCDEFGHJKLMNPQRTUWXY` (no I, O, Z, S, V). The check
character C = 31 - (Σ value(cᵢ)·3^(i-1) mod 31) over positions 1..17, 31 becoming 0.
Some early pilot-region codes fail the check: they are reported, never silently fixed.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import NamedTuple

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
PLACEHOLDER = "0" * 17 + "X"
LENGTH = 18

# Full-width ASCII block (！..～) and the ideographic space map onto ASCII.
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_WIDTH[0x3000] = 0x20


class Problem(NamedTuple):
    rule: str
    message: str


@lru_cache(maxsize=16384)  # authority codes recur in every event of an agency
def normalise(raw: str) -> str:
    """Full-width → half-width, spaces removed, upper-case. Look-alikes are kept (and fail)."""
    return "".join(raw.translate(_WIDTH).split()).upper()


def check_character(first17: str) -> str:
    """The check character for the first 17 characters (all from ALPHABET)."""
    total = sum(VALUES[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


@lru_cache(maxsize=16384)  # the same authority and party codes recur in every batch
def problem(code: str) -> Problem | None:
    """Why a normalised code is not a valid USCC; None if it is. The placeholder is valid."""
    if code == PLACEHOLDER:
        return None
    for ch in code:
        if ch not in VALUES:
            return _bad_character(ch)
    if len(code) != LENGTH:
        return Problem("uscc.length", f"has {len(code)} characters, expected {LENGTH}")
    if not code[2:8].isdigit():
        return Problem("uscc.division", f"division code {code[2:8]!r} is not 6 digits")
    expected = check_character(code[:17])
    if code[17] != expected:
        return Problem(
            "uscc.check_digit",
            f"check digit is {code[17]!r}, expected {expected!r}"
            " (early pilot-region codes fail this check: quarantine, do not publish)",
        )
    return None


def is_valid(code: str) -> bool:
    return problem(code) is None


def _bad_character(ch: str) -> Problem:
    if ch.isalpha() and not ch.isascii():
        name = unicodedata.name(ch, f"U+{ord(ch):04X}")
        return Problem("uscc.lookalike", f"contains {ch!r} ({name}), a letter from another script")
    if ch in "IOZSV":
        return Problem("uscc.charset", f"contains {ch!r}, which GB 32100 does not use")
    return Problem("uscc.charset", f"contains {ch!r}, not in {ALPHABET}")
