"""The console's own settings: the `[console]` table (CASEBUS_CONSOLE__*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from casebus.config import PROJECT_ROOT, Section, Settings


class ConsoleSettings(Section):
    table = "console"

    host: str = "127.0.0.1"
    port: int = Field(8083, ge=1, le=65535)
    # A session ends this long after sign-in, whatever happens in between.
    session_max_age_seconds: int = Field(8 * 3600, ge=1)
    # Failed sign-ins allowed per user name, and per client address, within the window;
    # past either, every attempt is refused until the window has passed.
    max_failures_per_user: int = Field(5, ge=1)
    max_failures_per_address: int = Field(20, ge=1)
    throttle_window_seconds: float = Field(300, gt=0)
    # The users and their password hashes (never in config): empty, <var_dir>/console/users.toml.
    users_file: str = ""
    # Cookies only over HTTPS: on behind a TLS-terminating proxy, off on loopback.
    secure_cookies: bool = False
    # How long a replay dry-run or an audit started from a page may take.
    command_timeout_seconds: float = Field(600, gt=0)

    def state_dir(self, settings: Settings) -> Path:
        """Where the console keeps its own state: the users file, the session key, the last
        audit per agency and the log of admins' actions."""
        return settings.var_dir / "console"

    def users_path(self, settings: Settings) -> Path:
        if not self.users_file:
            return self.state_dir(settings) / "users.toml"
        given = Path(self.users_file)
        return given if given.is_absolute() else PROJECT_ROOT / given
