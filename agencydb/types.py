"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


def _sqlite_instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def json_text(value: Any) -> str:
    """JSON columns' text on every dialect and path (bulk writes and the engine's own):
    orjson, compact and UTF-8, several times faster than json.dumps; read back by any
    JSON parser."""
    return orjson.dumps(value).decode("utf-8")


# JSON lists (penalty categories, shared_with, ...): jsonb on PostgreSQL.
JsonList = JSON().with_variant(JSONB(), "postgresql")


class Money(TypeDecorator[Decimal]):
    """Exact decimal (万元, scale 6): NUMERIC(18, 6) on PostgreSQL, TEXT on SQLite.

    SQLite has no exact decimal type; SQLAlchemy would store a float there.
    """

    impl = Numeric(18, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 6, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC instant; SQLite keeps no zone, so values read back are made aware again."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # The text SQLAlchemy's SQLite DATETIME stores ("2025-03-01 08:00:00.000000"), made
        # by datetime.isoformat in C: a third of the cost of its Python formatting, and sync
        # writes several instants per event.
        return _sqlite_instant

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is not None and dialect.name == "sqlite" and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
