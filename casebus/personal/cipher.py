"""Sealing personal values at the source, opening them where the reader may.

`Sealer` (the producers: connectors and ingest, through casebus.publish.EventEncoder) takes
a validated event and returns a copy whose personal values are sealed
(casebus.personal.envelope) under the owner's data key for each person; the signature is
made afterwards, over the sealed bytes. `Opener` (the agency databases' apply path) opens
what its agency may read, leaves what it may not as it came, and puts an erasure marker
where the key was destroyed: every outcome is counted in a note the event log keeps.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from casebus.personal import envelope, idcard
from casebus.personal.access import Readers
from casebus.personal.fields import PersonalField, by_parent, identifiers
from casebus.personal.keystore import Keys
from casebus.topics import TOPIC_BY_FAMILY

ERASED, UNREADABLE = envelope.ERASED, envelope.UNREADABLE
_REFRESH_SECONDS = 5.0
_OPENED_CACHED = 50_000


class _Fresh:
    """Forgets unwrapped keys when an erasure happened since (checked every few seconds)."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self._checked = 0.0
        self._last: object = None

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._checked < _REFRESH_SECONDS:
            return
        self._checked = now
        last = self.keys.latest_erasure()
        if last != self._last:
            self.keys.forget()
            self._last = last


def _copy_along(event: dict[str, Any], path: tuple[str, ...], copied: set[int]) -> dict[str, Any]:
    """The dict holding the field at `path`, copied (once) from the root down so the
    caller's event is never changed."""
    node = event
    for step in path[:-1]:
        child = node.get(step)
        if not isinstance(child, dict):
            return {}
        if id(child) not in copied:
            child = dict(child)
            node[step] = child
            copied.add(id(child))
        node = child
    return node


class Sealer:
    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self._fresh = _Fresh(keys)

    def seal(self, event: Mapping[str, Any], shared_topic: str) -> dict[str, Any]:
        """A copy of `event` with every personal value sealed (the event itself unchanged)."""
        plain: list[tuple[PersonalField, Mapping[str, Any]]] = []
        for path, group in by_parent(shared_topic):
            parent = _node(event, path)
            if parent is not None:
                plain.extend((f, parent) for f in group if parent.get(f.name))
        if not plain:
            return dict(event)
        self._fresh()
        owner, record_id = str(event["owner"]), str(event["record_id"])
        # Whose each value is, read before anything is sealed (a subject may be a sibling).
        subjects = [identifiers(f, p) or [f"{owner}/{record_id}/{f.dotted}"] for f, p in plain]
        out = dict(event)
        copied: set[int] = {id(out)}
        for (f, _), (subject, *aliases) in zip(plain, subjects, strict=True):
            parent = _copy_along(out, f.path, copied)
            value = parent[f.name]
            if not isinstance(value, str) or envelope.is_sealed(value):
                continue
            key = self.keys.data_key(owner, subject, aliases)
            if key is None:
                parent[f.name] = ERASED
                continue
            aad = envelope.associated_data(owner, record_id, f.dotted)
            parent[f.name] = envelope.seal(key.dek, key.key_id, value, aad)
        return out


@dataclass
class Opened:
    """A payload as this agency stores it, and what became of each personal value."""

    payload: dict[str, Any]
    keys: dict[str, str] = field(default_factory=dict)  # dotted path -> key id
    opened: int = 0
    sealed: int = 0  # not granted: kept as it came
    erased: int = 0
    unreadable: int = 0
    # Opened identity numbers that break GB 11643 (path: rule): the producer should have
    # refused them; a reader that can open them says so in its event log.
    invalid: list[str] = field(default_factory=list)

    def note(self) -> str | None:
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.opened, "opened"),
                (self.sealed, "sealed (not granted)"),
                (self.erased, "erased"),
                (self.unreadable, "unreadable"),
            )
            if n
        ]
        parts += [f"invalid {where}" for where in self.invalid]
        return f"personal: {', '.join(parts)}" if parts else None


