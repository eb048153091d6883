"""`casebus schemas register`: register the topic value schemas with the registry."""

from __future__ import annotations

import argparse

from casebus.config import load_settings
from casebus.contracts.partner import contract_subjects
from casebus.registry import RegistryError, registry_for
from casebus.security.principals import admin
from casebus.serde import SchemaRegistryUnavailable
from cli.common import CommandError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("schemas", help="event contracts")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    reg = actions.add_parser("register", help="register schemas/ with the registry")
    reg.add_argument("--url", help="registry URL (default: registry.url)")
    reg.set_defaults(handler=_register)


def _register(args: argparse.Namespace) -> int:
    settings = load_settings()
    client = registry_for(settings, admin(settings), url=args.url)
    try:
        for subject, schema in contract_subjects(settings):
            schema_id = client.register(subject, schema)
            print(f"{subject} -> {schema_id}")
    except (RegistryError, SchemaRegistryUnavailable) as exc:
        raise CommandError(str(exc)) from exc
    finally:
        client.close()
    return 0
