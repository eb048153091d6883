"""What one lead event changes in the feeds: the revision rule (casebus/revisions.py),
then, for an event that applies, which platforms get the new revision and which lose it.

- applied (a lead new to the service, or a higher revision): published (redacted) to every
  platform that may see it now, and retracted (tombstone) from every platform that held it
  and may not any more; `unseen` when no platform may see it and none held it;
- stale, duplicate or conflict: nothing is produced (a conflict is dead-lettered).
"""

from __future__ import annotations

from dataclasses import dataclass

from casebus.revisions import Outcome, Result, revision_rule
from services.feeds.state import Seen


@dataclass(frozen=True, slots=True)
class Route:
    result: Result
    publish: frozenset[str] = frozenset()  # platforms that get the new revision
    retract: frozenset[str] = frozenset()  # platforms whose copy is withdrawn
    seen: Seen | None = None  # the state to record (None: unchanged)

    @property
    def unseen(self) -> bool:
        """Applied, but no platform may see it and none held it: nothing is produced."""
        return self.seen is not None and not self.publish and not self.retract


def route(previous: Seen | None, revision: int, digest: str, audience: frozenset[str]) -> Route:
    stored = (previous.revision, previous.digest) if previous is not None else None
    result = revision_rule(revision, digest, stored)
    if result.outcome is not Outcome.APPLIED:
        return Route(result)
    held = previous.holders if previous is not None else frozenset()
    return Route(result, audience, held - audience, Seen(revision, digest, audience))
