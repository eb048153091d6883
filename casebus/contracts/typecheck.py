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
from casebus.contracts.model import (
    Array,
    Enum,
    Node,
    Primitive,
    Record,
    SchemaError,
    Union,
    is_null,
    resolve,
)

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
    return _compile(resolve(schema), {}, "")


def _compile(node: Node, named: dict[int, Checker], key: str) -> Checker:
    if isinstance(node, Record):
        return named.get(id(node)) or _record(node, named)  # met before: recursion
    if isinstance(node, Enum):
        return _enum_checker(node)
    if isinstance(node, Union):
        return _union([_compile(b, named, key) for b in node.branches], node)
    if isinstance(node, Array):
        return _array(_compile(node.items, named, key), key)
    if isinstance(node, Primitive):
        if _is_text(node):
            return _string(text.max_length(key))
        return _primitive(node.kind, node.logical)
    raise SchemaError(f"{type(node).__name__} types are not used in casebus contracts")


def _record(node: Record, named: dict[int, Checker]) -> Checker:
    fields: list[tuple[str, Checker, bool]] = []
    title = node.name

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

    named[id(node)] = check  # before the fields: a reference back finds it
    for f in node.fields:
        fields.append((f.name, _compile(f.type, named, f.name), f.has_default))
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


def _union(branches: list[Checker], node: Union) -> Checker:
    others = [(b, n) for b, n in zip(branches, node.branches, strict=True) if not is_null(n)]
    nullable = node.nullable
    if len(others) == 1:
        only = others[0][0]

        def optional(datum: Any, path: str, report: Report) -> None:
            if datum is None:
                if not nullable:
                    report(path, "required", None, "is required")
            else:
                only(datum, path, report)

        return optional

    # Each branch's field names, to try the one sharing most keys with the datum first.
    ranked_fields = [
        (b, n.field_names() if isinstance(n, Record) else frozenset()) for b, n in others
    ]

    def check(datum: Any, path: str, report: Report) -> None:
        if datum is None:
            if not nullable:
                report(path, "required", None, "is required")
            return
        found: list[Any] = []
        best: list[Any] | None = None
        keys = set(datum) if isinstance(datum, dict) else set()
        # Stop at the first branch that fits.
        ranked = sorted(ranked_fields, key=lambda bf: -len(keys & bf[1]))
        for branch, _ in ranked:
            found = []
            branch(datum, path, lambda *args, sink=found: sink.append(args))
            if not found:
                return
            best = best if best is not None else found
        for args in best or found:
            report(*args)

    return check


def _enum_checker(node: Enum) -> Checker:
    title = node.name

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
    test, expected = _type_test(kind, logical)

    def check(datum: Any, path: str, report: Report) -> None:
        if not test(datum):
            report(path, "type", datum, f"expected {expected}, got {type(datum).__name__}")

    return check


def _is_text(node: Primitive) -> bool:
    """A string the text policy applies to (a UUID is checked as a UUID)."""
    return node.kind == "string" and node.logical != "uuid"


def _type_test(kind: str, logical: str | None) -> tuple[Callable[[Any], bool], str]:
    """The Avro type check of a primitive; a logical type without one of its own is
    checked as its underlying type."""
    return _TESTS.get((kind, logical)) or _TESTS[(kind, None)]


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
    return _QuickSource().build(resolve(schema))


