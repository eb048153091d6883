"""`casebus registry serve`: the schema registry (Confluent-compatible REST)."""

from __future__ import annotations

import argparse
import logging

from casebus.config import load_settings
from cli.common import add_metrics_port, metrics_port

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("registry", help="schema registry")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the registry REST API")
    serve.add_argument("--host", help="listen address (default: registry.host)")
    serve.add_argument("--port", type=int, help="listen port (default: registry.port)")
    add_metrics_port(serve, "registry_port")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from casebus.observability.service import Observability
    from casebus.security.principals import REGISTRY
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
    # Its own port, beside the API's: ready while Kafka answers.
    obs = Observability(
        settings,
        "registry",
        metrics_port(settings, "registry", args),
        principal=REGISTRY,
        loop=False,
        registry=False,
    ).start()
    try:
        uvicorn.run(
            create_app(KafkaStore(settings), Access(settings)),
            host=host,
            port=port,
            log_level="warning",
            log_config=None,  # its lines go through casebus's handler (--log-format)
        )
    finally:
        obs.close()
    return 0
