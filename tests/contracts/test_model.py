"""The resolved schema model: Avro's name rules, defaults, recursion, the inlined form."""

from __future__ import annotations

import json

import pytest

from casebus.contracts import schemas
from casebus.contracts.model import (
    NO_DEFAULT,
    Array,
    Enum,
    Primitive,
    Record,
    SchemaError,
    Union,
    inlined,
    resolve,
)

pytestmark = pytest.mark.offline


def test_names_take_the_enclosing_namespace_and_references_resolve_to_one_node() -> None:
    schema = {
        "type": "record",
        "name": "Outer",
        "namespace": "a.b",
        "fields": [
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["X", "Y"]}},
            {"name": "again", "type": "Kind"},  # short name, enclosing namespace
            {"name": "full", "type": "a.b.Kind"},
            {"name": "other", "type": {"type": "record", "name": "c.Inner", "fields": []}},
            {"name": "inner", "type": ["null", "c.Inner"], "default": None},
        ],
    }
    root = resolve(schema)
    assert isinstance(root, Record) and root.fullname == "a.b.Outer"
    kind, again, full, other, inner = (f.type for f in root.fields)
    assert isinstance(kind, Enum) and kind.fullname == "a.b.Kind" and kind.symbols == ("X", "Y")
    assert again is kind and full is kind
    assert isinstance(other, Record) and other.fullname == "c.Inner" and other.name == "Inner"
    assert isinstance(inner, Union) and inner.nullable and inner.others == (other,)
    assert root.fields[4].default is None and root.fields[4].has_default
    assert root.fields[0].default is NO_DEFAULT and not root.fields[0].has_default


def test_a_recursive_record_is_a_cycle() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "children", "type": {"type": "array", "items": "Node"}}],
    }
    root = resolve(node)
    assert isinstance(root, Record)
    children = root.fields[0].type
    assert isinstance(children, Array) and children.items is root


def test_logical_types_are_read_once() -> None:
    amount = resolve({"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 6})
    assert isinstance(amount, Primitive)
    assert (amount.kind, amount.logical, amount.precision, amount.scale) == (
        "bytes",
        "decimal",
        18,
        6,
    )


def test_an_unknown_name_names_itself() -> None:
    with pytest.raises(SchemaError, match="unknown Avro type 'Missing'"):
        resolve({"type": "record", "name": "R", "fields": [{"name": "x", "type": "Missing"}]})


def test_the_inlined_form_of_every_contract_resolves_to_the_same_document() -> None:
    for topic in schemas.TOPIC_SCHEMAS:
        document = schemas.schema_for_topic(topic)
        again = inlined(resolve(document))
        assert json.dumps(again, ensure_ascii=False) == json.dumps(document, ensure_ascii=False)
