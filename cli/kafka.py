"""`casebus kafka start|stop|status`: the local cluster (one node, or `--nodes 3`)."""

from __future__ import annotations

import argparse
import time

from casebus.config import Settings, load_settings
from casebus.kafka.broker import BrokerStatus, wait_until_ready
from casebus.kafka.clients import connection_options, make_super_admin
from casebus.kafka.jars import BrokerSetupError
from casebus.security.principals import admin
from casebus.security.secrets import MissingSecret
from casebus.security.setup import local_kafka
from cli.common import (
    command_error,
    ensure_configured_topics,
    secure_local_broker,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("kafka", help="the local cluster: one node, or --nodes 3")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser(
        "start",
        help="fetch, start and wait for the cluster; ensure principals, ACLs and topics",
    )
    start.add_argument(
        "--nodes",
        type=int,
        metavar="N",
        help="nodes of a new cluster (default: kafka.local.nodes, else what var/ holds, else 1)",
    )
    start.add_argument("--node", type=int, metavar="N", help="start only node N (it came back)")
    start.add_argument("--no-topics", action="store_true", help="do not create the topics")
    start.set_defaults(handler=_start)
    stop = actions.add_parser("stop", help="stop the cluster (or one node) this checkout started")
    stop.add_argument("--node", type=int, metavar="N", help="stop only node N (a rehearsal)")
    stop.add_argument("--kill", action="store_true", help="SIGKILL: a crash, not a shutdown")
    stop.set_defaults(handler=_stop)
    actions.add_parser(
        "status", help="every node, the quorum leader, under-replicated partitions"
    ).set_defaults(handler=_status)


def _start(args: argparse.Namespace) -> int:
    settings = _with_nodes(load_settings(), args.nodes)
    began = time.monotonic()
    with command_error(BrokerSetupError, MissingSecret):
        if settings.kafka.uses_local_broker:
            cluster = local_kafka(settings)
            status = cluster.start(args.node)
            _print_nodes(status)
            if args.node is not None:  # a node back: nothing else to set up
                print(f"node {args.node} ready in {time.monotonic() - began:.1f}s")
                return 0
            secure_local_broker(settings)
        else:
            wait_until_ready(_admin_connection(settings), 30)
            print(f"using the existing cluster at {settings.kafka.bootstrap_servers}")
    print(f"ready in {time.monotonic() - began:.1f}s")
    if not args.no_topics:
        ensure_configured_topics(settings)
    return 0


def _stop(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.kafka.uses_local_broker:
        print(f"kafka.bootstrap is {settings.kafka.bootstrap_servers}: nothing local to stop")
        return 0
    with command_error(BrokerSetupError):
        stopped = local_kafka(settings).stop(args.node, kill=args.kill)
    what = "broker" if args.node is None else f"node {args.node}"
    verb = "killed" if args.kill else "stopped"
    print(f"{what} {verb}" if stopped else f"no {what} was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.kafka.uses_local_broker:
        try:
            wait_until_ready(_admin_connection(settings), 10)
            print(f"existing cluster at {settings.kafka.bootstrap_servers}: reachable")
        except (BrokerSetupError, MissingSecret) as exc:
            print(f"existing cluster at {settings.kafka.bootstrap_servers}: {exc}")
            return 1
        return _print_health(settings, None)
    cluster = local_kafka(settings)
    status = cluster.status()
    _print_nodes(status)
    if not status.running:
        print(f"not running (would listen on {status.bootstrap})")
        return 1
    return _print_health(settings, len(status.nodes))


def _print_nodes(status: BrokerStatus) -> None:
    for n in status.nodes:
        state = f"running (pid {n.pid})" if n.running else "down"
        leader = "  quorum leader" if n.node == status.quorum_leader else ""
        print(f"node {n.node}: {state} at {n.address}{leader}")
        print(f"  data: {n.data_dir}\n  log: {n.log_file}")


def _print_health(settings: Settings, expected: int | None) -> int:
    from casebus.kafka.health import cluster_health

    client = make_super_admin(settings, "casebus-status")
    try:
        health = cluster_health(client, expected)
    finally:
        client.close()
    print(f"cluster: {health.describe()}")
    return 2 if health.degraded else 0


def _with_nodes(settings: Settings, nodes: int | None) -> Settings:
    """The settings with the local cluster's node count set from --nodes."""
    if nodes is None:
        return settings
    local = settings.kafka.local.model_validate(
        {**settings.kafka.local.model_dump(), "nodes": nodes}
    )
    kafka = settings.kafka.model_copy(update={"local": local})
    return settings.model_copy(update={"kafka": kafka})


def _admin_connection(settings: Settings) -> dict[str, object]:
    return connection_options(settings, admin(settings))
