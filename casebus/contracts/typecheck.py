"""A type checker compiled from the Avro schema, fused with the text policy.

One pass over the event checks every field's Avro type, every string against the text
policy and its length limit, and every list against its length limit, naming each failing
field (`lead.items[3].listing_url`). Built once per topic; about twice as fast as
fastavro's `validate` followed by a separate walk, and it reports all failures, not one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from casebus.codegen import Source
from casebus.contracts import text

Report = Callable[[str, str, object, str], None]  # field, rule, value, message
Checker = Callable[[Any, str, Report], None]
# True when the checker above would report nothing but text-policy problems; every string
# it passes is appended to the list, to be checked against the text policy in one go.
Quick = Callable[[Any, list[str]], bool]

LIST_LIMITS = {"items": 500, "evidence": 200, "penalty_categories": 14}
DEFAULT_LIST_LIMIT = 100
_LONG = (-(2**63), 2**63 - 1)
_INT = (-(2**31), 2**31 - 1)


def compile_schema(schema: Any) -> Checker:
    """A checker for an inlined JSON schema; field names decide the text limits."""
    return _compile(schema, {}, "")


def _compile(schema: Any, named: dict[str, Any], key: str) -> Checker:
    if isinstance(schema, str) and schema in named:
        return lambda d, p, r: named[schema](d, p, r)  # late-bound: recursive types
    if isinstance(schema, list):
        return _union([_compile(b, named, key) for b in schema], schema, named)
    kind = schema["type"] if isinstance(schema, dict) else schema
    if kind == "record":
        return _record(schema, named)
    if kind == "array":
        return _array(_compile(schema["items"], named, key), key)
    if kind == "enum":
        for name in _names(schema):
            named[name] = _enum_checker(schema)
        return named[schema["name"]]
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if kind == "string" and logical != "uuid":
        return _string(text.max_length(key))
    return _primitive(kind, logical)


def _names(schema: dict[str, Any]) -> tuple[str, str]:
    return schema["name"], f"{schema.get('namespace', 'cn.casebus')}.{schema['name']}"


def _record(schema: dict[str, Any], named: dict[str, Any]) -> Checker:
    fields: list[tuple[str, Checker, bool]] = []
    title = schema["name"]

    def check(datum: Any, path: str, report: Report) -> None:
        if type(datum) is not dict:
            report(path, "type", datum, f"expected a {title} record, got {type(datum).__name__}")
            return
        prefix = f"{path}." if path else ""
        for name, checker, optional in fields:
            if name in datum:
                checker(datum[name], prefix + name, report)
            elif not optional:
                report(prefix + name, "required", None, "is missing")

    for name in _names(schema):
        named[name] = check
    for field in schema["fields"]:
        fields.append(
            (field["name"], _compile(field["type"], named, field["name"]), "default" in field)
        )
    return check


def _array(item: Checker, key: str) -> Checker:
    limit = LIST_LIMITS.get(key, DEFAULT_LIST_LIMIT)

    def check(datum: Any, path: str, report: Report) -> None:
        if type(datum) is not list:
            report(path, "type", datum, f"expected a list, got {type(datum).__name__}")
            return
        if len(datum) > limit:
            report(path, "size.items", len(datum), f"has {len(datum)} entries, limit {limit}")
        for i, value in enumerate(datum):
            item(value, f"{path}[{i}]", report)

    return check


def _union(branches: list[Checker], schemas: list[Any], named: dict[str, Any]) -> Checker:
    others = [(b, s) for b, s in zip(branches, schemas, strict=True) if s != "null"]
    nullable = len(others) < len(branches)
    if len(others) == 1:
        only = others[0][0]

        def optional(datum: Any, path: str, report: Report) -> None:
            if datum is None:
                if not nullable:
                    report(path, "required", None, "is required")
            else:
                only(datum, path, report)

        return optional

    def check(datum: Any, path: str, report: Report) -> None:
        if datum is None:
            if not nullable:
                report(path, "required", None, "is required")
            return
        found: list[Any] = []
        best: list[Any] | None = None
        keys = set(datum) if isinstance(datum, dict) else set()
        # Try the branch sharing most keys with the datum first; stop at the first fit.
        ranked = sorted(others, key=lambda bs: -len(keys & _fields(bs[1])))
        for branch, _ in ranked:
            found = []
            branch(datum, path, lambda *args, sink=found: sink.append(args))
            if not found:
                return
            best = best if best is not None else found
        for args in best or found:
            report(*args)

    schema_fields: dict[int, set[str]] = {}

    def _fields(s: Any) -> set[str]:
        cached = schema_fields.get(id(s))
        if cached is None:
            cached = schema_fields[id(s)] = _lookup_fields(s)
        return cached

    def _lookup_fields(s: Any) -> set[str]:
        if isinstance(s, dict) and s.get("type") == "record":
            return {f["name"] for f in s["fields"]}
        return set()  # a named reference: ranked last, still tried

    return check


def _enum_checker(schema: dict[str, Any]) -> Checker:
    title = schema["name"]

    def check(datum: Any, path: str, report: Report) -> None:
        # A string that is no symbol is reported by the code-table rule, with a hint.
        if not isinstance(datum, str):
            report(path, "type", datum, f"expected a {title} symbol, got {type(datum).__name__}")

    return check


def _string(limit: int) -> Checker:
    problem = text.problem
    clean = text.is_clean

    def check(datum: Any, path: str, report: Report) -> None:
        if type(datum) is not str:
            report(path, "type", datum, f"expected a string, got {type(datum).__name__}")
        elif len(datum) > limit or not clean(datum):
            found = problem(datum, limit)
            if found is not None:
                report(path, found.rule, datum, found.message)

    return check


def _primitive(kind: str, logical: str | None) -> Checker:
    test, expected = _TESTS[(kind, logical)] if (kind, logical) in _TESTS else _TESTS[(kind, None)]

    def check(datum: Any, path: str, report: Report) -> None:
        if not test(datum):
            report(path, "type", datum, f"expected {expected}, got {type(datum).__name__}")

    return check


def _int_in(bounds: tuple[int, int]) -> Callable[[Any], bool]:
    low, high = bounds
    return lambda d: type(d) is int and low <= d <= high


_TESTS: dict[tuple[str, str | None], tuple[Callable[[Any], bool], str]] = {
    ("null", None): (lambda d: d is None, "null"),
    ("string", "uuid"): (lambda d: isinstance(d, str | uuid.UUID), "a UUID string"),
    ("boolean", None): (lambda d: type(d) is bool, "a boolean"),
    ("long", None): (_int_in(_LONG), "an integer (int64)"),
    ("long", "timestamp-millis"): (
        lambda d: isinstance(d, dt.datetime) or _int_in(_LONG)(d),
        "a datetime",
    ),
    ("int", None): (_int_in(_INT), "an integer (int32)"),
    ("int", "date"): (lambda d: isinstance(d, dt.date) or _int_in(_INT)(d), "a date"),
    ("bytes", "decimal"): (lambda d: isinstance(d, Decimal), "a Decimal"),
    ("bytes", None): (lambda d: isinstance(d, bytes), "bytes"),
    ("float", None): (lambda d: type(d) in (float, int), "a number"),
    ("double", None): (lambda d: type(d) in (float, int), "a number"),
}


def compile_quick(schema: Any) -> Quick:
    """The fast path of `compile_schema`'s checker: the same type, presence and size rules,
    no paths, no messages. When it says no, run the reporting checker.

    Generated as one straight-line function per schema (a call per field cost more than
    the checks themselves); unions of several types are left to the closures below."""
    closures: dict[str, Any] = {}
    _quick(schema, closures, "")  # every named type's closure, for the unions left to them
    return _QuickSource(closures).build(schema)


class _QuickSource(Source):
    """Writes the source of a Quick: each check returns False at the first failure."""

    def __init__(self, closures: dict[str, Any]) -> None:
        super().__init__()
        self.closures = closures
        self.schemas: dict[str, Any] = {}  # named type -> its definition
        self.active: set[str] = set()  # records being written (a reference back: recursion)

    def build(self, schema: Any) -> Quick:
        self.emit(1, "a = s.append")
        self.node(schema, "d", "", 1)
        quick: Quick = self.define("def quick(d, s):", "\n    return True\n", "<quick check>", {})
        return quick

    def closure(self, schema: Any, v: str, key: str, depth: int) -> None:
        check = self.const(_quick(schema, self.closures, key))
        self.emit(depth, f"if not {check}({v}, s): return False")

    def node(self, schema: Any, v: str, key: str, depth: int) -> None:
        if isinstance(schema, str) and schema in self.closures:
            if schema in self.active or schema not in self.schemas:
                self.closure(schema, v, key, depth)  # recursive, or defined inside a union
                return
            schema = self.schemas[schema]
        if isinstance(schema, list):
            self.union(schema, v, key, depth)
            return
        kind = schema["type"] if isinstance(schema, dict) else schema
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if kind in ("record", "enum"):
            for name in _names(schema):
                self.schemas[name] = schema
        if kind == "record":
            self.record(schema, v, depth)
        elif kind == "array":
            item = self.var("i")
            limit = LIST_LIMITS.get(key, DEFAULT_LIST_LIMIT)
            self.emit(depth, f"if type({v}) is not list or len({v}) > {limit}: return False")
            self.emit(depth, f"for {item} in {v}:")
            self.node(schema["items"], item, key, depth + 1)
        elif kind == "enum":
            self.emit(depth, f"if not isinstance({v}, str): return False")
        elif kind == "string" and logical != "uuid":
            limit = text.max_length(key)
            self.emit(depth, f"if type({v}) is not str or len({v}) > {limit}: return False")
            self.emit(depth, f"a({v})")
        else:
            self.leaf(kind, logical, v, depth)

    def leaf(self, kind: str, logical: str | None, v: str, depth: int) -> None:
        test = _TESTS[(kind, logical)][0] if (kind, logical) in _TESTS else _TESTS[(kind, None)][0]
        self.emit(depth, f"if not {self.const(test)}({v}): return False")

    def record(self, schema: dict[str, Any], v: str, depth: int) -> None:
        self.active.update(_names(schema))
        self.emit(depth, f"if type({v}) is not dict: return False")
        for field in schema["fields"]:
            name, inner = field["name"], self.var("v")
            self.emit(depth, f"if {name!r} in {v}:")
            self.emit(depth + 1, f"{inner} = {v}[{name!r}]")
            self.node(field["type"], inner, name, depth + 1)
            if "default" not in field:
                self.emit(depth, "else: return False")
        self.active.difference_update(_names(schema))

    def union(self, branches: list[Any], v: str, key: str, depth: int) -> None:
        others = [b for b in branches if b != "null"]
        if len(others) != 1:
            self.closure(branches, v, key, depth)
            return
        if len(others) < len(branches):
            self.emit(depth, f"if {v} is not None:")
            depth += 1
        else:
            self.emit(depth, f"if {v} is None: return False")
        self.node(others[0], v, key, depth)


def _quick(schema: Any, named: dict[str, Any], key: str) -> Quick:
    if isinstance(schema, str) and schema in named:
        return lambda d, s: named[schema](d, s)  # late-bound: recursive types
    if isinstance(schema, list):
        return _quick_union([_quick(b, named, key) for b in schema], schema)
    kind = schema["type"] if isinstance(schema, dict) else schema
    if kind == "record":
        return _quick_record(schema, named)
    if kind == "array":
        return _quick_array(_quick(schema["items"], named, key), key)
    if kind == "enum":
        for name in _names(schema):
            named[name] = _quick_enum
        return _quick_enum
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if kind == "string" and logical != "uuid":
        return _quick_string(text.max_length(key))
    test = _TESTS[(kind, logical)][0] if (kind, logical) in _TESTS else _TESTS[(kind, None)][0]
    return lambda d, s: test(d)


def _quick_record(schema: dict[str, Any], named: dict[str, Any]) -> Quick:
    fields: list[tuple[str, Quick, bool]] = []

    def check(datum: Any, strings: list[str]) -> bool:
        if type(datum) is not dict:
            return False
        for name, quick, optional in fields:
            if name in datum:
                if not quick(datum[name], strings):
                    return False
            elif not optional:
                return False
        return True

    for name in _names(schema):
        named[name] = check
    for field in schema["fields"]:
        fields.append(
            (field["name"], _quick(field["type"], named, field["name"]), "default" in field)
        )
    return check


def _quick_array(item: Quick, key: str) -> Quick:
    limit = LIST_LIMITS.get(key, DEFAULT_LIST_LIMIT)

    def check(datum: Any, strings: list[str]) -> bool:
        if type(datum) is not list or len(datum) > limit:
            return False
        return all(item(value, strings) for value in datum)

    return check


def _quick_union(branches: list[Quick], schemas: list[Any]) -> Quick:
    others = [b for b, s in zip(branches, schemas, strict=True) if s != "null"]
    nullable = len(others) < len(branches)

    def check(datum: Any, strings: list[str]) -> bool:
        if datum is None:
            return nullable
        # A branch that fails may have collected strings: they are checked all the same,
        # which can only send the event down the reporting path, never past a problem.
        return any(branch(datum, strings) for branch in others)

    return check


def _quick_enum(datum: Any, strings: list[str]) -> bool:
    return isinstance(datum, str)


def _quick_string(limit: int) -> Quick:
    def check(datum: Any, strings: list[str]) -> bool:
        if type(datum) is not str or len(datum) > limit:
            return False
        strings.append(datum)
        return True

    return check
