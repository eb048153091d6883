"""Alembic environment: run with a connection handed over by agencydb.engine."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from agencydb.engine import make_engine
from agencydb.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the alembic command line: `alembic -x url=... upgrade head`
    url = context.get_x_argument(as_dictionary=True)["url"]
    with make_engine(url).begin() as conn:
        _run(conn)
