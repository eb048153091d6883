"""The `casebus` command: one entry point, one module per command group.

Each module in COMMANDS exposes `register(subparsers)`, adding its sub-command(s) with a
`handler(args) -> int` default. Errors the user can act on are raised as CommandError and
printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from casebus.config import ConfigError, Section, load_settings
from cli.common import CommandError
from pipeline.settings import SyncTuning
from services.console.settings import ConsoleSettings
from services.feeds.settings import FeedTuning
from services.ingest.settings import IngestSettings
from services.sandbox.settings import SandboxSettings

# The services' own settings models (casebus.config.Section): one per SERVICE_TABLES entry.
SECTIONS: tuple[type[Section], ...] = (
    SandboxSettings,
    IngestSettings,
    SyncTuning,
    FeedTuning,
    ConsoleSettings,
)

COMMANDS = (
    "kafka",
    "acl",
    "credentials",
    "keys",
    "topics",
    "registry",
    "schemas",
    "sandbox",
    "ingest",
    "connectors",
    "sync",
    "feed",
    "replay",
    "dlq",
    "status",
    "transfers",
    "case",
    "reconcile",
    "audit",
    "console",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="casebus",
        description="Cross-agency case-sharing bus: penalty decisions, leads and case actions "
        "as Avro events on Kafka, synced into every agency's database.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python is chatty at INFO about every connection it opens.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        check_sections()
        return int(args.handler(args) or 0)
    except (CommandError, ConfigError) as exc:
        print(f"casebus {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def check_sections() -> None:
    """Every table a service validates with its own model, validated now: a bad value
    fails at start, naming the key and the rule, whichever command runs."""
    settings = load_settings()
    for model in SECTIONS:
        model.of(settings)


if __name__ == "__main__":
    sys.exit(main())
