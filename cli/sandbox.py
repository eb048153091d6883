"""`casebus sandbox serve`: the stand-in agency and platform APIs on loopback."""

from __future__ import annotations

import argparse

from casebus.config import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sandbox", help="stand-in source systems")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve every sandbox system (foreground)")
    serve.add_argument("--port", type=int, help="default: settings.sandbox.port")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from services.sandbox.server import serve

    settings = load_settings()
    if args.port:
        settings = settings.model_copy(update={"sandbox": {**settings.sandbox, "port": args.port}})
    serve(settings)
    return 0
