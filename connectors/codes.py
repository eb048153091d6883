"""Source labels (Chinese) → contract codes, from the contract's own code tables."""

from __future__ import annotations

from casebus.contracts import codes
from casebus.contracts.validation import Violation

PENALTY_CATEGORY = {label: code for code, label in codes.PENALTY_CATEGORIES.items()}
PARTY_CATEGORY = {label: code for code, label in codes.PARTY_CATEGORIES.items()}
LEAD_SOURCE = {label: code for code, label in codes.LEAD_SOURCES.items()}
INFRINGEMENT = {label: code for code, label in codes.INFRINGEMENT_TYPES.items()}
LEAD_STATUS = {label: code for code, label in codes.LEAD_STATUSES.items()}
TRANSFER_KIND = {label: code for code, label in codes.TRANSFER_KINDS.items()}
TRANSFER_DECISION = {label: code for code, label in codes.TRANSFER_DECISIONS.items()}
MATERIAL_KIND = {label: code for code, label in codes.MATERIAL_KINDS.items()}
ACTION_KIND = {label: code for code, label in codes.ACTION_KINDS.items()}
PLATFORM = {
    "淘宝": "PLATFORM-ALIBABA",
    "天猫": "PLATFORM-ALIBABA",
    "京东": "PLATFORM-JD",
    "抖音": "PLATFORM-DOUYIN",
}


def translate(table: dict[str, str], label: object, field: str, out: list[Violation]) -> str | None:
    """The code for a source label; records a Violation (rule `code`) if there is none."""
    if label is None:
        return None
    code = table.get(str(label))
    if code is None:
        out.append(Violation(field, "code", label, f"{field}: unknown source label {label!r}"))
    return code
