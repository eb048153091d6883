"""Helpers the command modules share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from casebus.config import Settings
from casebus.kafka.broker import LocalKafka
from casebus.kafka.clients import make_admin
from casebus.kafka.topics import ensure_topics


class CommandError(Exception):
    """A failure with a message meant for the operator (printed without a traceback)."""


@contextlib.contextmanager
def command_error(*kinds: type[Exception]) -> Iterator[None]:
    """Turn the named exception types into CommandError with their message."""
    try:
        yield
    except kinds as exc:
        raise CommandError(str(exc)) from exc


def local_kafka(settings: Settings) -> LocalKafka:
    return LocalKafka(settings.var_dir / "kafka", settings.kafka.local)


def ensure_configured_topics(settings: Settings) -> None:
    admin = make_admin(settings)
    try:
        result = ensure_topics(admin, settings)
    finally:
        admin.close()
    for name in result.created:
        print(f"topic {name}: created")
    for name in result.existing:
        print(f"topic {name}: exists")
