"""The decode worker's items as they cross to the writer's process: flat plain tuples.

Pickling a named tuple calls back into Python for each one (its `__getnewargs__`), and an
item nests three or four (the item, its provenance, its state, its validity). Measured on
batches of 2,000 of the worker's items: flat, they pickle in 4.0–6.2 µs an item against
7.5–10.6 µs; made back into items in the writer, they cost it about what unpickling saves
(4.1–4.5 against 4.0–4.6 µs). bench/pipeline.py: the worker's pickling 8.9–9.9 µs an event
against 13.0–13.1. Within bench/sync.py's noise as a rate.
Only the worker's common items are flattened (prepared, foreseen, filtered); any other goes
as it is. `flatten` and `unflatten` are exact inverses: tests/pipeline/test_handover.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agencydb.rows import StateLines, StateRows
from pipeline.items import VALID, Filtered, Foreseen, Invalid, Item, Prepared, Provenance, Valid

# The first value of a flat item says what it was (an item itself starts with its
# provenance, never an int). A prepared item's state is COPY text (_LINES) or rows.
_PREPARED_LINES, _PREPARED_ROWS, _FORESEEN, _FILTERED = 1, 2, 3, 4
_STATES = {StateLines: _PREPARED_LINES, StateRows: _PREPARED_ROWS}
_new = tuple.__new__  # makes a named tuple from a tuple of its values, without a call back


def flatten(items: Sequence[Item]) -> list[Any]:
    return [_flat(item) for item in items]


def _flat(item: Item) -> Any:
    if type(item) is Prepared:
        validity, tag = item.validity, _STATES.get(type(item.state))
        if tag is None or not (type(validity) is Valid or type(validity) is Invalid):
            return item  # an event still to validate (Unchecked) goes as it is
        problem = validity.problem if type(validity) is Invalid else None
        return (tag, tuple(item.provenance), *item[1:8], tuple(item.state), problem, item.log)
    if type(item) is Foreseen or type(item) is Filtered:
        tag = _FORESEEN if type(item) is Foreseen else _FILTERED
        return (tag, tuple(item.provenance), *item[1:])
    return item


def unflatten(flat: Sequence[Any]) -> list[Item]:
    return [_item(f) if type(f) is tuple else f for f in flat]


def _item(f: tuple[Any, ...]) -> Item:
    tag = f[0]
    if tag in (_PREPARED_LINES, _PREPARED_ROWS):
        state = _new(StateLines if tag == _PREPARED_LINES else StateRows, f[9])
        validity = VALID if f[10] is None else Invalid(f[10])
        return _new(Prepared, (_new(Provenance, f[1]), *f[2:9], state, validity, f[11]))
    if tag == _FORESEEN:
        return _new(Foreseen, (_new(Provenance, f[1]), *f[2:]))
    if tag == _FILTERED:
        return _new(Filtered, (_new(Provenance, f[1]), *f[2:]))
    raise ValueError(f"not a flat item: {tag!r}")
