"""`casebus schemas register` against the test registry."""

from __future__ import annotations

import subprocess

from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic, subject_for_topic
from tests.fixtures.registry import CASEBUS, admin_registry


def test_schemas_register_prints_subject_and_id(registry_url: str) -> None:
    done = subprocess.run(
        [str(CASEBUS), "schemas", "register", "--url", registry_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    printed = dict(line.split(" -> ") for line in done.stdout.splitlines())
    client = admin_registry(registry_url)
    for topic in TOPIC_SCHEMAS:
        subject = subject_for_topic(topic)
        assert int(printed[subject]) == client.lookup(subject, schema_for_topic(topic))
