"""What the benchmarks share: the broker and registry they run against, process memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from casebus.config import PROJECT_ROOT, LocalBroker
from casebus.kafka.broker import BrokerSecurity, LocalKafka
from casebus.security.secrets import SecretStore
from casebus.security.tls import TlsFiles

# The benchmarks run against an open (PLAINTEXT) broker of their own: the comparison run
# of issue 11. Set before any settings load, so the processes a bench starts inherit it.
os.environ.setdefault("CASEBUS_KAFKA__SECURITY__PROTOCOL", "PLAINTEXT")
os.environ.setdefault("CASEBUS_REGISTRY__ACCESS__AUTHENTICATE", "false")
BENCH_BROKER = LocalBroker(port=39192, controller_port=39193)


def plaintext_broker() -> LocalKafka:
    home = PROJECT_ROOT / "var" / "bench"
    open_broker = BrokerSecurity(
        SecretStore(home / "secrets"), TlsFiles(home / "tls"), enabled=False
    )
    return LocalKafka(home / "kafka", BENCH_BROKER, open_broker)


def pss_kb(pid: int) -> int:
    """Proportional set size of a process: its private pages plus its share of pages it
    shares (a forked worker shares its parent's code and start-up heap)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def family_of(pid: int) -> list[int]:
    """The process and its children (the decode worker)."""
    found = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(c) for c in (task / "children").read_text().split())
    except OSError:
        pass
    return found


def kafka_bootstrap() -> str:
    existing = os.environ.get("CASEBUS_KAFKA_BOOTSTRAP")
    if existing:
        return existing
    return plaintext_broker().start().bootstrap


def pg_admin_url() -> str:
    url = os.environ.get("CASEBUS_TEST_PG_URL")
    if url:
        return url
    script = PROJECT_ROOT / "scripts" / "postgres-up.sh"
    return subprocess.run([str(script)], check=True, capture_output=True, text=True).stdout.strip()


def start_registry(bootstrap: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_REGISTRY__TOPIC": f"_schemas_bench_{uuid.uuid4().hex[:8]}",
    }
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("casebus")), "registry", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(url + "/", timeout=1).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"registry did not start; see {workdir / 'registry.log'}")
