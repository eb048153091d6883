"""Text policy for every string in an event.

Rejected (never silently stripped, so the owner fixes the source):
- C0 control characters except TAB and LF, DEL and C1 controls (U+0080–U+009F);
- zero-width and bidirectional control characters (U+200B–U+200F, U+202A–U+202E,
  U+2060–U+2064, U+2066–U+2069, U+FEFF, U+180E), which hide or reorder text;
- lone surrogates (U+D800–U+DFFF), which cannot be encoded as UTF-8;
- text not in Unicode NFC: producers call `normalise_text` (or
  `validation.normalise_event`) first, so equal text is equal bytes in every database.
Each string field has a length limit (characters): `max_length(field)`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u180e]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ANY_BAD = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069"
    "\ufeff\u180e\ud800-\udfff]"
)

DEFAULT_MAX_LENGTH = 500
_LONG_TEXT = 20_000
MAX_LENGTH = {
    "violation_facts": _LONG_TEXT,
    "legal_basis": 5_000,
    "penalty_content": 5_000,
    "description": _LONG_TEXT,
    "remarks": 5_000,
    "content": _LONG_TEXT,
    "reason": 5_000,
    "revoke_reason": 5_000,
    "decision_reason": 5_000,
    "procuratorate_supervision": 5_000,
    "right_certificate": 2_000,
    "listing_url": 2_048,
    "shop_url": 2_048,
    "uri": 2_048,
}


class TextProblem(NamedTuple):
    rule: str
    message: str


def max_length(field: str) -> int:
    return MAX_LENGTH.get(field, DEFAULT_MAX_LENGTH)


def normalise_text(value: str) -> str:
    return unicodedata.normalize("NFC", value)


_search_bad = _ANY_BAD.search
_is_normalized = unicodedata.is_normalized


def is_clean(value: str) -> bool:
    """True when the text policy has nothing to say (length aside): the common, fast case."""
    return _search_bad(value) is None and (value.isascii() or _is_normalized("NFC", value))


def all_clean(values: list[str]) -> bool:
    """`is_clean` for every value, in one pass. Joined with LF, which the policy allows and
    which is a starter no character composes with, so the joined text is NFC exactly
    when every value is."""
    return is_clean("\n".join(values))


def problem(value: str, limit: int) -> TextProblem | None:
    """The first text-policy problem of a string, or None."""
    if len(value) > limit:
        return TextProblem("size.length", f"is {len(value)} characters long, limit {limit}")
    if is_clean(value):
        return None
    if value.isascii():
        if _CONTROL.search(value):
            return _describe(value)
        return None
    if _ANY_BAD.search(value):
        return _describe(value)
    if not unicodedata.is_normalized("NFC", value):
        return TextProblem("text.nfc", "is not in Unicode NFC; normalise it first")
    return None


def _describe(value: str) -> TextProblem:
    for pattern, rule, what in (
        (_SURROGATE, "text.surrogate", "a lone surrogate"),
        (_CONTROL, "text.control", "a control character"),
        (_INVISIBLE, "text.invisible", "a zero-width or bidi control character"),
    ):
        found = pattern.search(value)
        if found:
            ch = found.group()
            return TextProblem(rule, f"contains {what} U+{ord(ch):04X} at {found.start()}")
    raise AssertionError("no problem found")  # pragma: no cover
