"""`casebus feed run [--until-idle]` and `casebus feed show PLATFORM [--json]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from casebus.config import load_settings
from cli.common import add_metrics_port, metrics_port


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("feed", help="partner lead feeds (one per platform)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="forward casebus.lead into every platform's feed")
    run.add_argument("--until-idle", action="store_true", help="stop once caught up")
    add_metrics_port(run, "feeds_port")
    run.set_defaults(handler=_run)
    show = actions.add_parser("show", help="what a platform currently sees")
    show.add_argument("platform", metavar="PLATFORM", help="PLATFORM-JD, or its feed name jd")
    show.add_argument("--json", action="store_true", help="JSON instead of a table")
    show.set_defaults(handler=_show)


def _run(args: argparse.Namespace) -> int:
    from services.feeds.service import run_feeds

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()  # finish the transaction in hand, then close

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    settings = load_settings()
    port = metrics_port(settings, "feeds", args)
    report = run_feeds(settings, until_idle=args.until_idle, stop=stop, metrics_port=port)
    print(report.summary())
    return 0


def _show(args: argparse.Namespace) -> int:
    from services.feeds.view import read_feed, render, to_json

    settings = load_settings()
    view = read_feed(settings, settings.platform(args.platform))
    if args.json:
        sys.stdout.write(to_json(view) + "\n")
    else:
        render(view)
    return 0
