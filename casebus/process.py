"""Run a `casebus` service as a child process and wait until it answers over HTTP.

Used by the demo (registry) and by the tests, which start services exactly as an operator
would: the real command, its own log file, readiness checked on the wire.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from casebus.kafka.broker import tail


class ServiceFailed(Exception):
    """The child exited or never answered; the message carries its log's last lines."""


@dataclass
class ServiceProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def start_service(
    args: Sequence[str],
    *,
    url: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/",
    timeout: float = 60.0,
    verify: str | bool = True,  # HTTPS: the CA file its certificate is checked against
) -> ServiceProcess:
    """Start `casebus <args>`; return once GET url+ready_path answers 2xx."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", *args],
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceFailed(
                f"`casebus {' '.join(args)}` exited with {process.returncode}:\n{tail(log)}"
            )
        if answers(url + ready_path, verify=verify):
            return ServiceProcess(url, process, log)
        time.sleep(0.2)
    process.kill()
    process.wait()
    raise ServiceFailed(
        f"`casebus {' '.join(args)}` did not answer within {timeout:.0f}s:\n{tail(log)}"
    )


def answers(url: str, *, verify: str | bool = True) -> bool:
    """Up: it answers, if only to ask who is calling (401 from the registry)."""
    try:
        answer = requests.get(url, timeout=1, verify=verify)
        return answer.ok or answer.status_code == 401
    except (requests.RequestException, OSError):  # OSError: its CA file is not written yet
        return False
