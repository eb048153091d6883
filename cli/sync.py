"""`casebus sync run AGENCY [--until-idle]`: keep an agency's database in sync."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from casebus import logs
from casebus.config import load_settings
from cli.common import CommandError, add_metrics_port, metrics_port


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sync", help="sync shared records into an agency database")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="consume the agency's subscription into its database")
    run.add_argument("agency", metavar="AGENCY", help="agency code, e.g. 510500-SAMR")
    run.add_argument("--until-idle", action="store_true", help="stop once caught up")
    add_metrics_port(run, "sync_ports.AGENCY")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from agencydb.engine import DatabaseInUse
    from services.sync.service import run_sync  # the service pulls in SQLAlchemy and alembic

    settings = load_settings()
    settings.sync.subscription(args.agency)  # fail early, with the config error
    logs.bind(agency=args.agency)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()  # finish the batch in hand, commit it, close

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port = metrics_port(settings, f"sync {args.agency}", args)
    try:
        report = run_sync(
            settings, args.agency, until_idle=args.until_idle, stop=stop, metrics_port=port
        )
    except DatabaseInUse as exc:
        raise CommandError(str(exc)) from None
    print(report.summary())
    if report.missing:
        raise CommandError(
            f"not caught up: subscribed topics missing or not readable by sync.{args.agency}: "
            + ", ".join(report.missing)
        )
    return 0
