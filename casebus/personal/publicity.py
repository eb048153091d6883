"""The public view of a penalty ("double publicity", 双公示): what an agency posts to the
credit publicity platform.

The national data items, with personal data removed: a natural person is shown by name,
the identity number masked (前6后4: the region code and the last four); the legal
representative's identity number, informants and remarks (free text that may name people)
never appear. A warning-only decision is not published by market supervision, and a revoked
one is withdrawn. A value this agency holds sealed or erased is shown as such, never opened
here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from casebus.contracts import codes
from casebus.personal.envelope import MARKERS, is_sealed
from casebus.personal.idcard import mask_id

SEALED = "（加密，无权查看）"
# The data items published, in the national template's order.
PUBLIC_ITEMS = (
    "party_name",
    "party_category",
    "party_uscc",
    "legal_rep_name",
    "person_id_type",
    "person_id_no",
    "decision_no",
    "violation_type",
    "violation_facts",
    "legal_basis",
    "penalty_categories",
    "penalty_content",
    "fine_amount",
    "confiscated_amount",
    "license_affected",
    "decision_date",
    "effective_until",
    "publicity_until",
    "authority_name",
    "authority_uscc",
    "source_org",
    "source_org_uscc",
)
WARNING = "01"


def public_penalty(penalty: Mapping[str, Any], *, revoked: bool = False) -> dict[str, Any] | None:
    """The published form of a penalty record's content; None when it is not published."""
    categories = list(penalty.get("penalty_categories") or [])
    if revoked or categories == [WARNING]:
        return None
    out = {item: penalty.get(item) for item in PUBLIC_ITEMS}
    out["party_category"] = codes.PARTY_CATEGORIES.get(
        str(out["party_category"]), out["party_category"]
    )
    out["penalty_categories"] = [codes.PENALTY_CATEGORIES.get(c, c) for c in categories]
    out["person_id_no"] = _masked(out["person_id_no"])
    for kind in ("person_id_type",):
        if is_sealed(out[kind]):
            out[kind] = SEALED
    return out


def _masked(value: Any) -> Any:
    if not isinstance(value, str) or value in MARKERS:
        return value
    if is_sealed(value):
        return SEALED
    return mask_id(value)
