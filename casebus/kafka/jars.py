"""Where Apache Kafka's jars come from: KAFKA_HOME, or Maven Central via a pom.

The poms in config/kafka/ name `org.apache.kafka:kafka_2.13` (the broker) and
`org.apache.kafka:connect-mirror` (MirrorMaker 2, the link between two regions), each with
the logging backend; Maven resolves the runtime dependencies and copies them into a
per-version user cache folder, so a second start downloads nothing.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from casebus.config import PROJECT_ROOT

log = logging.getLogger(__name__)

POM = PROJECT_ROOT / "config" / "kafka" / "pom.xml"
MIRROR_POM = PROJECT_ROOT / "config" / "kafka" / "mirror-pom.xml"


class BrokerSetupError(Exception):
    """The broker cannot be set up on this machine; the message says what is missing."""


def kafka_version(pom: Path = POM) -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text("utf-8"))
    if not match:
        raise BrokerSetupError(f"{pom}: no <kafka.version> property")
    return match.group(1)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "casebus"


def broker_classpath() -> tuple[str, str]:
    """The broker's (classpath, where it came from), fetching the jars on first use."""
    return _classpath("kafka_2.13-*.jar", POM, "kafka")


def mirror_classpath() -> tuple[str, str]:
    """MirrorMaker 2's (KAFKA_HOME's libs hold it too), fetched on first use."""
    return _classpath("connect-mirror-[0-9]*.jar", MIRROR_POM, "connect-mirror")


def _classpath(marker: str, pom: Path, name: str) -> tuple[str, str]:
    home = os.environ.get("KAFKA_HOME")
    if home:
        libs = Path(home) / "libs"
        if not any(libs.glob(marker)):
            raise BrokerSetupError(f"KAFKA_HOME={home}: no {marker} in {libs}")
        return f"{libs}/*", f"KAFKA_HOME ({libs})"
    libs = fetched_libs(pom, name)
    return f"{libs}/*", f"jar cache ({libs})"


def fetched_libs(pom: Path, name: str) -> Path:
    """The cache folder holding `pom`'s runtime dependencies (per name and Kafka version),
    fetched with Maven on first use."""
    libs = cache_root() / f"{name}-{kafka_version(pom)}" / "libs"
    if not (libs / ".complete").exists():
        _fetch_with_maven(libs, pom)
    return libs


def _fetch_with_maven(libs: Path, pom: Path = POM) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerSetupError(
            "neither KAFKA_HOME nor Maven (mvn) is available: install Maven "
            "(apt-get install maven) or point KAFKA_HOME at an Apache Kafka distribution"
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s jars from Maven Central into %s", pom.name, libs)
    # Copy into a temporary folder and rename, so an interrupted fetch never looks complete.
    tmp = Path(tempfile.mkdtemp(dir=libs.parent, prefix=".fetch-"))
    try:
        cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
        cmd += [f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise BrokerSetupError("mvn could not fetch the Kafka jars:\n" + "\n".join(tail))
        (tmp / ".complete").touch()
        if libs.exists():
            shutil.rmtree(libs)
        tmp.rename(libs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
