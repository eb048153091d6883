"""Helpers the command modules share."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from casebus.config import Settings
from casebus.kafka.clients import make_super_admin
from casebus.kafka.topics import ensure_topics
from casebus.provenance.keys import ensure_keys
from casebus.security.setup import secure_cluster


class CommandError(Exception):
    """A failure with a message meant for the operator (printed without a traceback)."""


@contextlib.contextmanager
def command_error(*kinds: type[Exception]) -> Iterator[None]:
    """Turn the named exception types into CommandError with their message."""
    try:
        yield
    except kinds as exc:
        raise CommandError(str(exc)) from exc


def secure_local_broker(settings: Settings) -> None:
    """Every principal's SCRAM credential (secrets generated on first start), then the ACLs;
    a signing key for every owner that has none (casebus.provenance)."""
    made = ensure_keys(settings)
    if made:
        print(f"signing keys: {len(made)} generated in {settings.keys_dir}")
    if settings.kafka.security.protocol == "PLAINTEXT":
        return
    done = secure_cluster(settings, generate=True)
    print(f"principals: {len(done.users) + 1}, secrets in {settings.secrets_dir}")
    removed = len(done.change.removed) + len(done.change.foreign)
    print(f"ACLs: {len(done.change.added)} added, {removed} removed")


def ensure_configured_topics(settings: Settings) -> None:
    admin = make_super_admin(settings)
    try:
        result = ensure_topics(admin, settings)
    finally:
        admin.close()
    for name in result.created:
        print(f"topic {name}: created")
    for name in result.existing:
        print(f"topic {name}: exists")


def add_metrics_port(parser: argparse.ArgumentParser, service: str) -> None:
    """`--metrics-port N`: where the service serves /metrics, /healthz and /readyz."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help=f"serve /metrics, /healthz, /readyz on port N (0: off; default: metrics.{service})",
    )


def metrics_port(settings: Settings, service: str, args: argparse.Namespace) -> int:
    """The --metrics-port given, else the configured port of `service` (0: off)."""
    return settings.metrics.port_for(service, getattr(args, "metrics_port", None))
