"""The shared topics, which record family goes on which, and the names a deployment gives them.

Code speaks of the shared names (`casebus.penalty`, ...). A deployment or a test may keep
a shared topic under another name (`t.penalty.1a2b`); `TopicNames` is that mapping, in
both directions, for exactly the topics in play. In a two-region deployment a region's
sync also reads the other region's copies (`luzhou.casebus.penalty`, written by MirrorMaker
2): `copies` maps each copy back to the shared name its signature covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

PENALTY_TOPIC = "casebus.penalty"
LEAD_TOPIC = "casebus.lead"
ACTION_TOPIC = "casebus.action"
SHARED_TOPICS = (PENALTY_TOPIC, LEAD_TOPIC, ACTION_TOPIC)
# Where connectors publish what their source system sent and the contract refused.
REJECTS_TOPIC = "casebus.rejects"

# A record's family (its kind in an agency database) -> the shared topic it is published to.
TOPIC_BY_FAMILY: Mapping[str, str] = {
    "penalty": PENALTY_TOPIC,
    "lead": LEAD_TOPIC,
    "transfer": ACTION_TOPIC,
    "action": ACTION_TOPIC,
    "case": ACTION_TOPIC,
}


class UnknownTopic(KeyError):
    """A topic that is not in play here (named in the message)."""


@dataclass(frozen=True)
class TopicNames:
    """Shared topic -> the topic actually read or written, for the topics in play."""

    by_shared: Mapping[str, str]
    copies: Mapping[str, str] = field(default_factory=dict)  # copy read -> shared topic
    _by_actual: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_actual = {actual: shared for shared, actual in self.by_shared.items()}
        if len(by_actual) != len(self.by_shared):
            raise ValueError(f"two shared topics under one name: {dict(self.by_shared)}")
        if not set(self.copies.values()) <= set(self.by_shared):
            raise ValueError(f"copies of topics not in play: {dict(self.copies)}")
        if not by_actual.keys().isdisjoint(self.copies):
            raise ValueError(f"a copy under a topic's own name: {dict(self.copies)}")
        object.__setattr__(self, "_by_actual", {**by_actual, **self.copies})

    def with_copies(self, prefixes: Iterable[str]) -> TopicNames:
        """These topics and, for each prefix (`luzhou.`), their copies under it."""
        copies = {f"{p}{a}": s for p in prefixes for s, a in self.by_shared.items()}
        return TopicNames(self.by_shared, {**self.copies, **copies})

    @classmethod
    def same(cls, shared: Iterable[str]) -> TopicNames:
        """These shared topics under their own names."""
        return cls({t: t for t in shared})

    @classmethod
    def parse(cls, pairs: Iterable[str]) -> TopicNames:
        """From "shared=actual" pairs (the settings' and the command line's form)."""
        names = {}
        for pair in pairs:
            shared, sep, actual = pair.partition("=")
            if not sep or not shared or not actual:
                raise ValueError(f"topic rename {pair!r}: expected shared=actual")
            names[shared] = actual
        return cls(names)

    def renamed(self, renames: TopicNames) -> TopicNames:
        """These topics, those that `renames` names under its name."""
        renamed = {s: renames.by_shared.get(s, a) for s, a in self.by_shared.items()}
        return TopicNames(renamed, self.copies)

    def actual(self, shared: str) -> str:
        try:
            return self.by_shared[shared]
        except KeyError:
            raise UnknownTopic(f"{shared!r} is not in play (in play: {self.describe()})") from None

    def shared(self, actual: str) -> str:
        try:
            return self._by_actual[actual]
        except KeyError:
            raise UnknownTopic(f"{actual!r} is not in play (in play: {self.describe()})") from None

    def shared_names(self) -> list[str]:
        return sorted(self.by_shared)

    def actual_names(self) -> list[str]:
        """Every topic read: the topics in play and their copies."""
        return sorted([*self.by_shared.values(), *self.copies])

    def read(self) -> dict[str, str]:
        """Every topic read (copies too) -> the shared topic it holds."""
        return dict(self._by_actual)

    def is_copy(self, actual: str) -> bool:
        return actual in self.copies

    def items(self) -> Iterator[tuple[str, str]]:
        """(shared, actual) pairs."""
        return iter(self.by_shared.items())

    def __contains__(self, shared: object) -> bool:
        return shared in self.by_shared

    def describe(self) -> str:
        own = [s if s == a else f"{s}={a}" for s, a in sorted(self.by_shared.items())]
        return ", ".join([*own, *(f"{s}<-{c}" for c, s in sorted(self.copies.items()))])
