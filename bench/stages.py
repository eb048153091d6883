"""What bench/sync.py prints of a run: µs/event per stage, grouped by the process that ran
it, and the batched sync as a share of the bare pipeline."""

from __future__ import annotations

from typing import Any

# The decode worker's stages (pipeline/decode_worker.py), when the run had one.
WORKER_STAGES = ("decode", "prepare", "validate")
STAGE_ORDER = (
    "poll",
    "wait for worker",
    "decode",
    "flatten",
    "prepare",
    "validate",
    "apply and write",
    "write",
)


def stages_by_process(r: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Seconds per stage, grouped by the process that ran it (all main without a worker)."""
    with_worker = "wait for worker" in r["stages"]
    grouped: dict[str, dict[str, float]] = {"main": {}, "worker": {}}
    ordered = sorted(
        r["stages"].items(),
        key=lambda kv: STAGE_ORDER.index(kv[0]) if kv[0] in STAGE_ORDER else len(STAGE_ORDER),
    )
    for stage, seconds in ordered:
        on_worker = with_worker and stage in WORKER_STAGES
        grouped["worker" if on_worker else "main"][stage] = seconds
    return grouped


def stage_lines(r: dict[str, Any]) -> list[str]:
    """µs/event per stage and process, each process's sum, and its CPU (getrusage)."""
    per_event = 1e6 / r["events"]
    lines = []
    for process, stages in stages_by_process(r).items():
        if not stages:
            continue
        for n, (stage, seconds) in enumerate(stages.items()):
            label = process if n == 0 else ""
            lines.append(f"{'':12}{label:8} {stage:16} {seconds * per_event:7.1f} us/event")
        total = sum(stages.values()) * per_event
        lines.append(f"{'':20} {'= stages':16} {total:7.1f} us/event")
    cpu = r["cpu"]
    lines.append(
        f"{'':12}{'cpu':8} main {cpu['main'] * per_event:.1f} + worker "
        f"{cpu['worker'] * per_event:.1f} us/event (getrusage; set-up after imports included)"
    )
    if "machine" in r:  # from the first start to the last exit, as the parent saw it
        lines.append(f"{'':12}{'machine':8} {r['machine']}")
    return lines


def versus_bare(results: dict[str, dict[str, Any]], db: str) -> str:
    """The batched sync's events/s as a share of the bare pipeline's, each over its events."""
    batched, bare = results[f"batched {db}"], results[f"bare {db}"]
    return (
        f"{'':10}  batched sync {batched['rate']:,.0f}/s ({batched['events']:,} events, all "
        f"topics) vs bare pipeline {bare['rate']:,.0f}/s ({bare['events']:,} penalties) = "
        f"{batched['rate'] / bare['rate']:.0%} of bare"
    )
