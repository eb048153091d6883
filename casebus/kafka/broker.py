"""A local Apache Kafka cluster (KRaft): one node by default, or several, each a combined
broker and controller of one quorum (`casebus kafka start --nodes 3`).

For development, the demo and the tests. State lives in one folder (default `var/kafka`):
per node `server.properties`, `data/` (formatted once), `broker.pid`, `broker.log` (in the
folder itself for one node, in `node-<n>/` for several). Starting is idempotent and
serialised by a lock file, so two `start`s leave one cluster. With three nodes, topics get
three replicas and `min.insync.replicas=2`: a node can be lost without losing anything
acknowledged, and `casebus kafka stop --node N` / `start --node N` rehearse it.

It is secured like production: the one client listener is SASL_SSL with SCRAM (TLS from a
local CA, casebus/security/tls.py), the KRaft StandardAuthorizer denies what no ACL allows,
and the controller listener, on loopback, takes only the broker's own certificate. The super
user's SCRAM credential is written into the storage at format time (it must exist before
the broker can authenticate to itself); every other principal is created afterwards
through the admin API (casebus/security/users.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from casebus.config import LOCAL_CLUSTER_FILE, LocalBroker
from casebus.kafka.clients import client_options
from casebus.kafka.jars import BrokerSetupError, broker_classpath
from casebus.security.secrets import SecretStore
from casebus.security.tls import BROKER_PRINCIPAL, TlsFiles, ensure_local_tls

log = logging.getLogger(__name__)

# How long a node's port may stay held by a connection before a start gives up (port_freed):
# past TIME_WAIT's minute.
PORT_WAIT_SECONDS = 75.0


@dataclass(frozen=True)
class NodeStatus:
    node: int
    running: bool
    pid: int | None
    address: str
    log_file: Path
    data_dir: Path


@dataclass(frozen=True)
class BrokerStatus:
    """The local cluster: every node, and the quorum's leader as the nodes last recorded it."""

    nodes: tuple[NodeStatus, ...]
    bootstrap: str
    quorum_leader: int | None = None

    @property
    def running(self) -> bool:
        return any(n.running for n in self.nodes)

    @property
    def pid(self) -> int | None:  # the first running node's
        return next((n.pid for n in self.nodes if n.running), None)

    @property
    def log_file(self) -> Path:
        return self.nodes[0].log_file

    @property
    def data_dir(self) -> Path:
        return self.nodes[0].data_dir


@dataclass(frozen=True)
class BrokerSecurity:
    """The secrets and certificates a local broker is started with (shared by the clients)."""

    secrets: SecretStore
    tls: TlsFiles
    admin: str = "casebus-admin"
    mechanism: str = "SCRAM-SHA-512"
    enabled: bool = True  # False: PLAINTEXT and no authorizer (benchmark comparison only)

    def admin_options(self, bootstrap: str) -> dict[str, object]:
        """kafka-python options to connect as the super user."""
        if not self.enabled:
            return client_options(bootstrap, "PLAINTEXT")
        return client_options(
            bootstrap,
            "SASL_SSL",
            ca_file=self.tls.ca_cert,
            mechanism=self.mechanism,
            user=self.admin,
            password=self.secrets.get(self.admin),
        )


@dataclass(frozen=True)
class _Node:
    """One node's process and state: its own folder, ports, properties, pid file and log."""

    id: int
    home: Path
    port: int
    controller_port: int

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def properties(self) -> Path:
        return self.home / "server.properties"


