"""A two-region deployment on one machine, for the two-region test and bench/link.py: each
region's one-node cluster, its registry (Luzhou's the primary, Qijiang's the follower) and
its MirrorMaker 2, each started the way an operator does (`casebus --region R ...`), on ports
and in a folder of the caller's; optionally each region's key service for personal fields,
with a key store and key-encryption keys of its own. No side effects on import (tests
import it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from casebus.config import PROJECT_ROOT, Settings, load_settings
from casebus.process import ServiceProcess, start_service
from services.mirror.run import followers_caught_up

LUZHOU, QIJIANG = "luzhou", "qijiang"
# What config/casebus.toml gives each region, replaced by the caller's ports.
DEFAULTS = {LUZHOU: (19092, 18081), QIJIANG: (29092, 28081)}


class DeploymentError(Exception):
    """A part of the deployment did not start; the message has its output."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    registries: dict[str, ServiceProcess] = field(default_factory=dict)
    mirrors: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Where each region's link serves its metrics (/metrics, /healthz, /readyz).
    mirror_ports: dict[str, int] = field(default_factory=dict)
    # Each region's key service, when the deployment runs them (two_regions(key_services=)).
    key_services: dict[str, ServiceProcess] = field(default_factory=dict)

    def settings(self, region: str) -> Settings:
        return load_settings(region=region)

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def status(self, region: str) -> dict[str, Any]:
        done = self.cli("--region", region, "status", "--json", timeout=120)
        if done.returncode != 0:
            raise DeploymentError(done.stdout[-1000:] + done.stderr[-2000:])
        return dict(json.loads(done.stdout))

    def start_mirror(self, region: str) -> None:
        log = (self.home / f"mirror-{region}.log").open("ab")
        port = self.mirror_ports.setdefault(region, free_port())
        command = ["--region", region, "mirror", "run", "--metrics-port", str(port)]
        self.mirrors[region] = subprocess.Popen(
            [sys.executable, "-m", "cli", *command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def kill_mirror(self, region: str) -> None:
        """SIGKILL of `mirror run`: MirrorMaker 2 dies with it (a crash, not a stop)."""
        process = self.mirrors.pop(region)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def wait_for_follower(self, timeout: float = 120) -> None:
        """Until Qijiang's registry serves every schema of Luzhou's (the link copies them)."""
        deadline = time.monotonic() + timeout
        while not followers_caught_up(self.settings(QIJIANG)):
            if time.monotonic() > deadline:
                raise DeploymentError("Qijiang's registry never caught up with Luzhou's")
            time.sleep(1)

    def stop(self) -> None:
        for region in list(self.mirrors):
            self.kill_mirror(region)
        for registry in self.registries.values():
            registry.stop()
        for service in self.key_services.values():
            service.stop()
        for region in (LUZHOU, QIJIANG):
            self.cli("--region", region, "kafka", "stop")


def write_config(
    folder: Path,
    ports: dict[str, int],
    registry_ports: dict[str, int],
    key_ports: dict[str, int] | None = None,
) -> Path:
    """The default config, each region's cluster (client port; controller port + 1) and
    registry moved to the caller's ports; with `key_ports`, each region's key service
    (https://127.0.0.1:<port>) configured."""
    folder.mkdir(parents=True)
    for name in ("casebus.toml", "connectors.toml", "sync.toml"):
        text = (PROJECT_ROOT / "config" / name).read_text("utf-8")
        if name == "casebus.toml":
            for region, (kafka, registry) in DEFAULTS.items():
                text = text.replace(f"port = {kafka}", f"port = {ports[region]}")
                text = text.replace(
                    f"controller_port = {kafka + 1}", f"controller_port = {ports[region] + 1}"
                )
                text = text.replace(str(registry), str(registry_ports[region]))
            if key_ports:
                text = with_key_services(text, registry_ports, key_ports)
        (folder / name).write_text(text, "utf-8")
    return folder / "casebus.toml"


def with_key_services(text: str, registry_ports: dict[str, int], key_ports: dict[str, int]) -> str:
    """casebus.toml's text with each region's key service (after its registry's port)."""
    for region, port in key_ports.items():
        line = f"registry_port = {registry_ports[region]}\n"
        assert line in text, f"no {line!r} in the config"
        text = text.replace(
            line,
            f'{line}key_service_url = "https://127.0.0.1:{port}"\nkey_service_port = {port}\n',
        )
    return text


def key_service_env(home: Path, region: str) -> dict[str, str]:
    """A region's key service's own key store and key-encryption keys: nothing shared on
    disk with the other region's."""
    folder = home / f"keys-{region}"
    return {
        "CASEBUS_PERSONAL__KEY_STORE": str(folder / "keys.sqlite"),
        "CASEBUS_PERSONAL__KEK_DIR": str(folder / "kek"),
    }


def start_key_service(
    home: Path, region: str, port: int, env: dict[str, str], ca_file: Path
) -> ServiceProcess:
    """`casebus --region R keys serve`, once it answers over HTTPS (a 401: who is asking)."""
    return start_service(
        ["--region", region, "keys", "serve", "--port", str(port)],
        url=f"https://127.0.0.1:{port}",
        ready_path="/v1/erasures",
        log=home / f"keys-{region}.log",
        env={**env, **key_service_env(home, region)},
        verify=str(ca_file),
    )


@contextmanager
def two_regions(
    home: Path, ports: dict[str, int], *, key_services: bool = False
) -> Iterator[Deployment]:
    """Both regions up, the link running both ways, Qijiang's registry caught up; this
    process's settings (CASEBUS_CONFIG, CASEBUS_VAR_DIR) the deployment's meanwhile. With
    `key_services`, each region also runs its key service (its own key store and KEK folder
    under `home`), and config points every process at them: producers get their owner's
    keys from their region's service, syncs open keys at the owner's region's."""
    registry_ports = {LUZHOU: free_port(), QIJIANG: free_port()}
    key_ports = {LUZHOU: free_port(), QIJIANG: free_port()} if key_services else None
    config = write_config(home / "config", ports, registry_ports, key_ports)
    env = {
        **os.environ,
        "CASEBUS_CONFIG": str(config),
        "CASEBUS_VAR_DIR": str(home / "var"),
        "CASEBUS_SYNC__RETRY_MAX_SECONDS": "2",
    }
    # (A region's cluster replaces [kafka]: its secrets are under var, whatever else says.)
    saved = {k: os.environ.get(k) for k in ("CASEBUS_CONFIG", "CASEBUS_VAR_DIR")}
    os.environ.update({k: env[k] for k in saved})
    deployment = Deployment(home, env)
    try:
        for region in (LUZHOU, QIJIANG):
            started = deployment.cli("--region", region, "kafka", "start")
            if started.returncode != 0:
                raise DeploymentError(started.stdout[-2000:] + started.stderr[-2000:])
        for region in (LUZHOU, QIJIANG):
            deployment.registries[region] = start_service(
                ["--region", region, "registry", "serve"],
                url=f"http://127.0.0.1:{registry_ports[region]}",
                log=home / f"registry-{region}.log",
                env=env,
            )
        for region, port in (key_ports or {}).items():
            deployment.key_services[region] = start_key_service(
                home, region, port, env, deployment.settings(region).ca_file
            )
        registered = deployment.cli("--region", LUZHOU, "schemas", "register")
        if registered.returncode != 0:
            raise DeploymentError(registered.stderr[-2000:])
        for region in (LUZHOU, QIJIANG):
            deployment.start_mirror(region)
        deployment.wait_for_follower()
        yield deployment
    finally:
        deployment.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
