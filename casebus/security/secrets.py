"""Each principal's password: from the environment, or from a file of its own under var/.

`CASEBUS_SECRET_<NAME>` (the principal's name upper-cased, every other character `_`) wins;
otherwise `<secrets dir>/<name>.secret`, mode 0600, which `casebus kafka start` generates
for the local broker. Secrets are never read from committed config, and never logged.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

ENV_PREFIX = "CASEBUS_SECRET_"


class MissingSecret(Exception):
    """No password for a principal: the message says where one was looked for."""


def env_name(principal: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", principal.upper())


class SecretStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, principal: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", principal):
            raise ValueError(f"principal name {principal!r}: letters, digits, '.', '_', '-' only")
        return self.folder / f"{principal}.secret"

    def get(self, principal: str) -> str:
        value = os.environ.get(env_name(principal))
        if value:
            return value
        path = self.path(principal)
        try:
            value = path.read_text("utf-8").strip()
        except FileNotFoundError:
            value = ""
        if not value:
            raise MissingSecret(
                f"no secret for principal {principal!r}: set {env_name(principal)} or create "
                f"{path} (mode 0600); `casebus kafka start` generates them for the local broker"
            )
        return value

    def ensure(self, principal: str) -> str:
        """The principal's secret, generated into its file if there is none (local broker)."""
        try:
            return self.get(principal)
        except MissingSecret:
            pass
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        value = secrets.token_urlsafe(24)  # [A-Za-z0-9_-]: safe inside JAAS and SCRAM syntax
        fd = os.open(self.path(principal), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value + "\n")
        return value
