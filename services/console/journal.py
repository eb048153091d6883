"""What the console keeps on disk besides users: the last `audit verify` result per agency
(written by the console when an admin runs it, and by `casebus audit verify`), and the log
of admins' actions, one JSON line each, with the admin's name."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from casebus.config import Settings


def console_dir(settings: Settings) -> Path:
    return settings.var_dir / "console"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


def record_audit(settings: Settings, agency: str, report: dict[str, Any], by: str) -> None:
    """Keep `report` (AuditReport.to_dict) as the agency's last audit."""
    body = {"checked_at": datetime.now(UTC).isoformat(), "by": by, "report": report}
    _write(console_dir(settings) / "audit" / f"{agency}.json", json.dumps(body, ensure_ascii=False))


def last_audit(settings: Settings, agency: str) -> dict[str, Any] | None:
    path = console_dir(settings) / "audit" / f"{agency}.json"
    try:
        body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return body


def log_action(settings: Settings, admin: str, action: str, **details: Any) -> None:
    """Append one admin action to var/console/actions.jsonl (appends are atomic per line)."""
    line = {"at": datetime.now(UTC).isoformat(), "admin": admin, "action": action, **details}
    path = console_dir(settings) / "actions.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


def recent_actions(settings: Settings, count: int = 20) -> list[dict[str, Any]]:
    path = console_dir(settings) / "actions.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[-count:]
    except OSError:
        return []
    out = []
    for line in reversed(lines):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
