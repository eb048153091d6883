"""`casebus audit verify AGENCY [--json]`: the agency database's log, heads and records."""

from __future__ import annotations

import argparse
import json

from casebus.config import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("audit", help="tamper evidence of agency databases")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "verify",
        help="recompute the event-log chain, match it to the published heads, check every "
        "record against the event that wrote it; exit 1 naming the first broken place",
    )
    check.add_argument("agency", metavar="AGENCY")
    check.add_argument("--json", action="store_true", help="the report as JSON")
    check.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    import getpass

    from agencydb.engine import open_database
    from services.audit.verify import verify
    from services.console.journal import record_audit

    settings = load_settings()
    settings.agency(args.agency)  # an unknown agency: ConfigError naming the configured ones
    engine = open_database(settings.sync_database_url(args.agency))
    try:
        report = verify(settings, args.agency, engine)
    finally:
        engine.dispose()
    # The console shows each agency's last result, whoever ran it.
    record_audit(
        settings, args.agency, report.to_dict(), by=f"casebus audit verify ({getpass.getuser()})"
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for line in report.lines():
            print(line)
    return 0 if report.ok else 1
