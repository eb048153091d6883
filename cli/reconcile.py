"""`casebus reconcile AGENCY_A AGENCY_B [--case ID]`: do two databases hold the same records?"""

from __future__ import annotations

import argparse

from casebus.config import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "reconcile", help="compare two agency databases on the records both should hold"
    )
    parser.add_argument("agency_a", metavar="AGENCY_A")
    parser.add_argument("agency_b", metavar="AGENCY_B")
    parser.add_argument("--case", dest="case_id", metavar="ID", help="compare one case only")
    parser.set_defaults(handler=_reconcile)


def _reconcile(args: argparse.Namespace) -> int:
    from agencydb.reconcile import reconcile

    report = reconcile(load_settings(), args.agency_a, args.agency_b, args.case_id)
    for line in report.lines():
        print(line)
    return 0 if report.identical else 1
