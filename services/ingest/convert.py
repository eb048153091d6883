"""JSON events → the dicts the Avro serializer writes, guided by the topic's schema.

JSON shape: the event's fields as in the Avro schema; dates `YYYY-MM-DD`, instants ISO 8601
with an offset (`2024-09-20T08:00:00+08:00` or `...Z`), decimals as strings (`"18.9"`),
nullable fields may be omitted. `event_type` is the symbol (`PENALTY_ISSUED`) or the dotted
code (`penalty.issued`). `event_id` and `published_at` are set by the endpoint.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from casebus.contracts.model import Array, Field, Named, Node, Primitive, Record, Union, resolve
from casebus.contracts.schemas import schema_for_topic
from casebus.contracts.validation import Violation
from casebus.events import action_branch

SERVER_FIELDS = ("event_id", "published_at")


class Converter:
    def __init__(self, topic: str) -> None:
        root = resolve(schema_for_topic(topic))
        assert isinstance(root, Record)
        self.fields = [f for f in root.fields if f.name not in SERVER_FIELDS]

    def event(self, raw: Any, out: list[Violation]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            out.append(Violation("(event)", "type", None, "an event must be a JSON object"))
            return {}
        branch = None
        if isinstance(raw.get("event_type"), str):
            try:
                branch = action_branch(raw["event_type"])
            except ValueError:
                branch = None
        return self._record(self.fields, raw, "", out, branch)

    def _record(
        self,
        fields: list[Field],
        raw: dict[str, Any],
        path: str,
        out: list[Violation],
        branch: str | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for f in fields:
            name, where = f.name, f"{path}{f.name}"
            if name not in raw or raw[name] is None:
                if f.has_default:
                    result[name] = f.default
                elif isinstance(f.type, Union) and f.type.nullable:
                    result[name] = None
                else:
                    out.append(Violation(where, "required", None, f"{where}: is required"))
                continue
            result[name] = self._value(f.type, raw[name], where, out, branch)
        return result

    def _value(
        self, node: Node, v: Any, where: str, out: list[Violation], branch: str | None
    ) -> Any:
        if isinstance(node, Union):
            options = node.others
            if branch and len(options) > 1:  # the action union: event_type picks the record
                options = tuple(b for b in options if isinstance(b, Named) and b.name == branch)
                options = options or node.others
            return self._value(options[0], v, where, out, None)
        if isinstance(node, Record):
            if not isinstance(v, dict):
                return _bad(out, where, "type", v, "must be an object")
            return self._record(node.fields, v, where + ".", out)
        if isinstance(node, Array):
            if not isinstance(v, list):
                return _bad(out, where, "type", v, "must be an array")
            return [self._value(node.items, x, f"{where}[{i}]", out, None) for i, x in enumerate(v)]
        if isinstance(node, Primitive):
            return _logical(node.logical, v, where, out)
        return v  # enums and the rest: the validator checks them


def _logical(logical: str | None, v: Any, where: str, out: list[Violation]) -> Any:
    try:
        if logical == "date":
            return date.fromisoformat(v)
        if logical == "timestamp-millis":
            value = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
            if value.tzinfo is None:
                return _bad(out, where, "timezone", v, "needs a UTC offset")
            return value
        if logical == "decimal":
            if not isinstance(v, str):
                return _bad(out, where, "decimal", v, "give decimals as strings")
            return Decimal(v)
    except (ValueError, TypeError, InvalidOperation):
        return _bad(out, where, logical or "type", v, f"is not a valid {logical}")
    return v


def _bad(out: list[Violation], where: str, rule: str, value: Any, message: str) -> None:
    out.append(Violation(where, rule, value, f"{where}: {message}"))


@cache
def converter(topic: str) -> Converter:
    return Converter(topic)
