"""`casebus case show CASE_ID --agency AGENCY [--json]`: a case as an agency holds it, as
rich tables (its records, then its timeline) or as JSON."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from casebus.config import Settings, load_settings
from casebus.events import EventType
from cli.common import CommandError

if TYPE_CHECKING:  # SQLAlchemy is loaded when the command runs, not at every start
    from agencydb.case_view import CaseRecord, CaseView

# What to show of each kind in one line.
_SUMMARY = {
    "penalty": ("party_name", "penalty_content", "fine_amount", "revoke_reason"),
    "lead": ("shop_name", "status", "infringement_type", "platform"),
    "transfer": ("kind", "from_owner", "to_owner", "document_no", "decision"),
    "action": ("kind", "party_name", "content"),
    "case": ("linked_case_ids", "reason"),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("case", help="look at a case in an agency database")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="a case's records and timeline")
    show.add_argument("case_id", metavar="CASE_ID")
    show.add_argument("--agency", required=True, help="whose database to read")
    show.add_argument("--json", action="store_true", help="JSON instead of tables")
    show.add_argument(
        "--public",
        action="store_true",
        help="only its penalties, as published for double publicity: personal data removed, "
        "a natural person's identity number masked",
    )
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.public:
        found = show_public(settings, args.agency, args.case_id, as_json=args.json)
        if not found:
            raise CommandError(f"{args.agency} holds no published penalty of case {args.case_id}")
        return 0
    view = show_case(settings, args.agency, args.case_id, as_json=args.json)
    if not view.records:
        raise CommandError(f"{args.agency} holds no records of case {args.case_id}")
    return 0


def public_penalties(view: CaseView) -> list[dict[str, Any]]:
    """The case's penalties as published (casebus.personal.publicity), by decision number."""
    from casebus.personal.publicity import public_penalty

    out = []
    for r in view.records:
        if r.kind != "penalty":
            continue
        shown = public_penalty(r.content, revoked=r.event_type == EventType.PENALTY_REVOKED.value)
        if shown is not None:
            out.append({"owner": r.owner, **shown})
    return out


def show_public(
    settings: Settings,
    agency: str,
    case_id: str,
    *,
    as_json: bool = False,
    console: Console | None = None,
) -> list[dict[str, Any]]:
    """Print the case's published penalties from `agency`'s database."""
    from agencydb.case_view import load_case

    view = load_case(settings.sync_database_url(agency), agency, case_id)
    found = public_penalties(view)
    console = console or Console()
    if as_json:
        console.print_json(json.dumps(found, ensure_ascii=False, default=str))
        return found
    for penalty in found:
        table = Table(title=f"行政处罚公示 {penalty['decision_no']}", show_header=False)
        table.add_column("item")
        table.add_column("value", overflow="fold")
        for item, value in penalty.items():
            shown = "、".join(map(str, value)) if isinstance(value, list) else value
            table.add_row(item, "" if shown is None else str(shown))
        console.print(table)
    return found


def _summary(record: CaseRecord) -> str:
    parts = []
    for name in _SUMMARY[record.kind]:
        value = record.content.get(name)
        if value not in (None, "", []):
            parts.append(", ".join(map(str, value)) if isinstance(value, list) else str(value))
    text = " · ".join(parts)
    return text if len(text) <= 80 else text[:79] + "…"


def _code(event_type: str | None) -> str:
    try:
        return EventType(event_type or "").code  # penalty.issued
    except ValueError:
        return (event_type or "").lower()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def render_case(view: CaseView, console: Console | None = None) -> None:
    """Print the case: a table of its records, then its timeline."""
    console = console or Console()
    title = f"case {view.case_id} as held by {view.agency}"
    if view.linked_cases:
        title += f" (linked: {', '.join(view.linked_cases)})"
    if not view.records:
        console.print(f"{title}: no records")
        return
    records = Table(
        title=title, caption=f"owners: {', '.join(view.owners)}; regions: {', '.join(view.regions)}"
    )
    for col in (
        "case",
        "kind",
        "owner",
        "record",
        "rev",
        "state",
        "region",
        "handling",
        "occurred",
        "summary",
    ):
        records.add_column(col, overflow="fold")
    for r in view.records:
        records.add_row(
            r.case_id,
            r.kind,
            r.owner,
            r.record_id,
            str(r.revision),
            _code(r.event_type),
            r.region,
            r.handling,
            _when(r.occurred_at),
            _summary(r),
        )
    console.print(records)
    timeline = Table(title="timeline")
    for col in ("occurred", "event", "owner", "record", "rev", "outcome", "from"):
        timeline.add_column(col, overflow="fold")
    for e in view.timeline:
        timeline.add_row(
            _when(e.occurred_at),
            _code(e.event_type),
            e.owner or "",
            e.record_id or "",
            str(e.revision or ""),
            e.outcome,
            e.source,
        )
    console.print(timeline)


def show_case(
    settings: Settings,
    agency: str,
    case_id: str,
    *,
    as_json: bool = False,
    console: Console | None = None,
) -> CaseView:
    """Load `case_id` from `agency`'s database and print it (rich tables, or JSON)."""
    from agencydb.case_view import load_case

    view = load_case(settings.sync_database_url(agency), agency, case_id)
    console = console or Console()
    if as_json:
        console.print_json(view.to_json())
    else:
        render_case(view, console)
    return view
