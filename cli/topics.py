"""`casebus topics ensure`: create the topics that config describes."""

from __future__ import annotations

import argparse

from casebus.config import load_settings
from cli.common import ensure_configured_topics


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("topics", help="shared topics")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("ensure", help="create missing topics from config").set_defaults(
        handler=lambda args: _ensure()
    )


def _ensure() -> int:
    ensure_configured_topics(load_settings())
    return 0
