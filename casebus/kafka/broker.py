"""A local single-node Apache Kafka broker (KRaft, combined broker and controller).

For development, the demo and the tests. State lives in one folder (default `var/kafka`):
`server.properties`, `data/` (formatted once), `broker.pid`, `broker.log`. Starting is
idempotent and serialised by a lock file, so two `start`s leave one broker.

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
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from casebus.config import LocalBroker
from casebus.kafka.clients import client_options
from casebus.kafka.jars import BrokerSetupError, broker_classpath
from casebus.security.secrets import SecretStore
from casebus.security.tls import BROKER_PRINCIPAL, TlsFiles, ensure_local_tls

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    log_file: Path
    data_dir: Path


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


class LocalKafka:
    """Start, stop and inspect the broker whose state lives in `home`."""

    def __init__(self, home: Path, spec: LocalBroker, security: BrokerSecurity) -> None:
        self.home = home
        self.spec = spec
        self.security = security
        self.data_dir = home / "data"
        self.log_file = home / "broker.log"
        self.pid_file = home / "broker.pid"
        self.properties = home / "server.properties"

    @property
    def bootstrap(self) -> str:
        return f"{self.spec.host}:{self.spec.port}"

    # -- public operations -------------------------------------------------------------

    def start(self) -> BrokerStatus:
        """Start the broker unless it already runs; return once it answers metadata."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self._lock():
            pid = self._running_pid()
            if pid is not None:
                log.info("broker already running (pid %d) at %s", pid, self.bootstrap)
                wait_until_ready(self.admin_options(), self.spec.start_timeout_seconds)
                return self.status()
            java = shutil.which("java")
            if java is None:
                raise BrokerSetupError("no Java runtime (java) on PATH: install Java 17 or newer")
            for port in (self.spec.port, self.spec.controller_port):
                if not port_is_free(self.spec.host, port):
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
            self._write_properties()
            if not (self.data_dir / "meta.properties").exists():
                self._format(java, classpath)
            proc = self._spawn(java, classpath)
            self.pid_file.write_text(str(proc.pid))
            try:
                wait_until_ready(
                    self.admin_options(), self.spec.start_timeout_seconds, process=proc
                )
            except BrokerSetupError as exc:
                self._terminate(proc.pid)
                self.pid_file.unlink(missing_ok=True)
                raise BrokerSetupError(
                    f"{exc}\n--- last lines of {self.log_file} ---\n{tail(self.log_file)}"
                ) from None
            return self.status()

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the broker this folder started; True if one was running."""
        with self._lock():
            pid = self._running_pid()
            self.pid_file.unlink(missing_ok=True)
            if pid is None:
                return False
            self._terminate(pid, timeout)
            deadline = time.monotonic() + 10
            while not port_is_free(self.spec.host, self.spec.port):
                if time.monotonic() > deadline:
                    raise BrokerSetupError(f"port {self.spec.port} still taken after stop")
                time.sleep(0.1)
            return True

    def admin_options(self) -> dict[str, object]:
        return self.security.admin_options(self.bootstrap)

    def status(self) -> BrokerStatus:
        pid = self._running_pid()
        return BrokerStatus(pid is not None, pid, self.bootstrap, self.log_file, self.data_dir)

    # -- internals ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not _alive(pid) or not _is_kafka(pid):
            self.pid_file.unlink(missing_ok=True)  # stale: the process is gone or reused
            return None
        return pid

    def _write_properties(self) -> None:
        s = self.spec
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{s.host}:{s.controller_port}",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            # One node: internal topics cannot have more replicas than brokers.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics come from config (`casebus topics ensure`), never from a typo.
            "auto.create.topics.enable": "false",
            "unclean.leader.election.enable": "false",
            **self._listener_properties(),
        }
        # The file holds the super user's password (inter-broker SCRAM): owner only.
        fd = os.open(self.properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("".join(f"{k}={v}\n" for k, v in lines.items()))

    def _listener_properties(self) -> dict[str, str]:
        s, sec = self.spec, self.security
        client = f"{s.host}:{s.port}"
        controller = f"CONTROLLER://{s.host}:{s.controller_port}"
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

    def _format(self, java: str, classpath: str) -> None:
        base = [java, "-cp", classpath, "kafka.tools.StorageTool"]
        cluster_id = subprocess.run(
            [*base, "random-uuid"], capture_output=True, text=True, check=True
        ).stdout.strip()
        cmd = [*base, "format", "--standalone", "-t", cluster_id, "-c", str(self.properties)]
        if self.security.enabled:
            sec = self.security
            password = sec.secrets.get(sec.admin)
            cmd += ["--add-scram", f"{sec.mechanism}=[name={sec.admin},password={password}]"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerSetupError(
                "formatting KRaft storage failed:\n" + result.stdout + result.stderr
            )
        log.info("formatted KRaft storage in %s (cluster %s)", self.data_dir, cluster_id)

    def _spawn(self, java: str, classpath: str) -> subprocess.Popen[bytes]:
        log4j = self.home / "log4j2.properties"
        log4j.write_text(
            "rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=OUT\n"
            "appender.out.type=Console\nappender.out.name=OUT\n"
            "appender.out.layout.type=PatternLayout\n"
            "appender.out.layout.pattern=[%d] %p %m (%c)%n\n"
        )
        cmd = [
            java,
            f"-Xmx{self.spec.heap}",
            f"-Xms{self.spec.heap}",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",  # a dev broker: fast start beats peak JIT throughput
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self.properties),
        ]
        with self.log_file.open("ab") as out:
            # A session of its own: the broker outlives the command that started it and
            # does not get the terminal's Ctrl-C.
            return subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.home,
            )

    def _terminate(self, pid: int, timeout: float = 60.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # controlled shutdown: flushes logs
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                log.warning("broker pid %d ignored SIGTERM for %.0fs; killing", pid, timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)


def wait_until_ready(
    options: dict[str, object], timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until the cluster answers a metadata request (options: a client's connection)."""
    bootstrap = str(options["bootstrap_servers"])
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerSetupError(f"broker exited with code {process.returncode} while starting")
        if not _accepts_connections(bootstrap):
            time.sleep(0.2)  # cheap probe first: the admin client logs every refused dial
            continue
        try:
            admin = KafkaAdminClient(
                request_timeout_ms=3000, client_id="casebus-ready-check", **options
            )
            try:
                admin.describe_cluster()
                return
            finally:
                admin.close()
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.25)
    raise BrokerSetupError(f"broker at {bootstrap} not ready after {timeout:.0f}s ({last})")


def _accepts_connections(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


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
