"""The revision rule, written once: the agency databases' apply (pipeline/apply.py) and
the partner feeds (services/feeds/) decide every event of a record with it.

Only the owner changes a record; every other party holds a replica. Against the stored
(revision, digest) of the record:
- none stored, or a higher revision: APPLIED (the new state replaces the stored one);
- a lower revision: STALE;
- the same revision with the same digest: DUPLICATE;
- the same revision with another digest: CONFLICT (kept out, alerted, dead-lettered).
REJECTED and FILTERED are decided before the rule: refused by the inbound step or the
validator, or not for this audience.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    FILTERED = "filtered"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    detail: str | None = None
    error_class: str | None = None  # why a rejected event was rejected, for the DLQ


Stored = tuple[int, str]  # a record's stored (revision, content digest)

APPLIED = Result(Outcome.APPLIED)
DUPLICATE = Result(Outcome.DUPLICATE)


def revision_rule(revision: int, digest: str, stored: Stored | None) -> Result:
    """What one event of a record does, given what is stored of that record."""
    if stored is None or revision > stored[0]:
        return APPLIED
    if revision < stored[0]:
        return Result(Outcome.STALE, f"revision {revision} < stored {stored[0]}")
    if digest == stored[1]:
        return DUPLICATE
    return Result(
        Outcome.CONFLICT,
        f"revision {revision} stored with digest {stored[1][:12]}, event has {digest[:12]}",
    )
