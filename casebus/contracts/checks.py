"""The collector the validation rules report into, with the checks they share.

Every helper skips a value of the wrong type: the Avro check has already reported it, and
the rules must keep going so that all failures of a record are reported together.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from casebus.contracts import uscc
from casebus.contracts.codes import Known
from casebus.personal import idcard
from casebus.personal.envelope import is_opaque

# Dates in these records are Chinese calendar dates (UTC+8, no daylight saving).
CHINA = timezone(timedelta(hours=8))
MAX_SCALE = 6
MAX_INTEGER_DIGITS = 12  # decimal(18, 6)
_REGION = re.compile(r"^[1-8]\d{5}$")


@dataclass(frozen=True, slots=True)
class Violation:
    """One failed rule: `field` is a dotted path (`lead.items[3].listing_url`)."""

    field: str
    rule: str
    value: object
    message: str


class Checks:
    def __init__(self, known: Known, latest: datetime, *, sealed: bool = False) -> None:
        self.out: list[Violation] = []
        # Personal values arrive sealed (consumers): their plaintext rules were checked by
        # the producer before sealing. A producer validates plaintext: a sealed-looking
        # value there is refused.
        self.sealed = sealed
        self.known = known
        self.latest = latest  # now + clock skew
        self.latest_date = latest.astimezone(CHINA).date()

    def add(self, field: str, rule: str, value: object, message: str) -> None:
        self.out.append(Violation(field, rule, value, f"{field}: {message}"))

    def text(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> None:
        """Present and not blank (the text policy itself is checked for every string)."""
        value = obj.get(key)
        if value is None:
            if required:
                self.add(_join(path, key), "required", None, "is required")
        elif isinstance(value, str) and not value.strip():
            self.add(_join(path, key), "required", value, "is blank")

    def code(
        self, obj: Mapping[str, Any], key: str, table: Container[str], path: str, what: str
    ) -> None:
        value = obj.get(key)
        if isinstance(value, str) and value not in table:
            self.add(_join(path, key), "code", value, f"{value!r} is not a known {what}")

    def codes(
        self, obj: Mapping[str, Any], key: str, table: Container[str], path: str, what: str
    ) -> None:
        values = obj.get(key)
        if not isinstance(values, list):
            return
        for i, value in enumerate(values):
            if isinstance(value, str) and value not in table:
                self.add(
                    f"{_join(path, key)}[{i}]", "code", value, f"{value!r} is not a known {what}"
                )

    def owner(self, obj: Mapping[str, Any], key: str, path: str) -> None:
        value = obj.get(key)
        if isinstance(value, str) and value not in self.known.owners:
            self.add(
                _join(path, key), "code", value, f"{value!r} is not a configured agency or platform"
            )

    def region(self, value: object, field: str) -> None:
        if isinstance(value, str) and not _REGION.match(value):
            self.add(field, "region", value, f"{value!r} is not a GB/T 2260 region code (6 digits)")

    def uscc(
        self, obj: Mapping[str, Any], key: str, path: str, *, placeholder_ok: bool = True
    ) -> bool:
        """Check a credit code; True if it is the placeholder."""
        value = obj.get(key)
        if not isinstance(value, str):
            return False
        field = _join(path, key)
        normal = uscc.normalise(value)
        if normal != value:
            self.add(field, "uscc.not_normalised", value, f"write it as {normal!r}")
        if normal == uscc.PLACEHOLDER:
            if not placeholder_ok:
                self.add(field, "uscc.placeholder", value, "the placeholder is not allowed here")
            return True
        found = uscc.problem(normal)
        if found is not None:
            self.add(field, found.rule, value, found.message)
        return False

    def resident_id(
        self, obj: Mapping[str, Any], key: str, path: str, *, type_key: str | None = None
    ) -> None:
        """A resident identity number (GB 11643) where the document type says it is one (or
        none is given): its shape, birth date and check character."""
        value = obj.get(key)
        if not isinstance(value, str):
            return
        field = _join(path, key)
        if is_opaque(value):
            if not self.sealed:
                self.add(
                    field, "personal.sealed", "(sealed)", "must be sent in clear: it is sealed here"
                )
            return
        kind = obj.get(type_key) if type_key else None
        if isinstance(kind, str) and kind not in idcard.RESIDENT_ID_TYPES:
            return
        normal = idcard.normalise(value)
        if normal != value:
            self.add(
                field,
                "id_no.not_normalised",
                idcard.mask_id(normal),
                f"write it as {idcard.mask_id(normal)!r} (normalised)",
            )
        found = idcard.problem(normal)
        if found is not None:
            self.add(field, found[0], idcard.mask_id(normal), found[1])

    def instant(
        self, obj: Mapping[str, Any], key: str, path: str, *, future_ok: bool = False
    ) -> datetime | None:
        value = obj.get(key)
        field = _join(path, key)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                self.add(field, "timezone", value, "has no time zone; give an aware UTC datetime")
                return None
        elif isinstance(value, int) and not isinstance(value, bool):
            value = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
        else:
            return None
        if not future_ok and value > self.latest:
            self.add(field, "future", value, f"{value.isoformat()} is in the future")
        return value

    def day(self, obj: Mapping[str, Any], key: str, path: str) -> date | None:
        value = obj.get(key)
        if isinstance(value, datetime):
            value = value.date()
        if not isinstance(value, date):
            return None
        if value > self.latest_date:
            self.add(_join(path, key), "future", value, f"{value.isoformat()} is in the future")
        return value

    def amount(self, obj: Mapping[str, Any], key: str, path: str) -> None:
        value = obj.get(key)
        if not isinstance(value, Decimal):
            return
        field = _join(path, key)
        if not value.is_finite():
            self.add(field, "decimal.finite", value, "must be a finite number")
            return
        if value < 0:
            self.add(field, "decimal.negative", value, f"{value} is negative")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_SCALE:
            self.add(
                field,
                "decimal.scale",
                value,
                f"{value} has more than {MAX_SCALE} decimal places (万元)",
            )
        if value.adjusted() >= MAX_INTEGER_DIGITS:
            self.add(field, "decimal.precision", value, f"{value} exceeds decimal(18, 6)")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
