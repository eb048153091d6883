"""Sandbox time: tick 0 is the initial state; each tick is one day of source activity."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

BASE_DAY = date(2024, 10, 1)  # in the past, so no valid record carries a future date
MAX_TICK = 3


def day(rng: random.Random, tick: int = 0, *, back: int = 200) -> date:
    """A date before tick's day: up to `back` days earlier for tick 0."""
    end = BASE_DAY + timedelta(days=tick * 10)
    return end - timedelta(days=rng.randint(1, back) if tick == 0 else rng.randint(0, 9))


def stamp(d: date, rng: random.Random) -> datetime:
    """A Beijing office-hours time on day d (naive: the source systems' local time)."""
    return datetime(d.year, d.month, d.day, rng.randint(8, 17), rng.randint(0, 59), 0)


def iso(value: date | datetime) -> str:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()


def later_tick(rng: random.Random) -> int:
    return rng.randint(1, MAX_TICK)
