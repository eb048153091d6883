"""`casebus connectors run [NAME...] [--once]`: pull the source systems, publish events."""

from __future__ import annotations

import argparse
import json
import signal
from types import FrameType

from casebus.config import load_settings
from cli.common import add_metrics_port, metrics_port


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("connectors", help="source-system connectors")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run connectors on their schedule (or once)")
    run.add_argument("names", nargs="*", metavar="NAME", help="connectors (default: all)")
    run.add_argument("--once", action="store_true", help="run each once, then exit")
    add_metrics_port(run, "connectors_port (not with --once)")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from connectors.runner import ConnectorSet, select
    from connectors.schedule import run_scheduled

    settings = load_settings()
    if not args.once:
        run_scheduled(settings, args.names, metrics_port=metrics_port(settings, "connectors", args))
        return 0
    group = ConnectorSet(settings, select(settings, args.names))

    def stop(signum: int, frame: FrameType | None) -> None:
        group.stop.set()  # finish the current page (flushed, checkpointed), then exit

    signal.signal(signal.SIGTERM, stop)
    failed = False
    try:
        for config in group.configs:
            if group.stop.is_set():
                break
            report = group.run(config)
            failed = failed or report.error is not None
            print(json.dumps(report.as_dict(), ensure_ascii=False))
    finally:
        group.close()
    return 1 if failed else 0
