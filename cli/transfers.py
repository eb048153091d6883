"""`casebus transfers due [--agency A] [--json]`: open transfers and their deadlines."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from casebus.config import load_settings

STYLE = {"overdue": "bold red", "due soon": "yellow", "open": ""}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("transfers", help="case transfers (移送), incl. to judicial organs")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    due = actions.add_parser("due", help="open transfers with each step's deadline")
    due.add_argument("--agency", help="one agency's database (default: every synced one)")
    due.add_argument("--json", action="store_true", help="JSON instead of a table")
    due.set_defaults(handler=_due)


def _due(args: argparse.Namespace) -> int:
    from agencydb.engine import make_engine
    from agencydb.transfers import due_transfers

    settings = load_settings()
    agencies = [args.agency] if args.agency else [s.agency for s in settings.sync.subscriptions]
    found = []
    for agency in agencies:
        settings.sync.subscription(agency)  # a config error names the agency
        engine = make_engine(settings.sync_database_url(agency))
        try:
            found += due_transfers(engine, agency)
        finally:
            engine.dispose()
    if args.json:
        import json

        sys.stdout.write(json.dumps([d.to_dict() for d in found], ensure_ascii=False) + "\n")
        return 0
    table = Table("database", "transfer", "case", "step", "due (UTC)", "status")
    for d in found:
        table.add_row(
            d.agency,
            f"{d.owner} {d.document_no}",
            d.case_id,
            d.step,
            d.due.strftime("%Y-%m-%d %H:%M"),
            f"[{STYLE[d.status]}]{d.status}" if STYLE[d.status] else d.status,
        )
    Console().print(table)
    return 0
