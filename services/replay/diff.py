"""What a replay would change in a database: records it would insert, change (field by
field) or leave as they are, and records the database holds that the topics do not explain
(edited in by hand, or from events no longer retained)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, inspect, select

from agencydb.models import PAYLOAD_MODELS, LeadEvidence, LeadItem, Record

Key = tuple[str, str, str]  # (kind, owner, record_id)
# Bookkeeping, not content: when this database applied the record.
_IGNORED = frozenset({"applied_at"})


@dataclass
class Difference:
    inserted: list[Key] = field(default_factory=list)
    changed: dict[Key, dict[str, tuple[Any, Any]]] = field(default_factory=dict)  # (db, replay)
    unchanged: int = 0
    unexplained: list[Key] = field(default_factory=list)

    @property
    def none(self) -> bool:
        return not (self.inserted or self.changed or self.unexplained)

    def lines(self) -> list[str]:
        out = [f"would insert {_name(k)}" for k in self.inserted]
        for key, fields in self.changed.items():
            out.append(f"would change {_name(key)}:")
            out += [f"    {f}: {db!r} -> {new!r}" for f, (db, new) in sorted(fields.items())]
        out += [f"not explained by the topics: {_name(k)}" for k in self.unexplained]
        out.append(
            f"{len(self.inserted)} to insert, {len(self.changed)} to change, {self.unchanged} "
            f"unchanged, {len(self.unexplained)} not explained by the topics"
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "inserted": [_name(k) for k in self.inserted],
            "changed": {
                _name(k): {f: {"database": db, "replay": new} for f, (db, new) in v.items()}
                for k, v in self.changed.items()
            },
            "unchanged": self.unchanged,
            "unexplained": [_name(k) for k in self.unexplained],
        }


def _name(key: Key) -> str:
    return f"{key[0]} {key[1]}/{key[2]}"


Wanted = Callable[[dict[str, Any]], bool]  # a records row in the replay's scope?


def records_of(engine: Engine, wanted: Wanted) -> dict[Key, dict[str, Any]]:
    """Each record in scope as one flat mapping: its records row, payload and children."""
    out: dict[Key, dict[str, Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(select(Record)).mappings():
            if wanted(dict(row)):
                key = (row["kind"], row["owner"], row["record_id"])
                out[key] = {f"record.{k}": v for k, v in row.items() if k not in _IGNORED}
        for kind, model in PAYLOAD_MODELS.items():
            for row in conn.execute(select(model)).mappings():
                key = (kind, row["owner"], row["record_id"])
                if key in out:
                    out[key].update({f"{kind}.{k}": v for k, v in row.items()})
        for model, name in ((LeadItem, "items"), (LeadEvidence, "evidence")):
            children: dict[Key, list[dict[str, Any]]] = {}
            for row in conn.execute(select(model).order_by(model.position)).mappings():
                key = ("lead", row["owner"], row["record_id"])
                if key in out:
                    children.setdefault(key, []).append(dict(row))
            for key, rows in children.items():
                out[key][f"lead.{name}"] = rows
    return out


def compare(database: Engine | None, replayed: Engine, wanted: Wanted) -> Difference:
    """`database` None (or without tables yet): a database that holds nothing."""
    missing = database is None or not inspect(database).has_table("records")
    have = {} if missing or database is None else records_of(database, wanted)
    would = records_of(replayed, wanted)
    diff = Difference()
    for key in sorted(would):
        if key not in have:
            diff.inserted.append(key)
            continue
        fields = _fields(have[key], would[key])
        if fields:
            diff.changed[key] = fields
        else:
            diff.unchanged += 1
    diff.unexplained = sorted(set(have) - set(would))
    return diff


def _fields(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    names: Iterable[str] = sorted(set(a) | set(b))
    return {n: (_plain(a.get(n)), _plain(b.get(n))) for n in names if a.get(n) != b.get(n)}


def _plain(value: Any) -> Any:
    """A value as JSON can show it."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)
