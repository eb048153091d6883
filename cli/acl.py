"""`casebus acl apply|show`: the ACLs config implies, against the cluster's."""

from __future__ import annotations

import argparse
import json

from casebus.config import load_settings
from casebus.kafka.clients import make_super_admin
from casebus.security import acls
from casebus.security.secrets import MissingSecret
from cli.common import command_error


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("acl", help="Kafka ACLs: the least each principal needs")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    apply = actions.add_parser(
        "apply", help="add the ACLs config implies, remove every other one; print the difference"
    )
    apply.add_argument("--dry-run", action="store_true", help="print the difference only")
    apply.add_argument("--json", action="store_true", help="the difference as JSON")
    apply.set_defaults(handler=_apply)
    show = actions.add_parser(
        "show", help="every principal's ACLs, and how they differ from config"
    )
    show.add_argument("--json", action="store_true", help="as JSON")
    show.set_defaults(handler=_show)


def _apply(args: argparse.Namespace) -> int:
    settings = load_settings()
    with command_error(MissingSecret, acls.AclError):
        client = make_super_admin(settings)
        try:
            change = acls.apply(client, settings, dry_run=args.dry_run)
        finally:
            client.close()
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "changes": change.lines()}, indent=2))
        return 0
    for line in change.lines():
        print(line)
    verb = "would change" if args.dry_run else "changed"
    added, removed = len(change.added), len(change.removed) + len(change.foreign)
    print(f"{verb}: {added} added, {removed} removed" if not change.empty else "ACLs match config")
    return 0


def _show(args: argparse.Namespace) -> int:
    settings = load_settings()
    with command_error(MissingSecret, acls.AclError):
        client = make_super_admin(settings)
        try:
            held = acls.current(client)
        finally:
            client.close()
    planned = acls.plan(settings)
    rows = sorted(held.grants | planned)
    if args.json:
        body = [{**_fields(g), "held": g in held.grants, "planned": g in planned} for g in rows] + [
            {"foreign": acls.describe_acl(a)} for a in held.foreign
        ]
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0
    principal = None
    for grant in rows:
        if grant.principal != principal:
            principal = grant.principal
            print(f"User:{principal}")
        mark = "-" if grant not in planned else "+" if grant not in held.grants else " "
        star = "*" if grant.pattern == "prefixed" else ""
        print(f"  {mark} {grant.operation:<8} {grant.resource} {grant.name}{star}")
    for acl in held.foreign:
        print(f"  - {acls.describe_acl(acl)}")
    print("(+ config grants it, the cluster lacks it; - the cluster holds it, config does not)")
    return 0


def _fields(grant: acls.Grant) -> dict[str, str]:
    return {
        "principal": grant.principal,
        "resource": grant.resource,
        "name": grant.name,
        "pattern": grant.pattern,
        "operation": grant.operation,
    }