class LocalKafka:
    """Start, stop and inspect the local cluster whose state lives in `home`.

    One node keeps its state in `home` itself; a cluster of n nodes in `home/node-1` ...
    `home/node-n`, its layout recorded in `home/cluster.json` (read by load_settings, so
    every command finds every node)."""

    def __init__(self, home: Path, spec: LocalBroker, security: BrokerSecurity) -> None:
        self.home = home
        self.spec = spec
        self.security = security
        count = spec.node_count
        self.nodes = tuple(
            _Node(
                n,
                home if count == 1 else home / f"node-{n}",
                spec.client_port(n),
                spec.controller_port_of(n),
            )
            for n in range(1, count + 1)
        )
        # What the single node's callers knew it by.
        self.data_dir = self.nodes[0].data_dir
        self.log_file = self.nodes[0].log_file
        self.properties = self.nodes[0].properties

    @property
    def bootstrap(self) -> str:
        return self.spec.bootstrap

    @property
    def replicated(self) -> bool:
        return len(self.nodes) > 1

    # -- public operations -------------------------------------------------------------

    def start(self, node: int | None = None) -> BrokerStatus:
        """Start every node (or only `node`) not already running; return once the cluster
        answers metadata with every node registered (or that node answers)."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self._lock():
            self._check_layout()
            chosen = self.nodes if node is None else (self._node(node),)
            down = [n for n in chosen if self._running_pid(n) is None]
            procs: list[subprocess.Popen[bytes]] = []
            if down:
                procs = self._spawn_all(down)
            else:
                log.info("%s already running at %s", self._what(node), self.bootstrap)
            try:
                if node is None:
                    wait_until_ready(
                        self.admin_options(),
                        self.spec.start_timeout_seconds,
                        processes=procs,
                        brokers=len(self.nodes),
                    )
                else:
                    one = self._node(node)
                    options = self.security.admin_options(f"{self.spec.host}:{one.port}")
                    wait_until_ready(
                        options, self.spec.start_timeout_seconds, processes=procs, node_id=one.id
                    )
            except BrokerSetupError as exc:
                for n in down:
                    pid = self._running_pid(n)
                    if pid is not None:
                        self._terminate(pid)
                    n.pid_file.unlink(missing_ok=True)
                logs = "\n".join(
                    f"--- last lines of {n.log_file} ---\n{tail(n.log_file)}" for n in down
                )
                raise BrokerSetupError(f"{exc}\n{logs}") from None
            return self.status()

    def stop(self, node: int | None = None, *, kill: bool = False, timeout: float = 60.0) -> bool:
        """Stop every node (or only `node`) this folder started; True if one was running.
        `kill`: SIGKILL, no controlled shutdown (a crash, for rehearsals and tests)."""
        with self._lock():
            chosen = self.nodes if node is None else (self._node(node),)
            pids = {}
            for n in chosen:
                pid = self._running_pid(n)
                n.pid_file.unlink(missing_ok=True)
                if pid is not None:
                    pids[n] = pid
            # Every node at once: a node stopped last, alone, would wait in vain for a quorum
            # to acknowledge its controlled shutdown.
            _terminate_all(list(pids.values()), 0.0 if kill else timeout)
            for n in pids:
                deadline = time.monotonic() + 10
                while not port_is_free(self.spec.host, n.port):
                    if time.monotonic() > deadline:
                        raise BrokerSetupError(f"port {n.port} still taken after stop")
                    time.sleep(0.1)
            return bool(pids)

    def pid_of(self, node: int) -> int | None:
        return self._running_pid(self._node(node))

    def admin_options(self) -> dict[str, object]:
        return self.security.admin_options(self.bootstrap)

    def status(self) -> BrokerStatus:
        nodes = tuple(
            NodeStatus(
                n.id,
                (pid := self._running_pid(n)) is not None,
                pid,
                f"{self.spec.host}:{n.port}",
                n.log_file,
                n.data_dir,
            )
            for n in self.nodes
        )
        return BrokerStatus(nodes, self.bootstrap, self.quorum_leader())

    def quorum_leader(self) -> int | None:
        """The quorum's leader, as the running nodes last recorded it (KRaft's
        quorum-state file, the highest epoch): no request, so it works while nodes are down."""
        best: tuple[int, int] | None = None  # (epoch, leader)
        for n in self.nodes:
            if self._running_pid(n) is None:
                continue
            try:
                state = json.loads(
                    (n.data_dir / "__cluster_metadata-0" / "quorum-state").read_text()
                )
            except (OSError, ValueError):
                continue
            leader, epoch = state.get("leaderId", -1), state.get("leaderEpoch", -1)
            if leader is not None and leader >= 0 and (best is None or epoch > best[0]):
                best = (epoch, leader)
        return best[1] if best is not None else None

    # -- internals ---------------------------------------------------------------------

    def _node(self, node: int) -> _Node:
        if not 1 <= node <= len(self.nodes):
            raise BrokerSetupError(
                f"node {node}: the local cluster has nodes 1 to {len(self.nodes)}"
            )
        return self.nodes[node - 1]

    def _what(self, node: int | None) -> str:
        if node is not None:
            return f"node {node}"
        return "broker" if not self.replicated else f"cluster of {len(self.nodes)} nodes"

    def _check_layout(self) -> None:
        """Refuse to start a layout other than the one this folder holds."""
        layout = self.home / LOCAL_CLUSTER_FILE
        if layout.exists():
            held = int(json.loads(layout.read_text()).get("nodes", 1))
        elif (self.home / "data" / "meta.properties").exists():
            held = 1  # a single node formatted before layouts were recorded
        else:
            held = len(self.nodes)  # nothing formatted yet: this layout
        if held != len(self.nodes):
            raise BrokerSetupError(
                f"{self.home} holds a cluster of {held} node(s), not {len(self.nodes)}: "
                f"start it with --nodes {held}, or stop it and remove {self.home} first"
            )
        layout.write_text(json.dumps({"nodes": len(self.nodes)}) + "\n")

    def _spawn_all(self, nodes: list[_Node]) -> list[subprocess.Popen[bytes]]:
        java = shutil.which("java")
        if java is None:
            raise BrokerSetupError("no Java runtime (java) on PATH: install Java 17 or newer")
        for n in nodes:
            for port in (n.port, n.controller_port):
                if not port_freed(self.spec.host, port, PORT_WAIT_SECONDS):
                    raise BrokerSetupError(
                        f"port {self.spec.host}:{port} is already taken by another process; "
                        "stop it, choose other ports (kafka.local.port / controller_port) "
                        "or point kafka.bootstrap at that cluster"
                    )
        classpath, origin = broker_classpath()
        log.info("broker jars from %s", origin)
        if self.security.enabled:
            self.security.secrets.ensure(self.security.admin)
            ensure_local_tls(self.security.tls, (self.spec.host, "localhost"))
        cluster_id = self._cluster_id(java, classpath)
        for n in nodes:
            n.home.mkdir(parents=True, exist_ok=True)
            self._write_properties(n)
            if not (n.data_dir / "meta.properties").exists():
                self._format(java, classpath, n, cluster_id)
        procs = []
        for n in nodes:  # all at once: a quorum of several needs its voters up together
            proc = self._spawn(java, classpath, n)
            n.pid_file.write_text(str(proc.pid))
            procs.append(proc)
        return procs

    def _cluster_id(self, java: str, classpath: str) -> str:
        """One id for every node of the cluster, made once and kept in the state folder."""
        path = self.home / "cluster.id"
        if path.exists():
            return path.read_text().strip()
        cluster_id = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        path.write_text(cluster_id + "\n")
        return cluster_id

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _running_pid(self, node: _Node) -> int | None:
        try:
            pid = int(node.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not _alive(pid) or not _is_kafka(pid):
            node.pid_file.unlink(missing_ok=True)  # stale: the process is gone or reused
            return None
        return pid

    def _write_properties(self, node: _Node) -> None:
        count = len(self.nodes)
        replicas, min_isr = str(min(3, count)), str(min(2, count))
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(node.id),
            **self._quorum_properties(node),
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(node.data_dir),
            "num.partitions": "1",
            # Internal topics: as many replicas as the cluster can hold, up to three.
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "group.initial.rebalance.delay.ms": "0",
            # Topics come from config (`casebus topics ensure`), never from a typo.
            "auto.create.topics.enable": "false",
            "unclean.leader.election.enable": "false",
            **self._listener_properties(node),
        }
        if count > 1:
            # On loopback a dead node is fenced (its partitions led elsewhere, dropped from
            # every ISR) after 4 s instead of 9: acks=all producers stall that long per crash.
            lines["broker.session.timeout.ms"] = "4000"
            lines["broker.heartbeat.interval.ms"] = "1000"
        # The file holds the super user's password (inter-broker SCRAM): owner only.
        fd = os.open(node.properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("".join(f"{k}={v}\n" for k, v in lines.items()))

    def _quorum_properties(self, node: _Node) -> dict[str, str]:
        host = self.spec.host
        if not self.replicated:  # a dynamic quorum of one (`format --standalone`)
            return {"controller.quorum.bootstrap.servers": f"{host}:{node.controller_port}"}
        voters = ",".join(f"{n.id}@{host}:{n.controller_port}" for n in self.nodes)
        return {"controller.quorum.voters": voters}

    def _listener_properties(self, node: _Node) -> dict[str, str]:
        s, sec = self.spec, self.security
        client = f"{s.host}:{node.port}"
        controller = f"CONTROLLER://{s.host}:{node.controller_port}"
        if not sec.enabled:
            return {
                "listeners": f"PLAINTEXT://{client},{controller}",
                "advertised.listeners": f"PLAINTEXT://{client}",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            }
        scram = sec.mechanism.lower()
        password = sec.secrets.get(sec.admin)
        return {
            "listeners": f"SASL_SSL://{client},{controller}",
            "advertised.listeners": f"SASL_SSL://{client}",
            "inter.broker.listener.name": "SASL_SSL",
            # The controller listener is TLS with a required client certificate: only the
            # holder of the broker's key (the broker itself) is let in.
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "listener.name.controller.ssl.client.auth": "required",
            "sasl.enabled.mechanisms": sec.mechanism,
            "sasl.mechanism.inter.broker.protocol": sec.mechanism,
            f"listener.name.sasl_ssl.{scram}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{sec.admin}" password="{password}";'
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(sec.tls.broker_pem),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(sec.tls.ca_cert),
            "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{sec.admin};{BROKER_PRINCIPAL}",
        }

    def _format(self, java: str, classpath: str, node: _Node, cluster_id: str) -> None:
        base = [java, "-cp", classpath, "kafka.tools.StorageTool"]
        cmd = [*base, "format", "-t", cluster_id, "-c", str(node.properties)]
        if not self.replicated:
            cmd.append("--standalone")  # else: the static voters of controller.quorum.voters
        if self.security.enabled:
            sec = self.security
            password = sec.secrets.get(sec.admin)
            cmd += ["--add-scram", f"{sec.mechanism}=[name={sec.admin},password={password}]"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerSetupError(
                "formatting KRaft storage failed:\n" + result.stdout + result.stderr
            )
        log.info("formatted KRaft storage in %s (cluster %s)", node.data_dir, cluster_id)

    def _spawn(self, java: str, classpath: str, node: _Node) -> subprocess.Popen[bytes]:
        log4j = node.home / "log4j2.properties"
        log4j.write_text(
            "rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=OUT\n"
            "appender.out.type=Console\nappender.out.name=OUT\n"
            "appender.out.layout.type=PatternLayout\n"
            "appender.out.layout.pattern=[%d] %p %m (%c)%n\n"
        )
        cmd = [
            java,
            *jvm_options(self.spec),
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(node.properties),
        ]
        with node.log_file.open("ab") as out:
            # A session of its own: the broker outlives the command that started it and
            # does not get the terminal's Ctrl-C.
            return subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=node.home,
            )

    def _terminate(self, pid: int, timeout: float = 60.0) -> None:
        _terminate_all([pid], timeout)


def jvm_options(spec: LocalBroker) -> list[str]:
    """The JVM's options for a node: its heap, reserved at start, and `java_options`."""
    return [f"-Xms{spec.heap}", *java_options(spec.heap, full_jit=spec.full_jit)]


