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

from casebus.config import PROJECT_ROOT, LocalBroker, Settings, load_settings
from casebus.kafka.broker import BrokerSecurity, LocalKafka
from casebus.kafka.clients import make_super_admin
from casebus.security import acls
from casebus.security.secrets import SecretStore
from casebus.security.setup import broker_security, secure_cluster
from casebus.security.tls import TlsFiles

BENCH_HOME = PROJECT_ROOT / "var" / "bench"
# Two brokers of the benchmarks' own: the secured one (SASL_SSL, SCRAM, ACLs: what runs in
# production) and an open one, only for the comparison run of issue 11 (`--plaintext`).
# CASEBUS_BENCH_KAFKA_PORT moves the secured one (controller on the next port), for a second
# checkout on the same machine. Both run the JVM's optimizing compiler, as a production
# broker does (`full_jit`): with its first tier only, the broker spent 2.0 s of CPU serving
# a case's scan that it serves in 0.4-0.6 s with both, on the two cores the work measured
# shares with it.
_PORT = int(os.environ.get("CASEBUS_BENCH_KAFKA_PORT", "39194"))
SECURED_BROKER = LocalBroker(port=_PORT, controller_port=_PORT + 1, full_jit=True)
PLAINTEXT_BROKER = LocalBroker(port=39192, controller_port=39193, full_jit=True)
# The schema registry answers without HTTP authentication in both, so that only the
# broker's security differs between the two runs.
os.environ.setdefault("CASEBUS_REGISTRY__ACCESS__AUTHENTICATE", "false")
os.environ.setdefault("CASEBUS_KAFKA__SECURITY__SECRETS_DIR", str(BENCH_HOME / "secrets"))


def choose_broker(plaintext: bool) -> str:
    """Call before any settings load (the processes a bench starts inherit the choice)."""
    if plaintext:
        os.environ["CASEBUS_KAFKA__SECURITY__PROTOCOL"] = "PLAINTEXT"
    return "PLAINTEXT" if plaintext else "SASL_SSL"


def bench_broker() -> LocalKafka:
    settings = load_settings()
    if settings.kafka.security.protocol == "PLAINTEXT":
        open_broker = BrokerSecurity(
            SecretStore(BENCH_HOME / "secrets"), TlsFiles(BENCH_HOME / "tls"), enabled=False
        )
        return LocalKafka(BENCH_HOME / "kafka", PLAINTEXT_BROKER, open_broker)
    return LocalKafka(BENCH_HOME / "kafka-secured", SECURED_BROKER, broker_security(settings))


def grant(settings: Settings, stand_ins: dict[str, str], resource: acls.Resource = "topic") -> None:
    """The ACLs config implies for each shared resource, re-issued for the benchmark's own
    stand-in (stand-in name -> the shared one it stands for). Nothing on PLAINTEXT."""
    if settings.kafka.security.protocol == "PLAINTEXT":
        return
    plan = acls.plan(settings)
    wanted = set().union(
        *(acls.renamed(plan, resource, shared, name) for name, shared in stand_ins.items())
    )
    admin = make_super_admin(settings)
    try:
        acls.add(admin, wanted - acls.current(admin).grants)
    finally:
        admin.close()


def peak_rss_mb() -> float:
    """This process's peak RSS since it started (VmHWM). Not getrusage's ru_maxrss: Linux
    carries that across exec, so a benchmark's child would report its parent's peak (the
    parent that filled 2,000,000 events holds over 300 MB) whenever it is the higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


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


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_census() -> dict[str, float]:
    """CPU seconds spent so far on this machine, by who: PostgreSQL (its postmaster with the
    backends it has reaped, and the live ones), the broker (every JVM), and the machine's
    busy and idle time over all cores (/proc/stat). Two readings around a run say where
    its cores went (`census_lines`)."""
    found = {"postgresql": 0.0, "broker": 0.0}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        own = int(fields[11]) + int(fields[12])  # utime, stime
        if comm == "postgres":
            reaped = int(fields[13]) + int(fields[14])  # the postmaster's exited backends
            found["postgresql"] += (own + reaped) / _TICK
        elif comm == "java":
            found["broker"] += own / _TICK
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = cpu[3] + cpu[4]  # idle, iowait
    found["idle"] = idle / _TICK
    found["busy"] = (sum(cpu[:8]) - idle) / _TICK
    return found


def census_lines(before: dict[str, float], after: dict[str, float], events: int) -> str:
    """The machine's share of a run beside the benchmark's own processes' (getrusage)."""
    spent = {k: after[k] - before[k] for k in before}
    per_event = 1e6 / max(1, events)
    total = spent["busy"] + spent["idle"]
    return (
        f"machine busy {spent['busy'] / max(total, 1e-9):.0%} of {os.cpu_count()} cores; "
        f"PostgreSQL {spent['postgresql'] * per_event:.1f} + broker "
        f"{spent['broker'] * per_event:.1f} us/event, all busy cores "
        f"{spent['busy'] * per_event:.1f} us/event"
    )


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
    """The bench broker, started if needed; secured: every principal's credential and the
    ACLs config implies, as `casebus kafka start` does."""
    existing = os.environ.get("CASEBUS_KAFKA_BOOTSTRAP")
    bootstrap = existing or bench_broker().start().bootstrap
    settings = load_settings(kafka={"bootstrap": bootstrap})
    if settings.kafka.security.protocol != "PLAINTEXT" and not existing:
        secure_cluster(settings, generate=True)
    return bootstrap


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
    topic = f"_schemas_bench_{uuid.uuid4().hex[:8]}"
    grant(load_settings(kafka={"bootstrap": bootstrap}), {topic: "_schemas"})
    env = {**os.environ, "CASEBUS_KAFKA_BOOTSTRAP": bootstrap, "CASEBUS_REGISTRY__TOPIC": topic}
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen(
        # No metrics port: a second benchmark's registry (another checkout) would hold it.
        [
            *(str(Path(sys.executable).with_name("casebus")), "registry", "serve"),
            *("--port", str(port), "--metrics-port", "0"),
        ],
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