class Opener:
    """Opens personal values for one agency (`reader`) in the payloads it stores."""

    def __init__(self, reader: str, readers: Readers, keys: Keys) -> None:
        self.reader = reader
        self.readers = readers
        self.keys = keys
        self._fresh = _Fresh(keys)
        self._erased: frozenset[str] = frozenset()
        # (sealed text, associated data) -> (key id, plaintext): a value seals to the same
        # text in every revision and re-delivery of its record, so it is opened once. Emptied
        # with the unwrapped keys when an erasure is seen (KeyStore.generation).
        self._opened: dict[tuple[str, bytes], tuple[str, str]] = {}
        self._judged: dict[str, str | None] = {}  # opened identity number -> rule it breaks
        self._generation = keys.generation

    def prefetch(self, records: Iterable[tuple[bytes | None, str]]) -> None:
        """Fetch ahead the data keys of a batch's sealed values, from its encoded records
        (value, owner): with key services, one request per region for the batch rather
        than one per person. Nothing with the local key store."""
        if not self.keys.ahead:
            return
        self._fresh()
        wanted = [
            (key_id, owner)
            for value, owner in records
            if value
            for key_id in envelope.key_ids_in(value)
        ]
        if wanted:
            self.keys.prefetch(wanted)

    def open(self, event: Mapping[str, Any], kind: str, payload: dict[str, Any]) -> Opened:
        """`payload` (the event's record) with its personal values as this reader stores them."""
        found: list[PersonalField] = []
        for path, group in by_parent(TOPIC_BY_FAMILY[kind]):
            parent = _node(payload, path[1:])  # from the payload, the event's record
            if parent is not None:
                found.extend(f for f in group if envelope.is_sealed(parent.get(f.name)))
        out = Opened(payload)
        if not found:
            return out
        self._fresh()
        allowed = self.readers.may_read(self.reader, event)
        owner, record_id = str(event["owner"]), str(event["record_id"])
        top = found[0].path[0]  # the payload's field ("penalty", "lead")
        root = {top: dict(payload)}
        copied: set[int] = {id(root[top])}
        if self.keys.generation != self._generation or len(self._opened) >= _OPENED_CACHED:
            self._opened.clear()
            self._judged.clear()
            self._generation = self.keys.generation
        for f in found:
            parent = _copy_along(root, f.path, copied)
            text = parent[f.name]
            aad = envelope.associated_data(owner, record_id, f.dotted)
            seen = self._opened.get((text, aad))
            if seen is not None:
                out.keys[f.dotted] = seen[0]
                if not allowed:
                    out.sealed += 1
                    continue
                parent[f.name] = seen[1]
                out.opened += 1
            elif not self._open_one(parent, f.name, text, aad, allowed, owner, out, f.dotted):
                continue
            rule = _identity_problem(f, parent, self._judged)
            if rule is not None:
                out.invalid.append(f"{f.dotted}: {rule}")
        out.payload = root[top]
        return out

    def _open_one(
        self,
        parent: dict[str, Any],
        name: str,
        text: str,
        aad: bytes,
        allowed: bool,
        owner: str,
        out: Opened,
        dotted: str,
    ) -> bool:
        """Open one sealed value in place; whether it was opened (counted in `out`)."""
        try:
            sealed = envelope.parse(text)
        except envelope.EnvelopeError:
            parent[name] = UNREADABLE
            out.unreadable += 1
            return False
        out.keys[dotted] = sealed.key_id
        if not allowed:
            out.sealed += 1
            return False
        key = self.keys.open_key(sealed.key_id, owner)
        if key is None or key.owner != owner:
            erased = self._was_erased(sealed.key_id)
            parent[name] = ERASED if erased else UNREADABLE
            out.erased += erased
            out.unreadable += not erased
            return False
        try:
            plain = envelope.open_sealed(key.dek, sealed, aad)
        except envelope.EnvelopeError:
            parent[name] = UNREADABLE
            out.unreadable += 1
            return False
        parent[name] = plain
        self._opened[(text, aad)] = (sealed.key_id, plain)
        out.opened += 1
        return True

    def _was_erased(self, key_id: str) -> bool:
        if key_id not in self._erased:
            self._erased = self.keys.erased_key_ids()
        return key_id in self._erased


def _identity_problem(
    f: PersonalField, parent: Mapping[str, Any], judged: dict[str, str | None]
) -> str | None:
    """The GB 11643 rule an opened identity number breaks (its document type, opened
    before it, says it is a resident identity card, or there is none), or None. `judged`:
    the numbers already judged, and what was found."""
    if not f.name.endswith("id_no"):
        return None
    kind = parent.get(f.name[: -len("no")] + "type")
    if isinstance(kind, str) and kind not in idcard.RESIDENT_ID_TYPES:
        return None
    number = str(parent[f.name])
    if number in judged:
        return judged[number]
    found = idcard.problem(number)
    rule = judged[number] = None if found is None else found[0]
    return rule


def _node(root: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any] | None:
    """The record at `path` under `root`, or None where it is absent."""
    node: Any = root
    for step in path:
        node = node.get(step) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None
