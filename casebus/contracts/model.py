"""An Avro schema resolved once, the one model every schema walker reads.

`resolve` turns schema JSON into nodes: named types (records, enums, fixed) resolved by the
Avro specification's rules (a name without a dot takes the enclosing namespace; a reference
is looked up under the enclosing namespace, then as a full name), logical types and their
parameters read once, field defaults kept apart from "no default". A named type referenced
again is the same node object, so a recursive record is a cycle, which walkers see by
identity. Every node keeps its JSON (`json`), so `inlined` writes the schema back as one
self-contained document: each named type defined where it first occurs, named after that.

Walkers: the validator's checks and its quick pass (casebus.contracts.typecheck), the
generated encoder (casebus.serde.compiled), the ingest JSON converter
(services/ingest/convert.py), the partner view of a lead (casebus.contracts.partner) and the
inliner of the schema files (casebus.contracts.schemas). None of them resolves a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


class SchemaError(ValueError):
    """A schema that does not resolve (the message names the type)."""


def full_name(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


@dataclass(eq=False)
class Named:
    name: str  # the short name
    namespace: str
    json: dict[str, Any]

    @property
    def fullname(self) -> str:
        return full_name(self.name, self.namespace)


@dataclass(eq=False)
class Record(Named):
    fields: list[Field] = field(default_factory=list)  # filled after the record is known

    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)


@dataclass(eq=False)
class Enum(Named):
    symbols: tuple[str, ...] = ()


@dataclass(eq=False)
class Fixed(Named):
    size: int = 0


@dataclass(frozen=True, eq=False)
class Field:
    name: str
    type: Node
    json: dict[str, Any]
    default: Any = NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True, eq=False)
class Array:
    items: Node
    json: dict[str, Any]


@dataclass(frozen=True, eq=False)
class Map:
    values: Node
    json: dict[str, Any]


@dataclass(frozen=True, eq=False)
class Union:
    branches: tuple[Node, ...]

    @property
    def nullable(self) -> bool:
        return any(is_null(b) for b in self.branches)

    @property
    def others(self) -> tuple[Node, ...]:
        """The branches other than null."""
        return tuple(b for b in self.branches if not is_null(b))


@dataclass(frozen=True, eq=False)
class Primitive:
    kind: str  # null, boolean, int, long, float, double, bytes, string
    logical: str | None = None  # uuid, date, timestamp-millis, decimal, ...
    precision: int | None = None  # decimal
    scale: int = 0  # decimal
    json: Any = None  # as written: "string" or {"type": "string", "logicalType": "uuid"}


Node = Record | Enum | Fixed | Array | Map | Union | Primitive


def is_null(node: Node) -> bool:
    return isinstance(node, Primitive) and node.kind == "null"


def resolve(schema: Any, known: Mapping[str, Any] | None = None, namespace: str = "") -> Node:
    """The model of `schema` (JSON). `known`: named types defined elsewhere, by full name,
    resolved at their first reference (the schema files)."""
    return _Resolver(known or {}).node(schema, namespace)


class _Resolver:
    def __init__(self, known: Mapping[str, Any]) -> None:
        self.known = known
        self.named: dict[str, Named] = {}

    def node(self, schema: Any, namespace: str) -> Node:
        if isinstance(schema, str):
            return self.reference(schema, namespace)
        if isinstance(schema, list):
            return Union(tuple(self.node(b, namespace) for b in schema))
        if not isinstance(schema, dict) or "type" not in schema:
            raise SchemaError(f"not an Avro schema: {schema!r}")
        kind = schema["type"]
        if kind in ("record", "error"):
            return self.record(schema, namespace)
        if kind == "enum":
            ns = self.namespace_of(schema, namespace)
            return self.define(Enum(schema["name"], ns, schema, tuple(schema["symbols"])))
        if kind == "fixed":
            ns = self.namespace_of(schema, namespace)
            return self.define(Fixed(schema["name"], ns, schema, int(schema["size"])))
        if kind == "array":
            return Array(self.node(schema["items"], namespace), schema)
        if kind == "map":
            return Map(self.node(schema["values"], namespace), schema)
        if isinstance(kind, str) and kind in PRIMITIVES:
            logical = schema.get("logicalType")
            precision = schema.get("precision")
            return Primitive(
                kind,
                logical,
                None if precision is None else int(precision),
                int(schema.get("scale", 0)),
                schema,
            )
        return self.node(kind, namespace)  # {"type": <a name or a schema>}

    def reference(self, name: str, namespace: str) -> Node:
        if name in PRIMITIVES:
            return Primitive(name, json=name)
        for candidate in (full_name(name, namespace), name):
            found = self.named.get(candidate)
            if found is not None:
                return found  # type: ignore[return-value]
            if candidate in self.known:
                ns = candidate.rsplit(".", 1)[0] if "." in candidate else ""
                return self.node(self.known[candidate], ns)
        raise SchemaError(f"unknown Avro type {name!r} (in namespace {namespace!r})")

    @staticmethod
    def namespace_of(schema: dict[str, Any], enclosing: str) -> str:
        name = str(schema["name"])
        if "." in name:
            return name.rsplit(".", 1)[0]
        return str(schema.get("namespace", enclosing))

    def define(self, named: Named) -> Any:
        if "." in named.name:
            named.name = named.name.rsplit(".", 1)[1]
        self.named[named.fullname] = named
        return named

    def record(self, schema: dict[str, Any], namespace: str) -> Record:
        ns = self.namespace_of(schema, namespace)
        record: Record = self.define(Record(schema["name"], ns, schema))
        for f in schema["fields"]:
            default = f.get("default", NO_DEFAULT)
            record.fields.append(Field(f["name"], self.node(f["type"], ns), f, default))
        return record


def inlined(node: Node) -> Any:
    """The schema as one JSON document: each named type defined at its first occurrence,
    referred to by full name after that; every other property as written."""
    seen: set[str] = set()

    def emit(n: Node) -> Any:
        if isinstance(n, Named):
            if n.fullname in seen:
                return n.fullname
            seen.add(n.fullname)
            if isinstance(n, Record):
                out = dict(n.json)
                out["fields"] = [{**f.json, "type": emit(f.type)} for f in n.fields]
                return out
            return dict(n.json)
        if isinstance(n, Union):
            return [emit(b) for b in n.branches]
        if isinstance(n, Array):
            return {**n.json, "items": emit(n.items)}
        if isinstance(n, Map):
            return {**n.json, "values": emit(n.values)}
        return n.json if isinstance(n.json, str) else dict(n.json)

    return emit(node)
