"""`casebus keys generate|list|revoke|ensure`: signing keys and the trust list;
`casebus --region R keys serve`: the region's key service for personal fields.

A private key never leaves its file (`<keys_dir>/<owner>.pem`, 0600); `list` shows the
trust list (public halves), where each entry comes from and whether it is usable now.
"""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from casebus.config import TrustedKey, load_settings
from casebus.provenance import keys
from cli.common import CommandError, add_metrics_port, command_error, metrics_port


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("keys", help="event signing keys and the trust list")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    gen = actions.add_parser(
        "generate", help="a new Ed25519 key pair for OWNER; its public half joins the trust list"
    )
    gen.add_argument("owner", help="the agency or platform code (or the feeds service) it signs as")
    gen.add_argument("--valid-days", type=int, help="validity (default provenance.key_valid_days)")
    gen.add_argument("--replace", action="store_true", help="replace an existing private key")
    gen.set_defaults(handler=_generate)
    listing = actions.add_parser("list", help="the trust list: key ids, owners, validity")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    rev = actions.add_parser("revoke", help="refuse every signature of a key from now on")
    rev.add_argument("key_id")
    rev.add_argument("--reason", default="", help="kept in the trust list, shown in refusals")
    rev.set_defaults(handler=_revoke)
    actions.add_parser(
        "ensure", help="generate a key for every configured owner that has none (local use)"
    ).set_defaults(handler=_ensure)
    serve = actions.add_parser(
        "serve",
        help="the region's key service: personal fields' data keys and erasures, over HTTPS",
    )
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, help="listen port (default: the region's key_service_port)"
    )
    add_metrics_port(serve, "keys_port")
    serve.set_defaults(handler=_serve)


def _generate(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.owner not in keys.owners_to_key(settings):
        raise CommandError(
            f"{args.owner!r} is no configured agency, platform or the feeds service "
            f"({settings.provenance.feeds_owner})"
        )
    with command_error(FileExistsError):
        entry = keys.generate(
            settings, args.owner, valid_days=args.valid_days, replace=args.replace
        )
    print(f"key {entry.key_id} for {entry.owner}, valid until {entry.not_after.isoformat()}")
    print(f"private key: {keys.key_path(settings, args.owner)} (mode 0600)")
    print(f"trust list: {settings.trust_file}")
    return 0


def _state(entry: TrustedKey, now: datetime) -> str:
    if entry.revoked:
        return "revoked" + (f" ({entry.revoked_reason})" if entry.revoked_reason else "")
    if now < entry.not_before:
        return "not yet valid"
    return "expired" if now > entry.not_after else "valid"


def _list(args: argparse.Namespace) -> int:
    settings = load_settings()
    now = datetime.now(UTC)
    entries = keys.trust_list(settings)
    if args.json:
        rows = [e.model_dump(mode="json") | {"state": _state(e, now)} for e in entries]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for e in entries:
        until = e.not_after.date().isoformat()
        print(f"{e.key_id}  {e.owner:<20} until {until}  {_state(e, now)}")
    print(f"{len(entries)} keys; trust file {settings.trust_file}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    settings = load_settings()
    entry = keys.revoke(settings, args.key_id, args.reason)
    print(f"key {entry.key_id} of {entry.owner} revoked: its events are refused from now on")
    return 0


def _ensure(args: argparse.Namespace) -> int:
    settings = load_settings()
    made = keys.ensure_keys(settings)
    for entry in made:
        print(f"key {entry.key_id} for {entry.owner}")
    print(f"{len(made)} keys generated in {settings.keys_dir}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from casebus.observability.health import Health
    from casebus.observability.server import ObservabilityServer
    from casebus.personal.keystore import KeyStore
    from casebus.security.tls import TlsFiles, ensure_server_cert
    from services.keys.access import Access
    from services.keys.app import create_app

    settings = load_settings()
    home = settings.home
    if home is None:
        raise CommandError("the key service serves one region: give --region (or CASEBUS_REGION)")
    cluster = settings.cluster_of(home)
    port = args.port or cluster.key_service_port
    if not port:
        raise CommandError(f"regions.cluster.key_service_port of {home.code} is not set: --port")
    tls = TlsFiles(settings.secrets_dir / "tls")
    hosts = tuple(dict.fromkeys((args.host, "127.0.0.1", "localhost")))
    cert = ensure_server_cert(tls, f"keys-{cluster.alias}", hosts)
    # Unless config says where, the region's own folders: two regions' services on one
    # machine share nothing on disk.
    personal = settings.personal.model_copy(
        update={
            "key_store": settings.personal.key_store
            or str(settings.var_dir / "regions" / cluster.alias / "personal" / "keys.sqlite"),
            "kek_dir": settings.personal.kek_dir
            or str(settings.secrets_dir / "regions" / cluster.alias / "kek"),
        }
    )
    settings = settings.model_copy(update={"personal": personal})
    store = KeyStore.of(settings, create=True)  # the owners' producers make their KEKs here
    health = Health("keys", checks={"keystore": lambda: _store_answers(store.path)})
    served = metrics_port(settings, "keys", args)
    obs = ObservabilityServer(health, settings.metrics.host, served).start() if served else None
    print(
        f"key service of {home.code} ({cluster.alias}) on https://{args.host}:{port}, "
        f"keys in {settings.personal_key_store}, key-encryption keys in {settings.kek_dir}",
        flush=True,
    )
    try:
        uvicorn.run(
            create_app(settings, store, Access(settings), home.code),
            host=args.host,
            port=port,
            log_level="warning",
            log_config=None,
            ssl_certfile=str(cert),
            ssl_keyfile=str(cert),
            # Clients keep their connections open between batches; on SIGTERM, wait this
            # long for requests in flight, not for the clients to hang up.
            timeout_graceful_shutdown=3,
        )
    finally:
        if obs is not None:
            obs.close()
    return 0


def _store_answers(path: Path) -> str | None:
    """The readiness check (on the metrics server's thread, so a connection of its own):
    the key store's database answers (None: it does)."""
    import sqlite3

    if not path.exists():
        return None  # made at the first request
    with closing(sqlite3.connect(path, timeout=5)) as conn:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return None
