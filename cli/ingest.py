"""`casebus ingest serve`: the HTTP endpoint agency systems push events to."""

from __future__ import annotations

import argparse

from casebus.config import load_settings
from cli.common import add_metrics_port, metrics_port
from services.ingest.settings import IngestSettings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("ingest", help="HTTP ingest endpoint")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve POST /v1/events (docs at /docs)")
    serve.add_argument("--host", help="default: settings.ingest.host")
    serve.add_argument("--port", type=int, help="default: settings.ingest.port")
    add_metrics_port(serve, "ingest_port")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from casebus.observability.service import Observability
    from casebus.security.principals import INGEST
    from services.ingest.app import create_app

    settings = load_settings()
    own = IngestSettings.of(settings)
    host = args.host or own.host
    port = args.port or own.port
    # Its own port, beside the API's: ready while Kafka and the registry answer.
    obs = Observability(
        settings, "ingest", metrics_port(settings, "ingest", args), principal=INGEST, loop=False
    ).start()
    try:
        # log_config=None: uvicorn's lines go through casebus's handler (--log-format).
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None)
    finally:
        obs.close()
    return 0
