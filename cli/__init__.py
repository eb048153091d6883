"""The `casebus` command: one entry point, one module per command group.

Each module in COMMANDS exposes `register(subparsers)`, adding its sub-command(s) with a
`handler(args) -> int` default. Errors the user can act on are raised as CommandError and
printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from casebus import logs, stall
from casebus.config import ConfigError, Section, load_settings
from casebus.security.secrets import MissingSecret
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
    "mirror",
    "replay",
    "dlq",
    "status",
    "transfers",
    "case",
    "reconcile",
    "audit",
    "personal",
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
    parser.add_argument(
        "--region",
        help="in a two-region deployment, the region this command runs in (alias or code): "
        "its cluster and registry (default: CASEBUS_REGION; none: one cluster for all)",
    )
    parser.add_argument(
        "--log-format",
        choices=logs.LOG_FORMATS,
        help="text for people, json (one object a line) for a log shipper "
        "(default: log_format in config, or CASEBUS_LOG_FORMAT; text)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.region:
        os.environ["CASEBUS_REGION"] = args.region  # every load_settings() of this process
    # Before the settings load, so that a config error is logged in the format asked for.
    logs.configure(_log_format(args), verbose=args.verbose)
    stall.dump_on_signal()  # `kill -USR1 PID`: where every thread of a service is now
    logs.bind(
        service=SERVICE_NAMES.get(args.command, args.command),
        region=os.environ.get("CASEBUS_REGION") or None,
    )
    try:
        check_sections()
        if args.log_format is None and load_settings().log_format != "text":
            logs.configure(load_settings().log_format, verbose=args.verbose)
        return int(args.handler(args) or 0)
    except (CommandError, ConfigError, MissingSecret) as exc:
        print(f"casebus {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# A log line's `service` where it differs from the command's name.
SERVICE_NAMES = {"feed": "feeds"}


def _log_format(args: argparse.Namespace) -> logs.LogFormat:
    chosen = args.log_format or os.environ.get("CASEBUS_LOG_FORMAT", "text")
    return "json" if chosen == "json" else "text"


def check_sections() -> None:
    """Every table a service validates with its own model, validated now: a bad value
    fails at start, naming the key and the rule, whichever command runs."""
    settings = load_settings()
    for model in SECTIONS:
        model.of(settings)


if __name__ == "__main__":
    sys.exit(main())
