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

from casebus.contracts.schemas import schema_for_topic
from casebus.contracts.validation import Violation
from casebus.events import action_branch

SERVER_FIELDS = ("event_id", "published_at")


class Converter:
    def __init__(self, topic: str) -> None:
        self.schema = schema_for_topic(topic)
        self.named: dict[str, Any] = {}
        self._collect(self.schema, "cn.casebus")

    def _collect(self, node: Any, ns: str) -> None:
        if isinstance(node, list):
            for n in node:
                self._collect(n, ns)
        elif isinstance(node, dict):
            if node.get("type") in ("record", "enum", "fixed"):
                ns = node.get("namespace", ns)
                self.named[f"{ns}.{node['name']}"] = node
                self.named[node["name"]] = node
                for f in node.get("fields", []):
                    self._collect(f["type"], ns)
            elif node.get("type") == "array":
                self._collect(node["items"], ns)

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
        fields = [f for f in self.schema["fields"] if f["name"] not in SERVER_FIELDS]
        return self._record(fields, raw, "", out, branch)

    def _record(
        self,
        fields: list[Any],
        raw: dict[str, Any],
        path: str,
        out: list[Violation],
        branch: str | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for field in fields:
            name, where = field["name"], f"{path}{field['name']}"
            if name not in raw or raw[name] is None:
                if "default" in field:
                    result[name] = field["default"]
                elif _nullable(field["type"]):
                    result[name] = None
                else:
                    out.append(Violation(where, "required", None, f"{where}: is required"))
                continue
            result[name] = self._value(field["type"], raw[name], where, out, branch)
        return result

    def _value(self, t: Any, v: Any, where: str, out: list[Violation], branch: str | None) -> Any:
        if isinstance(t, str) and t in self.named:
            t = self.named[t]
        if isinstance(t, list):
            options = [b for b in t if b != "null"]
            if branch and len(options) > 1:  # the action union: event_type picks the record
                options = [b for b in options if _name(self.named.get(b, b)) == branch] or options
            return self._value(options[0], v, where, out, None)
        if isinstance(t, dict):
            kind, logical = t.get("type"), t.get("logicalType")
            if kind == "record":
                if not isinstance(v, dict):
                    return _bad(out, where, "type", v, "must be an object")
                return self._record(t["fields"], v, where + ".", out)
            if kind == "array":
                if not isinstance(v, list):
                    return _bad(out, where, "type", v, "must be an array")
                return [
                    self._value(t["items"], x, f"{where}[{i}]", out, None) for i, x in enumerate(v)
                ]
            if kind == "enum":
                return v
            return _logical(logical, v, where, out)
        return v  # primitives: the validator checks their types


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


def _nullable(t: Any) -> bool:
    return isinstance(t, list) and "null" in t


def _name(node: Any) -> str:
    return str(node.get("name")) if isinstance(node, dict) else str(node).rsplit(".", 1)[-1]


@cache
def converter(topic: str) -> Converter:
    return Converter(topic)
