"""`casebus dlq show CONSUMER [--reason R] [--since T] [--json]` and
`casebus dlq redrive CONSUMER [--reason R] [--since T] [--dry-run] [--rate N] [--json]`:
what a DLQ holds, and sending it back through the pipeline once the cause is fixed.

Both read the DLQ as the admin principal (only it may: casebus/security/acls.py);
`--principal` runs them as another one, which the broker refuses."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from casebus.config import Settings, load_settings
from cli.common import CommandError

if TYPE_CHECKING:  # the services are imported when the command runs
    from services.dlq.filters import Filter
    from services.dlq.target import DlqTarget


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("dlq", help="a consumer's dead-letter queue: show, redrive")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="what a DLQ holds",
        description="Every record of a consumer's DLQ: when it was dead-lettered, where the "
        "original was read, its key, the refusal reason and detail, its first bytes, whether "
        "it was redriven; then the counts by reason.",
    )
    _common(show)
    show.add_argument("--json", action="store_true", help="one JSON document")
    show.set_defaults(handler=_show)
    redrive = actions.add_parser(
        "redrive",
        help="send a DLQ's records back through the pipeline",
        description="Send an agency sync's dead-lettered events back through the inbound "
        "step and the apply rule into the agency's database, in order per original "
        "partition, at a bounded rate. Each DLQ record is redriven once; one that fails "
        "again goes back to the DLQ as a new record with its new reason. Exit 1 when one "
        "failed again (or, with --dry-run, would).",
    )
    _common(redrive)
    redrive.add_argument(
        "--dry-run",
        action="store_true",
        help="decide and write, then roll back: what would be applied and what would fail",
    )
    redrive.add_argument(
        "--rate", type=float, default=50.0, metavar="N", help="events a second at most (50)"
    )
    redrive.add_argument("--json", action="store_true", help="a JSON summary")
    redrive.set_defaults(handler=_redrive)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "consumer",
        metavar="CONSUMER",
        help="whose DLQ: an agency code (its sync), feeds, or the group or DLQ topic",
    )
    parser.add_argument("--reason", metavar="R", help="only this refusal reason (UnknownKey, ...)")
    parser.add_argument(
        "--since",
        metavar="T",
        help="only records dead-lettered since: 30m, 2h, 1d, or an ISO 8601 time "
        "(without an offset, Beijing time)",
    )
    parser.add_argument(
        "--principal",
        metavar="NAME",
        help="read as this principal instead of the admin (the ACLs refuse every other)",
    )


def _filter(args: argparse.Namespace) -> Filter:
    from services.dlq.filters import Filter, parse_since

    since = None
    if args.since is not None:
        try:
            since = parse_since(args.since, datetime.now(UTC))
        except ValueError as exc:
            raise CommandError(f"--since {exc}") from None
    return Filter(args.reason, since)


def _target(settings: Settings, name: str) -> DlqTarget:
    from services.dlq.target import UnknownConsumer, resolve

    try:
        return resolve(settings, name)
    except UnknownConsumer as exc:
        raise CommandError(str(exc)) from None


def _show(args: argparse.Namespace) -> int:
    from pipeline.deadletters import DlqAccessDenied
    from services.dlq.show import lines, show, to_json

    settings = load_settings()
    target = _target(settings, args.consumer)
    try:
        view = show(settings, target, _filter(args), principal=args.principal)
    except DlqAccessDenied as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        sys.stdout.write(to_json(view) + "\n")
    else:
        for line in lines(view):
            print(line)
    return 0


def _redrive(args: argparse.Namespace) -> int:
    from pipeline.deadletters import DlqAccessDenied
    from services.dlq.redrive import RedriveNotSupported, RedriveRequest, redrive

    if args.rate <= 0:
        raise CommandError(f"--rate {args.rate:g}: must be more than 0 events a second")
    settings = load_settings()
    target = _target(settings, args.consumer)
    request = RedriveRequest(
        target, _filter(args), dry_run=args.dry_run, rate=args.rate, principal=args.principal
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()  # finish the batch in hand, then stop

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        result = redrive(settings, request, stop)
    except (DlqAccessDenied, RedriveNotSupported) as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        import json

        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
    else:
        for line in result.lines():
            print(line)
    return 1 if result.failed else 0
