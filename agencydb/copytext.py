"""Rows as the text of PostgreSQL's COPY, made where the rows are built.

The decode worker builds a record's rows as tuples (agencydb/rows.py); the writer used to
receive them pickled, value by value, and have psycopg dump each value into COPY's text
format (the writer was then the busier process). The worker now dumps them itself, with
psycopg's own row formatter and dumpers (the C implementation of `Copy.write_row`, on the
same column types `Copy.set_types` is given), and hands over one bytes object per row:
cheap to send, nothing to read back, written with `Copy.write` as it came.

The formatter is psycopg's, not a public name (`psycopg._copy_base.format_row_text`): if a
psycopg release moves it, `lines_for` answers None and rows travel as tuples, as before.
The text is UTF-8, the encoding the writer's connection is set to before it writes them
(agencydb/writes.py). psycopg is imported when a formatter is asked for, that is for a
PostgreSQL database only: importing it costs a process on SQLite about 80 ms of its start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# One row of values -> its line of COPY text, newline included.
Lines = Callable[[Sequence[Any]], bytes]


def lines_for(copy_types: Sequence[str]) -> Lines | None:
    """A formatter of rows whose columns have these psycopg types (agencydb.writes'
    `copy_types`), or None if this psycopg has none to offer."""
    from psycopg import adapters, pq
    from psycopg.adapt import Transformer

    try:  # psycopg's own (C) COPY row formatter
        from psycopg._copy_base import format_row_text
    except ImportError:  # pragma: no cover - a psycopg that moved it: rows go as tuples
        return None
    transformer = Transformer()  # no connection: the global adapters, UTF-8
    oids = [adapters.types.get_oid(name) for name in copy_types]
    transformer.set_dumper_types(oids, pq.Format.TEXT)
    dump: Callable[[Sequence[Any], Any, bytearray], None] = format_row_text

    def line(row: Sequence[Any]) -> bytes:
        out = bytearray()
        dump(row, transformer, out)
        return bytes(out)

    return line
