"""`casebus demo`: the whole flow on embedded defaults."""

from __future__ import annotations

import argparse

from casebus.config import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="the whole flow on embedded defaults")
    parser.add_argument(
        "--regions",
        action="store_true",
        help="on two clusters, one per region, joined by MirrorMaker 2 (docs/regions.md)",
    )
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    if args.regions:
        from cli.demo_regions import run_regions_demo

        return run_regions_demo(load_settings())
    from cli.demo_flow import run_demo

    return run_demo(load_settings())
