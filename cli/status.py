"""`casebus status [--json]`: every consumer's position, lag, DLQ depth and state."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from casebus.config import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("status", help="where every consumer stands")
    parser.add_argument("--json", action="store_true", help="JSON instead of tables")
    parser.add_argument(
        "--partitions", action="store_true", help="one row per partition, not per consumer"
    )
    parser.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    from casebus.records import canonical_json
    from pipeline.status import status

    result = status(load_settings())
    if args.json:
        sys.stdout.write(canonical_json(result.to_dict()) + "\n")
        return 0
    console = Console()
    table = Table("consumer", "state", "lag", "members", "last applied", "DLQ", "detail")
    for c in result.consumers:
        table.add_row(
            c.name,
            c.state,
            f"{c.lag:,}",
            str(c.members),
            c.last_applied or "",
            str(c.dlq),
            c.detail,
        )
    console.print(table)
    if args.partitions:
        parts = Table("consumer", "topic", "partition", "position", "end", "lag")
        for c in result.consumers:
            for p in c.partitions:
                position = "" if p.position is None else str(p.position)
                parts.add_row(c.name, p.topic, str(p.partition), position, str(p.end), str(p.lag))
        console.print(parts)
    console.print(f"rejects (casebus.rejects): {result.rejects:,} quarantined source records")
    if result.cluster is None:
        console.print(Text("cluster: could not be described", style="red"))
    else:
        style = "red" if result.cluster.degraded else "green"
        console.print(Text(f"cluster: {result.cluster.describe()}", style=style))
    for link in result.links:
        style = "green" if link.state == "up" and not link.lag else "yellow"
        style = "red" if link.state != "up" else style
        console.print(Text(f"link: {link.describe()}", style=style))
    return 0
