"""`casebus case show CASE_ID --agency AGENCY [--json]`: a case as an agency holds it."""

from __future__ import annotations

import argparse

from casebus.config import load_settings
from services.cli.common import CommandError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("case", help="look at a case in an agency database")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="a case's records and timeline")
    show.add_argument("case_id", metavar="CASE_ID")
    show.add_argument("--agency", required=True, help="whose database to read")
    show.add_argument("--json", action="store_true", help="JSON instead of tables")
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    from services.sync.case_view import show_case

    view = show_case(load_settings(), args.agency, args.case_id, as_json=args.json)
    if not view.records:
        raise CommandError(f"{args.agency} holds no records of case {args.case_id}")
    return 0
