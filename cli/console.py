"""`casebus console serve | stop | users add|list`: the web console and its users."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal

from casebus.config import load_settings
from cli.common import CommandError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("console", help="the web console for agency staff and admins")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the console (default 127.0.0.1:8083)")
    serve.add_argument("--host", help="listen address (default: console.host)")
    serve.add_argument("--port", type=int, help="listen port (default: console.port)")
    serve.set_defaults(handler=_serve)
    stop = actions.add_parser("stop", help="stop the console that `console serve` started")
    stop.set_defaults(handler=_stop)
    users = actions.add_parser("users", help="who may sign in").add_subparsers(
        dest="users_action", required=True, metavar="ACTION"
    )
    add = users.add_parser("add", help="add or replace a user (its password is asked for)")
    add.add_argument("name", metavar="NAME")
    role = add.add_mutually_exclusive_group(required=True)
    role.add_argument("--agency", help="staff of this agency: sees its database only")
    role.add_argument("--admin", action="store_true", help="an admin: the bus, no database")
    add.add_argument(
        "--password-env", metavar="VAR", help="take the password from this variable, not a prompt"
    )
    add.set_defaults(handler=_add)
    listing = users.add_parser("list", help="the users and their roles (no hashes)")
    listing.set_defaults(handler=_list)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from services.console.app import create_app
    from services.console.settings import ConsoleSettings

    settings = load_settings()
    own = ConsoleSettings.of(settings)
    host, port = args.host or own.host, args.port or own.port
    pid_file = own.state_dir(settings) / "console.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    log.info("console on http://%s:%d, users in %s", host, port, own.users_path(settings))
    try:
        uvicorn.run(
            create_app(settings), host=host, port=port, log_level="warning", log_config=None
        )
    finally:
        pid_file.unlink(missing_ok=True)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from services.console.settings import ConsoleSettings

    settings = load_settings()
    pid_file = ConsoleSettings.of(settings).state_dir(settings) / "console.pid"
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        print("no console running (no pid file, or its process is gone)")
        return 0
    print(f"stopped the console (pid {pid})")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env, "")
        if not value:
            raise CommandError(f"environment variable {args.password_env!r} is not set")
        return value
    first = getpass.getpass(f"password for {args.name}: ")
    if first != getpass.getpass("again: "):
        raise CommandError("the two passwords differ")
    return first


def _add(args: argparse.Namespace) -> int:
    from services.console.settings import ConsoleSettings
    from services.console.users import MIN_PASSWORD, User, UsersError, hash_password, save_user

    settings = load_settings()
    if args.agency:
        settings.agency(args.agency)  # an unknown agency: ConfigError naming the known ones
    password = _password(args)
    if len(password) < MIN_PASSWORD:
        raise CommandError(f"a password needs at least {MIN_PASSWORD} characters")
    path = ConsoleSettings.of(settings).users_path(settings)
    try:
        save_user(
            path, User(args.name, None if args.admin else args.agency, hash_password(password))
        )
    except UsersError as exc:
        raise CommandError(str(exc)) from None
    print(f"{args.name}: {'admin' if args.admin else args.agency} (in {path})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from services.console.settings import ConsoleSettings
    from services.console.users import UsersError, load_users

    settings = load_settings()
    path = ConsoleSettings.of(settings).users_path(settings)
    try:
        users = load_users(path, frozenset(settings.agency_by_code))
    except UsersError as exc:
        raise CommandError(str(exc)) from None
    for user in sorted(users.values(), key=lambda u: u.name):
        print(f"{user.name}\t{'admin' if user.is_admin else user.agency}")
    return 0
