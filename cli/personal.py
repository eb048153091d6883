"""`casebus personal erase --subject ID | erasures`: erase a person by destroying the data
keys of their personal fields (casebus/personal/erasure.py, docs/personal-data.md)."""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from casebus.config import Settings, load_settings
from casebus.personal import erasure
from casebus.personal.keystore import keys_for
from casebus.personal.remote import KeyServiceError
from casebus.provenance.keys import MissingKey
from casebus.security.principals import admin
from cli.common import CommandError, command_error


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("personal", help="personal fields: erase a person, list erasures")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    erase = actions.add_parser(
        "erase", help="destroy the data keys of a person's personal fields, for every owner"
    )
    erase.add_argument(
        "--subject", required=True, help="an identity number, or an informant's phone number"
    )
    erase.add_argument(
        "--agency", required=True, help="the agency whose signing key signs the erasure record"
    )
    erase.add_argument("--by", default=getpass.getuser(), help="who asked (default: this user)")
    erase.add_argument("--reason", default="", help="kept with the signed erasure record")
    erase.set_defaults(handler=_erase)
    listing = actions.add_parser("erasures", help="every erasure, its signature checked")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)


def _erase(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.agency not in {a.code for a in settings.agencies}:
        raise CommandError(f"{args.agency!r} is not a configured agency: only an agency erases")
    if settings.key_services:
        return _erase_in_regions(args, settings)
    with command_error(MissingKey):
        done = erasure.erase(
            settings, args.subject, by=args.by, agency=args.agency, reason=args.reason
        )
    print(
        f"erasure {done.id}: {len(done.key_ids)} data keys destroyed at {done.erased_at} "
        f"by {done.erased_by}; signed by key {done.signed_by}"
    )
    print("agency databases mark the values at their next sync or replay")
    return 0


def _erase_in_regions(args: argparse.Namespace, settings: Settings) -> int:
    """In every region's key service; one line per region, 1 if any region failed."""
    with command_error(MissingKey):
        done = erasure.erase_in_regions(
            settings, args.subject, by=args.by, agency=args.agency, reason=args.reason
        )
    failed = 0
    for outcome in done:
        e = outcome.erasure
        if e is None:
            failed += 1
            print(f"region {outcome.region}: FAILED: {outcome.error}")
            continue
        print(
            f"region {outcome.region}: erasure {e.label}: {len(e.key_ids)} data keys destroyed "
            f"at {e.erased_at} by {e.erased_by}; signed by key {e.signed_by}"
        )
    if failed:
        print(f"{failed} of {len(done)} regions did not erase: run the command again")
        return 1
    print("agency databases mark the values at their next sync or replay")
    return 0


def _list(args: argparse.Namespace) -> int:
    settings = load_settings()
    with command_error(KeyServiceError):
        found = keys_for(settings, principal=admin(settings)).erasures()
    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            **({"region": e.source} if e.source else {}),
            "subject_ref": e.subject_ref,
            "key_ids": list(e.key_ids),
            "erased_at": e.erased_at,
            "erased_by": e.erased_by,
            "reason": e.reason,
            "signed_by": e.signed_by,
            "signature_ok": erasure.verify(settings, e),
        }
        for e in found
    ]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for r in rows:
        state = "signature ok" if r["signature_ok"] else "SIGNATURE BAD"
        label = f"{r['region']}/{r['id']}" if "region" in r else str(r["id"])
        print(f"{label:>4}  {r['erased_at']}  {len(r['key_ids'])} keys  {r['erased_by']}  {state}")
    print(f"{len(rows)} erasures")
    return 0