class _QuickSource(Source):
    """Writes the source of a Quick: each check returns False at the first failure."""

    def __init__(self) -> None:
        super().__init__()
        self.closures: dict[int, Quick] = {}  # per named type, for what is left to closures
        self.active: set[int] = set()  # records being written (a reference back: recursion)

    def build(self, node: Node) -> Quick:
        self.emit(1, "a = s.append")
        self.node(node, "d", "", 1)
        quick: Quick = self.define("def quick(d, s):", "\n    return True\n", "<quick check>", {})
        return quick

    def closure(self, node: Node, v: str, key: str, depth: int) -> None:
        check = self.const(_quick(node, self.closures, key))
        self.emit(depth, f"if not {check}({v}, s): return False")

    def node(self, node: Node, v: str, key: str, depth: int) -> None:
        if isinstance(node, Union):
            self.union(node, v, key, depth)
        elif isinstance(node, Record):
            if id(node) in self.active:
                self.closure(node, v, key, depth)  # recursive
            else:
                self.record(node, v, depth)
        elif isinstance(node, Array):
            item = self.var("i")
            limit = LIST_LIMITS.get(key, DEFAULT_LIST_LIMIT)
            self.emit(depth, f"if type({v}) is not list or len({v}) > {limit}: return False")
            self.emit(depth, f"for {item} in {v}:")
            self.node(node.items, item, key, depth + 1)
        elif isinstance(node, Enum):
            self.emit(depth, f"if not isinstance({v}, str): return False")
        elif isinstance(node, Primitive) and _is_text(node):
            limit = text.max_length(key)
            self.emit(depth, f"if type({v}) is not str or len({v}) > {limit}: return False")
            self.emit(depth, f"a({v})")
        elif isinstance(node, Primitive):
            self.leaf(node.kind, node.logical, v, depth)
        else:
            raise SchemaError(f"{type(node).__name__} types are not used in casebus contracts")

    def leaf(self, kind: str, logical: str | None, v: str, depth: int) -> None:
        test = _type_test(kind, logical)[0]
        self.emit(depth, f"if not {self.const(test)}({v}): return False")

    def record(self, node: Record, v: str, depth: int) -> None:
        self.active.add(id(node))
        self.emit(depth, f"if type({v}) is not dict: return False")
        for f in node.fields:
            inner = self.var("v")
            self.emit(depth, f"if {f.name!r} in {v}:")
            self.emit(depth + 1, f"{inner} = {v}[{f.name!r}]")
            self.node(f.type, inner, f.name, depth + 1)
            if not f.has_default:
                self.emit(depth, "else: return False")
        self.active.discard(id(node))

    def union(self, node: Union, v: str, key: str, depth: int) -> None:
        others = node.others
        if len(others) != 1:
            self.closure(node, v, key, depth)
            return
        if node.nullable:
            self.emit(depth, f"if {v} is not None:")
            depth += 1
        else:
            self.emit(depth, f"if {v} is None: return False")
        self.node(others[0], v, key, depth)


def _quick(node: Node, named: dict[int, Quick], key: str) -> Quick:
    if isinstance(node, Record):
        return named.get(id(node)) or _quick_record(node, named)  # met before: recursion
    if isinstance(node, Enum):
        return _quick_enum
    if isinstance(node, Union):
        return _quick_union([_quick(b, named, key) for b in node.branches], node)
    if isinstance(node, Array):
        return _quick_array(_quick(node.items, named, key), key)
    if isinstance(node, Primitive):
        if _is_text(node):
            return _quick_string(text.max_length(key))
        test = _type_test(node.kind, node.logical)[0]
        return lambda d, s: test(d)
    raise SchemaError(f"{type(node).__name__} types are not used in casebus contracts")


def _quick_record(node: Record, named: dict[int, Quick]) -> Quick:
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

    named[id(node)] = check  # before the fields: a reference back finds it
    for f in node.fields:
        fields.append((f.name, _quick(f.type, named, f.name), f.has_default))
    return check


def _quick_array(item: Quick, key: str) -> Quick:
    limit = LIST_LIMITS.get(key, DEFAULT_LIST_LIMIT)

    def check(datum: Any, strings: list[str]) -> bool:
        if type(datum) is not list or len(datum) > limit:
            return False
        return all(item(value, strings) for value in datum)

    return check


def _quick_union(branches: list[Quick], node: Union) -> Quick:
    others = [b for b, n in zip(branches, node.branches, strict=True) if not is_null(n)]
    nullable = node.nullable

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
