"""The benchmarks on the secured broker beside the same on an open one (issue 11).

    .venv/bin/python bench/security.py [--events 30000] [--sync-events 60000] [--rounds 3]

Runs bench/produce.py and bench/sync.py against the benchmarks' secured broker (SASL_SSL
with SCRAM-SHA-512, TLS, the StandardAuthorizer and the ACLs config implies; every client a
real principal) and with `--plaintext` (an open broker of their own, the same settings
otherwise), then prints each secured figure as a share of the open one. On this 2-core
machine one run's figure moves by ±10% from one minute to the next, more than the cost being
measured, so the two sides alternate for `--rounds` rounds (secured first in odd rounds,
open first in even ones) and the verdict compares the medians; each round's ratio is shown.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(script: str, args: list[str], plaintext: bool) -> dict[str, Any]:
    command = [sys.executable, str(HERE / script), *args, *(["--plaintext"] if plaintext else [])]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("SUMMARY ")]
    summary: dict[str, Any] = json.loads(lines[-1].removeprefix("SUMMARY "))
    print(f"  {script} ({summary['protocol']}): done", flush=True)
    return summary


Figures = dict[str, float]  # what -> events/s


def one_round(args: argparse.Namespace, open_first: bool) -> tuple[Figures, Figures]:
    """Each benchmark once on each broker: (secured, open) figures."""
    order = (True, False) if open_first else (False, True)
    secured: Figures = {}
    open_: Figures = {}
    produce_args = ["--events", str(args.events)]
    sync_args = ["--events", str(args.sync_events), "--naive-events", "500"]
    for script, script_args in (("produce.py", produce_args), ("sync.py", sync_args)):
        for plaintext in order:
            summary = run(script, script_args, plaintext)
            into = open_ if plaintext else secured
            if script == "produce.py":
                into["connector runner (signed)"] = summary["runner"]
                into["bare producer"] = summary["bare"]
            else:
                for db in ("sqlite", "postgresql"):
                    into[f"sync into {db}"] = summary[f"batched {db}"]
    return secured, open_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="produce benchmark events")
    parser.add_argument("--sync-events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    args = parser.parse_args()
    rounds = [one_round(args, open_first=n % 2 == 1) for n in range(args.rounds)]
    print(
        f"{'':28} {'SASL_SSL':>12} {'PLAINTEXT':>12}  medians' ratio (target >= 90%)"
        "  [each round: secured / open]"
    )
    for name in rounds[0][0]:
        secured = [r[0][name] for r in rounds]
        open_ = [r[1][name] for r in rounds]
        a, b = statistics.median(secured), statistics.median(open_)
        each = "  ".join(f"{s / o:.0%}" for s, o in zip(secured, open_, strict=True))
        print(f"{name:28} {a:>10,.0f}/s {b:>10,.0f}/s  {a / b:>6.0%}  [{each}]")


if __name__ == "__main__":
    main()
