"""What one lead event changes in the feeds: the rule of sync's apply, per platform.

- a lead new to the service, or a higher revision: forwarded (redacted) to every platform
  that may see it now, and retracted (tombstone) from every platform that held it and may
  not any more;
- a lower revision is stale, the same revision a duplicate (or, with other content, a
  conflict): nothing is produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.feeds.state import Seen


class Verdict(StrEnum):
    FORWARDED = "forwarded"  # something was produced (records and/or retractions)
    UNSEEN = "unseen"  # a new revision that no platform may see and none held
    STALE = "stale"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    publish: frozenset[str] = frozenset()  # platforms that get the new revision
    retract: frozenset[str] = frozenset()  # platforms whose copy is withdrawn
    seen: Seen | None = None  # the state to record (None: unchanged)


def decide(previous: Seen | None, revision: int, digest: str, audience: frozenset[str]) -> Decision:
    if previous is not None and revision < previous.revision:
        return Decision(Verdict.STALE)
    if previous is not None and revision == previous.revision:
        same = digest == previous.digest
        return Decision(Verdict.DUPLICATE if same else Verdict.CONFLICT)
    held = previous.holders if previous is not None else frozenset()
    retract = held - audience
    seen = Seen(revision, digest, audience)
    verdict = Verdict.FORWARDED if audience or retract else Verdict.UNSEEN
    return Decision(verdict, audience, retract, seen)
