"""`casebus replay --into AGENCY (--case ID | --all) [--topic T] [--from TIME] [--fresh]
[--dry-run] [--json]`: rebuild a case or a database from the shared topics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import rich.progress
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from casebus import logs
from casebus.config import load_settings
from cli.common import CommandError

if TYPE_CHECKING:  # the replay service is imported when the command runs
    from services.replay.service import OnProgress, Progress

BEIJING = ZoneInfo("Asia/Shanghai")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "replay",
        help="rebuild a case or an agency database from the shared topics",
        description="Read the shared topics (assigned partitions, no consumer group: live "
        "sync is untouched) and apply them through sync's apply rule.",
    )
    parser.add_argument("--into", required=True, metavar="AGENCY", help="whose database")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", metavar="ID", help="a case and the cases linked to it")
    which.add_argument("--all", action="store_true", help="everything the agency receives")
    parser.add_argument("--topic", metavar="T", help="one shared topic only")
    parser.add_argument(
        "--from",
        dest="since",
        metavar="TIME",
        help="from this instant (ISO 8601; without an offset, Beijing time)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="into a new database swapped in at the end (stop the agency's sync first)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="write nothing; show what would change"
    )
    parser.add_argument("--json", action="store_true", help="a JSON summary on completion")
    parser.set_defaults(handler=_replay)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--from {text!r}: not an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=BEIJING)


@contextmanager
def _progress(show: bool) -> Iterator[OnProgress | None]:
    if not show:
        yield None
        return
    bar = rich.progress.Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("offsets  {task.fields[applied]:,} events  {task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("replay", total=None, applied=0, rate=0.0)

    def update(p: Progress) -> None:
        elapsed = bar.tasks[0].elapsed or 0.0
        rate = p.applied / elapsed if elapsed > 0 else 0.0
        bar.update(task, completed=p.read, total=p.total, applied=p.applied, rate=rate)

    with bar:
        yield update


def _replay(args: argparse.Namespace) -> int:
    from agencydb.engine import DatabaseInUse
    from casebus.records import canonical_json
    from services.replay.service import ReplayError, ReplayRequest, replay

    settings = load_settings()
    settings.sync.subscription(args.into)  # fail early, with the config error
    logs.bind(agency=args.into)
    request = ReplayRequest(
        agency=args.into,
        case_id=args.case,
        topic=args.topic,
        since=_since(args.since),
        fresh=args.fresh,
        dry_run=args.dry_run,
    )
    with _progress(sys.stderr.isatty() and not args.json) as update:
        try:
            result = replay(settings, request, update)
        except (ReplayError, DatabaseInUse) as exc:
            raise CommandError(str(exc)) from None
    if args.json:
        sys.stdout.write(canonical_json(result.to_dict()) + "\n")
    else:
        console = Console()
        scope = f"case {args.case} (with {', '.join(result.cases)})" if args.case else "all"
        console.print(f"replay of {scope} into {args.into}: {result.report.summary()}")
        if result.previous:
            console.print(
                f"rebuilt {result.database}; the previous database is kept as {result.previous}"
            )
        if result.difference is not None:
            for line in result.difference.lines():
                console.print(line, markup=False)
    if result.difference is not None and not result.difference.none:
        return 1
    return 0
