"""`casebus credentials list|export|apply`: the principals and their secrets.

Secrets are never printed except by `export`, which is for the by-hand sandbox flow:
`eval "$(casebus credentials export)"` gives a shell every principal's secret.
"""

from __future__ import annotations

import argparse
import os
import shlex

from casebus.config import load_settings
from casebus.kafka.clients import make_super_admin
from casebus.security.principals import all_principals
from casebus.security.secrets import MissingSecret, SecretStore, env_name
from casebus.security.users import CredentialError, ensure_users
from cli.common import CommandError, command_error


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("credentials", help="principals and their SCRAM secrets")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "list", help="each principal, its job, where its secret comes from"
    ).set_defaults(handler=_list)
    export = actions.add_parser(
        "export", help='print `export CASEBUS_SECRET_…=…` lines (for a shell: eval "$(…)")'
    )
    export.add_argument("principals", nargs="*", help="only these (default: all)")
    export.set_defaults(handler=_export)
    actions.add_parser(
        "apply", help="create or update every principal's SCRAM credential on the cluster"
    ).set_defaults(handler=_apply)


def _list(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = SecretStore(settings.secrets_dir)
    for principal in all_principals(settings):
        if os.environ.get(env_name(principal.name)):
            source = f"${env_name(principal.name)}"
        elif store.path(principal.name).is_file():
            source = str(store.path(principal.name))
        else:
            source = f"missing (set {env_name(principal.name)})"
        subject = f" {principal.subject}" if principal.subject else ""
        print(f"{principal.name:<28} {principal.role + subject:<28} {source}")
    return 0


def _export(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = SecretStore(settings.secrets_dir)
    known = {p.name for p in all_principals(settings)}
    wanted = args.principals or sorted(known)
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise CommandError(f"unknown principals {unknown}; see `casebus credentials list`")
    with command_error(MissingSecret):
        for name in wanted:
            print(f"export {env_name(name)}={shlex.quote(store.get(name))}")
    return 0


def _apply(args: argparse.Namespace) -> int:
    settings = load_settings()
    with command_error(MissingSecret, CredentialError):
        client = make_super_admin(settings)
        try:
            users = ensure_users(client, settings, generate=False)
        finally:
            client.close()
    print(f"SCRAM credentials set for {len(users)} principals")
    return 0
