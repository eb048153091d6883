"""The commands an admin starts from a page, run as the command line runs them: a case
replay (dry run or repair) and `audit verify`, each a `casebus` child process whose JSON
answer is parsed. The console does not import the replay or audit services (a service
never imports another); the child is the same code an admin would run in a terminal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

# Case numbers as the sources write them (letters, digits, CJK, brackets, dashes), never
# starting with "-", so that no case number reads as an option.
CASE_ID = re.compile(r"^[^\W_][\w\-〔〕（）()]{0,199}$")


@dataclass(frozen=True, slots=True)
class CommandResult:
    args: tuple[str, ...]
    exit_code: int
    body: dict[str, Any] | None  # the command's JSON answer
    error: str  # its standard error, when it failed

    @property
    def command(self) -> str:
        return "casebus " + " ".join(self.args)


def run_casebus(args: list[str], *, timeout: float) -> CommandResult:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli", *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CommandResult(tuple(args), -1, None, f"no answer within {timeout:.0f} s")
    out = done.stdout.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(out) if out else None
    except ValueError:
        body = None
    error = done.stderr.decode("utf-8", errors="replace").strip()
    return CommandResult(tuple(args), done.returncode, body, error[-4000:])


def replay_case(agency: str, case_id: str, *, dry_run: bool, timeout: float) -> CommandResult:
    args = ["replay", "--into", agency, "--case", case_id, "--json"]
    return run_casebus([*args, "--dry-run"] if dry_run else args, timeout=timeout)


def audit_verify(agency: str, *, timeout: float) -> CommandResult:
    return run_casebus(["audit", "verify", agency, "--json"], timeout=timeout)