def java_options(heap: str, *, full_jit: bool) -> list[str]:
    """The options of every JVM casebus starts (a node, MirrorMaker 2): the heap's cap, and
    the compiler's tiers (`kafka.local.full_jit`)."""
    return [
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        # A dev setup: a start up to a second sooner beats peak throughput, unless asked.
        *([] if full_jit else ["-XX:TieredStopAtLevel=1"]),
        "-Djava.awt.headless=true",
    ]


def _terminate_all(pids: Sequence[int], timeout: float) -> None:
    """SIGTERM (a controlled shutdown that flushes logs) to each; SIGKILL to any still alive
    after `timeout` (0: at once, a crash)."""
    sig = signal.SIGTERM if timeout > 0 else signal.SIGKILL
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    killed = timeout <= 0
    while any(_alive(pid) for pid in pids):
        if not killed and time.monotonic() > deadline:
            alive = [pid for pid in pids if _alive(pid)]
            log.warning("broker pid(s) %s ignored SIGTERM for %.0fs; killing", alive, timeout)
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.05)


def wait_until_ready(
    options: dict[str, object],
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    *,
    processes: Sequence[subprocess.Popen[bytes]] = (),
    brokers: int = 1,
    node_id: int | None = None,
) -> None:
    """Block until the cluster answers a metadata request (options: a client's connection)
    with at least `brokers` brokers registered (and `node_id` among them, if given)."""
    bootstrap = str(options["bootstrap_servers"])
    watched = [*processes, *([process] if process is not None else [])]
    deadline = time.monotonic() + timeout
    last: Exception | str | None = None
    while time.monotonic() < deadline:
        for proc in watched:
            if proc.poll() is not None:
                raise BrokerSetupError(f"broker exited with code {proc.returncode} while starting")
        if not _accepts_connections(bootstrap):
            time.sleep(0.2)  # cheap probe first: the admin client logs every refused dial
            continue
        try:
            admin = KafkaAdminClient(
                request_timeout_ms=3000, client_id="casebus-ready-check", **options
            )
            try:
                ids = live_brokers(admin.describe_cluster())
            finally:
                admin.close()
            if len(ids) >= brokers and (node_id is None or node_id in ids):
                return
            last = f"brokers registered: {sorted(ids)}"
        except (KafkaError, OSError) as exc:
            last = exc
        time.sleep(0.25)
    raise BrokerSetupError(f"broker at {bootstrap} not ready after {timeout:.0f}s ({last})")


