"""`casebus registry serve`: the schema registry (Confluent-compatible REST)."""

from __future__ import annotations

import argparse
import logging

from casebus.config import load_settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("registry", help="schema registry")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the registry REST API")
    serve.add_argument("--host", help="listen address (default: registry.host)")
    serve.add_argument("--port", type=int, help="listen port (default: registry.port)")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from services.registry.access import Access
    from services.registry.app import create_app
    from services.registry.store import KafkaStore

    settings = load_settings()
    host = args.host or settings.registry.host
    port = args.port or settings.registry.port
    log.info(
        "registry on %s:%d, state in topic %s at %s",
        host,
        port,
        settings.registry.topic,
        settings.kafka.bootstrap_servers,
    )
    uvicorn.run(
        create_app(KafkaStore(settings), Access(settings)),
        host=host,
        port=port,
        log_level="warning",
        log_config=None,  # its lines go through casebus's handler (--log-format)
    )
    return 0
