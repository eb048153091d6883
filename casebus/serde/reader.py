"""Avro binary decoders generated from a schema: fastavro's values, without its per-field cost.

fastavro's `schemaless_reader` dispatches on the schema for every field of every value it
reads (about 1 µs a field on the development machine, 40-60 µs for a penalty event, the
decode worker's largest cost). Here a writer schema is turned once into straight-line Python
that reads every field in order from the bytes and builds the same dicts, lists, strings,
numbers, `Decimal`s, `date`s, UTC `datetime`s and `UUID`s that fastavro gives.

Used only where no schema resolution is needed (the value was written with the reader's own
schema). It is a fast path, never the judge: a value it cannot read (truncated, malformed,
a boolean byte other than 0 or 1, an unknown union branch, bad UTF-8) makes it raise, and
the caller reads the value with fastavro, whose value or error stands. Schemas with features
not compiled here (recursion, logical types other than uuid, date, timestamp-millis and
bytes decimals) give no decoder at all. The tests hold it to fastavro's output.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import struct
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

from casebus.codegen import Source
from casebus.contracts.model import Array, Enum, Fixed, Map, Node, Primitive, Record, Union, resolve

log = logging.getLogger(__name__)

# fastavro's own constants and expressions, so that values compare and print alike.
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAYS_SHIFT = dt.date(1970, 1, 1).toordinal()
_MILLI = dt.timedelta(milliseconds=1)

# A value read with the generated function: (value, position after it).
Read = Callable[[bytes, int], tuple[Any, int]]


class Unreadable(Exception):
    """The bytes are not a value this decoder reads: let fastavro read (or refuse) them."""


class _Unsupported(Exception):
    """A schema feature this module does not compile."""


def _varint(b: bytes, p: int, x: int) -> tuple[int, int]:
    """The rest of a varint whose first byte `x` (already read) said more follows; the
    zig-zagged value and the position after it."""
    x &= 0x7F
    shift = 7
    while True:
        c = b[p]
        p += 1
        x |= (c & 0x7F) << shift
        if c < 0x80:
            return x, p
        shift += 7
        if shift > 63:
            raise Unreadable("a varint longer than 10 bytes")


@cache
def _context(precision: int) -> decimal.Context:
    return decimal.Context(prec=precision)


def _bad(why: str) -> Any:
    raise Unreadable(why)


class _Reader(Source):
    """Emits the source of one function reading a datum of the schema from `b` at `p`."""

    def __init__(self) -> None:
        super().__init__()
        self.active: set[int] = set()  # records being read: a reference back recurses

    def long(self, depth: int, v: str) -> None:
        """Read an Avro int or long into `v`."""
        self.emit(depth, f"{v} = b[p]")
        self.emit(depth, "p += 1")
        self.emit(depth, f"if {v} > 127: {v}, p = _varint(b, p, {v})")
        self.emit(depth, f"{v} = ({v} >> 1) ^ -({v} & 1)")

    def raw(self, depth: int, v: str) -> None:
        """Read Avro bytes (a length, then as many bytes) into `v`."""
        n = self.var("n")
        self.long(depth, n)
        self.emit(depth, f"if {n} < 0 or p + {n} > len(b): _bad('a length past the end')")
        self.emit(depth, f"{v} = b[p : p + {n}]")
        self.emit(depth, f"p += {n}")

    def datum(self, node: Node, v: str, depth: int) -> None:
        """Read a value of `node` into variable `v`."""
        if isinstance(node, Union):
            self.union(node, v, depth)
        elif isinstance(node, Record):
            if id(node) in self.active:
                raise _Unsupported("recursive record")
            self.active.add(id(node))
            self.record(node, v, depth)
            self.active.discard(id(node))
        elif isinstance(node, Array):
            self.blocks(v, depth, lambda d, item: self.datum(node.items, item, d), "[]")
        elif isinstance(node, Map):
            self.blocks(v, depth, lambda d, item: self.entry(node.values, item, d), "{}")
        elif isinstance(node, Enum):
            symbols = self.const(node.symbols)
            self.long(depth, v)
            self.emit(depth, f"{v} = {symbols}[{v}] if {v} >= 0 else _bad('enum index')")
        elif isinstance(node, Fixed):
            self.emit(depth, f"if p + {node.size} > len(b): _bad('a fixed past the end')")
            self.emit(depth, f"{v} = b[p : p + {node.size}]")
            self.emit(depth, f"p += {node.size}")
        elif isinstance(node, Primitive):
            self.primitive(node, v, depth)
        else:
            raise _Unsupported(type(node).__name__.lower())

    def record(self, node: Record, v: str, depth: int) -> None:
        names = []
        for f in node.fields:
            inner = self.var("v")
            self.datum(f.type, inner, depth)
            names.append(f"{f.name!r}: {inner}")
        self.emit(depth, f"{v} = {{{', '.join(names)}}}")

    def entry(self, values: Node, item: str, depth: int) -> None:
        """A map entry: its key, then its value, as a (key, value) pair in `item`."""
        key, value = self.var("k"), self.var("v")
        self.raw(depth, key)
        self.emit(depth, f"{key} = {key}.decode()")
        self.datum(values, value, depth)
        self.emit(depth, f"{item} = ({key}, {value})")

    def blocks(self, v: str, depth: int, item_code: Callable[[int, str], None], empty: str) -> None:
        """An array or map: blocks of items (a count, negative when a byte size follows),
        ended by a zero count."""
        count, item, size = self.var("c"), self.var("i"), self.var("s")
        self.emit(depth, f"{v} = {empty}")
        self.emit(depth, "while True:")
        self.long(depth + 1, count)
        self.emit(depth + 1, f"if not {count}: break")
        self.emit(depth + 1, f"if {count} < 0:")
        self.emit(depth + 2, f"{count} = -{count}")
        self.long(depth + 2, size)
        self.emit(depth + 1, f"for _ in range({count}):")
        item_code(depth + 2, item)
        if empty == "[]":
            self.emit(depth + 2, f"{v}.append({item})")
        else:
            self.emit(depth + 2, f"{v}[{item}[0]] = {item}[1]")

    def union(self, node: Union, v: str, depth: int) -> None:
        index = self.var("u")
        self.long(depth, index)
        for i, branch in enumerate(node.branches):
            self.emit(depth, f"{'if' if i == 0 else 'elif'} {index} == {i}:")
            self.datum(branch, v, depth + 1)
        self.emit(depth, "else:")
        self.emit(depth + 1, "_bad('a union branch the schema does not have')")

    def primitive(self, node: Primitive, v: str, depth: int) -> None:
        kind, logical = node.kind, node.logical
        if logical not in (None, "uuid", "date", "timestamp-millis", "decimal"):
            raise _Unsupported(f"logical type {logical}")
        if kind == "null":
            self.emit(depth, f"{v} = None")
        elif kind == "boolean":
            self.emit(depth, f"{v} = b[p]")
            self.emit(depth, "p += 1")
            self.emit(depth, f"if {v} > 1: _bad('a boolean byte other than 0 or 1')")
            self.emit(depth, f"{v} = {v} == 1")
        elif kind in ("int", "long"):
            self.long(depth, v)
            if logical == "date" and kind == "int":
                self.emit(depth, f"{v} = _date({v} + {_DAYS_SHIFT})")
            elif logical == "timestamp-millis" and kind == "long":
                self.emit(depth, f"{v} = _EPOCH + _MILLI * {v}")
            elif logical is not None:
                raise _Unsupported(f"{logical} on {kind}")
        elif kind in ("float", "double"):
            size, fmt = (4, "<f") if kind == "float" else (8, "<d")
            self.emit(depth, f"if p + {size} > len(b): _bad('a number past the end')")
            self.emit(depth, f"{v} = _unpack({fmt!r}, b, p)[0]")
            self.emit(depth, f"p += {size}")
        elif kind == "string":
            self.raw(depth, v)
            self.emit(depth, f"{v} = {v}.decode()")
            if logical == "uuid":
                self.emit(depth, f"{v} = _UUID({v})")
            elif logical is not None:
                raise _Unsupported(f"{logical} on string")
        elif kind == "bytes":
            self.raw(depth, v)
            if logical == "decimal":
                if node.precision is None:
                    raise _Unsupported("decimal without a precision")
                context = self.const(_context(node.precision))
                self.emit(
                    depth,
                    f"{v} = {context}.create_decimal(_from_bytes({v}, 'big', signed=True))"
                    f".scaleb({-node.scale}, {context})",
                )
            elif logical is not None:
                raise _Unsupported(f"{logical} on bytes")
        else:
            raise _Unsupported(kind)


_SCOPE: dict[str, Any] = {
    "_varint": _varint,
    "_bad": _bad,
    "_date": dt.date.fromordinal,
    "_EPOCH": _EPOCH,
    "_MILLI": _MILLI,
    "_UUID": uuid.UUID,
    "_unpack": struct.unpack_from,
    "_from_bytes": int.from_bytes,
}


def compile_decoder(schema: Any) -> Read | None:
    """A decoder for a parsed-from-JSON writer schema, or None when it uses something not
    compiled here (then fastavro reads every value)."""
    name = schema.get("name", "?") if isinstance(schema, dict) else str(schema)
    r = _Reader()
    try:
        r.datum(resolve(schema), "d", 1)
    except _Unsupported as exc:
        log.info("%s: no generated decoder (%s); fastavro reads every value", name, exc)
        return None
    read: Read = r.define("def read(b, p):", "\n    return d, p\n", "<avro decoder>", _SCOPE)
    return read


def decode(read: Read, data: bytes, start: int) -> tuple[Any, int]:
    """Run a generated decoder; any failure is Unreadable (the bytes go to fastavro)."""
    try:
        return read(data, start)
    except Unreadable:
        raise
    except Exception as exc:  # IndexError past the end, bad UTF-8, a bad UUID, ...
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
