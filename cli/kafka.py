"""`casebus kafka start|stop|status`: the local single-node broker."""

from __future__ import annotations

import argparse
import time

from casebus.config import Settings, load_settings
from casebus.kafka.broker import wait_until_ready
from casebus.kafka.clients import connection_options
from casebus.kafka.jars import BrokerSetupError
from casebus.security.principals import admin
from casebus.security.secrets import MissingSecret
from casebus.security.setup import local_kafka
from cli.common import (
    command_error,
    ensure_configured_topics,
    secure_local_broker,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("kafka", help="local single-node broker (dev, demo, tests)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser(
        "start",
        help="fetch, start and wait for the broker; ensure principals, ACLs and topics",
    )
    start.add_argument("--no-topics", action="store_true", help="do not create the topics")
    start.set_defaults(handler=_start)
    actions.add_parser("stop", help="stop the broker this checkout started").set_defaults(
        handler=_stop
    )
    actions.add_parser("status", help="is it running, and where").set_defaults(handler=_status)


def _start(args: argparse.Namespace) -> int:
    settings = load_settings()
    began = time.monotonic()
    with command_error(BrokerSetupError, MissingSecret):
        if settings.kafka.uses_local_broker:
            status = local_kafka(settings).start()
            print(f"broker running (pid {status.pid}) at {status.bootstrap}")
            print(f"log: {status.log_file}")
            secure_local_broker(settings)
        else:
            wait_until_ready(_admin_connection(settings), 30)
            print(f"using the existing cluster at {settings.kafka.bootstrap_servers}")
    print(f"ready in {time.monotonic() - began:.1f}s")
    if not args.no_topics:
        ensure_configured_topics(settings)
    return 0


def _stop(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.kafka.uses_local_broker:
        print(f"kafka.bootstrap is {settings.kafka.bootstrap_servers}: nothing local to stop")
        return 0
    with command_error(BrokerSetupError):
        stopped = local_kafka(settings).stop()
    print("broker stopped" if stopped else "no broker was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.kafka.uses_local_broker:
        try:
            wait_until_ready(_admin_connection(settings), 10)
            print(f"existing cluster at {settings.kafka.bootstrap_servers}: reachable")
            return 0
        except (BrokerSetupError, MissingSecret) as exc:
            print(f"existing cluster at {settings.kafka.bootstrap_servers}: {exc}")
            return 1
    status = local_kafka(settings).status()
    if status.running:
        print(f"running (pid {status.pid}) at {status.bootstrap}")
    else:
        print(f"not running (would listen on {status.bootstrap})")
    print(f"data: {status.data_dir}\nlog: {status.log_file}")
    return 0 if status.running else 1


def _admin_connection(settings: Settings) -> dict[str, object]:
    return connection_options(settings, admin(settings))
