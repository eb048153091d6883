"""The benchmarks on the secured broker beside the same on an open one (issue 11).

    .venv/bin/python bench/security.py [--events 30000] [--sync-events 60000]

Runs bench/produce.py and bench/sync.py once each against the benchmarks' secured broker
(SASL_SSL with SCRAM-SHA-512, TLS, the StandardAuthorizer and the ACLs config implies; every
client a real principal) and once each with `--plaintext` (an open broker of their own, the
same settings otherwise), then prints each secured figure as a share of the open one.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="produce benchmark events")
    parser.add_argument("--sync-events", type=int, default=60_000)
    args = parser.parse_args()
    rows: list[tuple[str, float, float]] = []
    produce_args = ["--events", str(args.events)]
    secured, open_ = (run("produce.py", produce_args, p) for p in (False, True))
    rows.append(("connector runner (signed)", secured["runner"], open_["runner"]))
    rows.append(("bare producer", secured["bare"], open_["bare"]))
    sync_args = ["--events", str(args.sync_events), "--naive-events", "500"]
    secured, open_ = (run("sync.py", sync_args, p) for p in (False, True))
    for db in ("sqlite", "postgresql"):
        rows.append((f"sync into {db}", secured[f"batched {db}"], open_[f"batched {db}"]))
    print(f"{'':28} {'SASL_SSL':>12} {'PLAINTEXT':>12}  secured / open (target >= 90%)")
    for name, a, b in rows:
        print(f"{name:28} {a:>10,.0f}/s {b:>10,.0f}/s  {a / b:.0%}")


if __name__ == "__main__":
    main()
