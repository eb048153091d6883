"""Files for a JVM of Kafka's own Connect runtime: MirrorMaker 2 (services/mirror) and the
JDBC sink bench/connect_sink.py measures the sync against are both configured by .properties
files and log through log4j2."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def render_properties(props: dict[str, str], *, header: str = "", hide: Iterable[str] = ()) -> str:
    """As a .properties file: `header` as a comment, values containing a secret in `hide`
    masked, backslashes escaped."""
    lines = [f"# {header}"] if header else []
    for key, value in props.items():
        for secret in hide:
            if secret:
                value = value.replace(secret, "********")
        lines.append(f"{key} = {value.replace(chr(92), chr(92) * 2)}")
    return "\n".join(lines) + "\n"


def write_properties(path: Path, props: dict[str, str], *, header: str = "") -> None:
    """Written readable by the owner only: Connect's files hold the principals' secrets."""
    path.touch(mode=0o600)
    path.write_text(render_properties(props, header=header), "utf-8")


def write_log4j(folder: Path) -> Path:
    """log4j2 setup for the JVM's console (its log file, the caller's redirect)."""
    path = folder / "log4j2.properties"
    path.write_text(
        "rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=OUT\n"
        "appender.out.type=Console\nappender.out.name=OUT\n"
        "appender.out.layout.type=PatternLayout\n"
        "appender.out.layout.pattern=[%d] %p %m (%c)%n\n"
        # Connect logs every task's full configuration at INFO: secrets are masked, but
        # it is thousands of lines a restart.
        "logger.config.name=org.apache.kafka.common.config.AbstractConfig\n"
        "logger.config.level=WARN\n"
    )
    return path
