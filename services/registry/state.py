"""Registry state derived from the `_schemas` log, one record at a time, deterministically.

Every process replays the same single-partition log in the same order and so derives the
same ids and versions: the first accepted registration of a schema (by identity) takes the
next id. A record is a *request*; its outcome (accepted, or rejected with an error code) is
decided here, at apply time, so racing writers cannot both win. Every record has a unique
key, so compaction never removes history this derivation depends on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from services.registry import compat

log = logging.getLogger(__name__)


@dataclass
class Version:
    subject: str
    version: int
    schema_id: int
    deleted: bool = False


@dataclass(frozen=True)
class Reply:
    """The answer to one request: `body` on success, else HTTP status and Confluent code."""

    status: int = 200
    error_code: int = 0
    message: str = ""
    body: Any = None

    @property
    def ok(self) -> bool:
        return self.status < 400


def error(status: int, code: int, message: str) -> Reply:
    return Reply(status=status, error_code=code, message=message)


@dataclass
class RegistryState:
    default_level: str
    schemas: dict[int, str] = field(default_factory=dict)  # id -> stored text
    ids: dict[str, int] = field(default_factory=dict)  # identity -> id
    subjects: dict[str, list[Version]] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)  # subject -> level
    global_level: str | None = None

    # -- reads -----------------------------------------------------------------------------

    def level(self, subject: str | None) -> str:
        if subject is not None and subject in self.levels:
            return self.levels[subject]
        return self.global_level or self.default_level

    def live(self, subject: str) -> list[Version]:
        return [v for v in self.subjects.get(subject, []) if not v.deleted]

    def find(self, subject: str, version: int | str, *, deleted: bool = False) -> Reply:
        """The version (int or "latest", -1 meaning latest) of a subject, or 404."""
        versions = self.subjects.get(subject, [])
        visible = versions if deleted else [v for v in versions if not v.deleted]
        if not visible:
            return error(404, 40401, f"Subject '{subject}' not found.")
        if version in ("latest", -1, "-1"):
            return Reply(body=visible[-1])
        try:
            number = int(version)
        except (TypeError, ValueError):
            return error(422, 42202, f"The specified version '{version}' is not a valid id.")
        if number <= 0:
            return error(422, 42202, f"The specified version '{version}' is not a valid id.")
        for candidate in visible:
            if candidate.version == number:
                return Reply(body=candidate)
        return error(404, 40402, f"Version {number} not found.")

    def precheck_register(self, subject: str, text: str) -> Reply:
        """What registering would answer now (handlers call it before writing to the log)."""
        try:
            stored, identity = compat.normalise(text)
        except compat.InvalidSchema as exc:
            return error(422, 42201, str(exc))
        existing_id = self.ids.get(identity)
        for version in self.live(subject):
            if version.schema_id == existing_id:
                return Reply(body={"id": existing_id, "version": version.version, "new": False})
        olds = [self.schemas[v.schema_id] for v in self.live(subject)]
        issues = compat.problems(stored, olds, self.level(subject))
        if issues:
            message = "Schema being registered is incompatible with an earlier schema: "
            return error(409, 409, message + "; ".join(issues))
        return Reply(body={"new": True})

    # -- applying log records ------------------------------------------------------------

    def apply(self, record: dict[str, Any]) -> Reply:
        kind = record.get("kind")
        if kind == "register":
            return self._register(str(record["subject"]), str(record["schema"]))
        if kind == "config":
            return self._config(record.get("subject"), str(record["level"]))
        if kind == "delete_subject":
            return self._delete_subject(str(record["subject"]), bool(record["permanent"]))
        if kind == "delete_version":
            return self._delete_version(
                str(record["subject"]), record["version"], bool(record["permanent"])
            )
        log.warning("skipping registry log record of unknown kind %r", kind)
        return error(500, 50001, f"unknown record kind {kind!r}")

    def _register(self, subject: str, text: str) -> Reply:
        check = self.precheck_register(subject, text)
        if not check.ok or not check.body["new"]:
            return check
        stored, identity = compat.normalise(text)
        schema_id = self.ids.get(identity)
        if schema_id is None:
            schema_id = max(self.schemas, default=0) + 1
            self.ids[identity] = schema_id
            self.schemas[schema_id] = stored
        versions = self.subjects.setdefault(subject, [])
        number = max((v.version for v in versions), default=0) + 1
        versions.append(Version(subject, number, schema_id))
        return Reply(body={"id": schema_id, "version": number, "new": True})

    def _config(self, subject: object, level: str) -> Reply:
        if not compat.valid_level(level):
            return error(422, 42203, f"Invalid compatibility level {level!r}.")
        if subject is None:
            self.global_level = level
        else:
            self.levels[str(subject)] = level
        return Reply(body={"compatibility": level})

    def _delete_subject(self, subject: str, permanent: bool) -> Reply:
        versions = self.subjects.get(subject, [])
        if not versions:
            return error(404, 40401, f"Subject '{subject}' not found.")
        if permanent:
            if any(not v.deleted for v in versions):
                return error(
                    404,
                    40405,
                    f"Subject '{subject}' was not deleted first before being permanently deleted",
                )
            del self.subjects[subject]
            self.levels.pop(subject, None)
            return Reply(body=[v.version for v in versions])
        live = [v for v in versions if not v.deleted]
        if not live:
            return error(404, 40404, f"Subject '{subject}' was soft deleted.")
        for version in live:
            version.deleted = True
        return Reply(body=[v.version for v in live])

    def _delete_version(self, subject: str, version: object, permanent: bool) -> Reply:
        found = self.find(subject, str(version), deleted=permanent)
        if not found.ok:
            return found
        target: Version = found.body
        if permanent:
            if not target.deleted:
                return error(
                    404,
                    40407,
                    f"Subject '{subject}' Version {target.version} was not deleted first",
                )
            self.subjects[subject].remove(target)
            if not self.subjects[subject]:
                del self.subjects[subject]
        else:
            target.deleted = True
        return Reply(body=target.version)
