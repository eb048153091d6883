"""`casebus --region R mirror run | config`: the link between two regions' clusters."""

from __future__ import annotations

import argparse

from casebus.config import load_settings
from cli.common import CommandError, add_metrics_port


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "mirror", help="MirrorMaker 2 between two regions' clusters (run in a region)"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run", help="pull the other regions' shared events into this region's cluster"
    )
    run.add_argument(
        "--no-registry-check",
        action="store_true",
        help="start without checking that both registries give each schema id one meaning",
    )
    add_metrics_port(run, "mirror_port")
    run.set_defaults(handler=_run)
    show = actions.add_parser(
        "config", help="print the MirrorMaker 2 configuration (secrets masked)"
    )
    show.set_defaults(handler=_config)


def _run(args: argparse.Namespace) -> int:
    from services.mirror.run import MirrorSetupError, run

    try:
        return run(
            load_settings(), check=not args.no_registry_check, metrics_port=args.metrics_port
        )
    except MirrorSetupError as exc:
        raise CommandError(str(exc)) from None


def _config(args: argparse.Namespace) -> int:
    from services.mirror.config import render
    from services.mirror.run import MirrorSetupError, home_region, properties, secret_for

    settings = load_settings()
    try:
        home_region(settings)
    except MirrorSetupError as exc:
        raise CommandError(str(exc)) from None
    secrets = [secret_for(settings, r) for r in settings.regions]
    print(render(properties(settings), hide=secrets), end="")
    return 0