def live_brokers(described: dict[str, object]) -> set[int]:
    """The ids of the brokers a DescribeCluster answer lists as registered and not fenced."""
    brokers = described.get("brokers") or []
    assert isinstance(brokers, list)
    return {int(b["broker_id"]) for b in brokers if not b.get("is_fenced")}


def _accepts_connections(bootstrap: str) -> bool:
    """Whether any of the bootstrap addresses takes a connection."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            continue
    return False


def port_freed(host: str, port: int, within: float) -> bool:
    """Whether `port` is free, or is freed within `within` seconds. A server listening on it
    keeps it: False at once. Otherwise the port is some connection's own end: in the
    ephemeral range, a client dialling a node's port while the node is down can be handed
    that very port, connected to itself, and once it gives that up the port stays in
    TIME_WAIT for a minute (the client did not set SO_REUSEADDR, so no bind may share it)."""
    deadline = time.monotonic() + within
    warned = False
    while not port_is_free(host, port):
        if time.monotonic() > deadline or _accepts_connections(f"{host}:{port}"):
            return False
        if not warned:
            log.warning("port %s:%d is held by a connection's own end; waiting for it", host, port)
            warned = True
        time.sleep(0.5)
    return True


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for our purposes.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _is_kafka(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # cannot tell (not Linux): trust the pid file
    return b"kafka.Kafka" in cmdline
