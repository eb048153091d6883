"""`casebus acl apply` on a broker of the test's own: idempotent, and it removes what config
does not grant (an ACL added by hand included), reporting each change."""

from __future__ import annotations

import os
import subprocess
import sys

from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ResourcePattern,
    ResourceType,
)

from casebus.kafka.broker import LocalKafka
from casebus.security import acls
from tests.fixtures.kafka import admin_client, base_settings


def casebus(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CASEBUS_KAFKA_BOOTSTRAP": bootstrap}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def by_hand(principal: str, topic: str, permission: ACLPermissionType) -> ACL:
    return ACL(
        principal=f"User:{principal}",
        host="*",
        operation=ACLOperation.READ,
        permission_type=permission,
        resource_pattern=ResourcePattern(ResourceType.TOPIC, topic),
    )


def test_apply_is_idempotent_and_removes_what_config_does_not_grant(
    private_broker: LocalKafka,
) -> None:
    bootstrap = private_broker.bootstrap
    settings = base_settings(bootstrap)
    first = casebus(bootstrap, "acl", "apply")
    assert first.returncode == 0, first.stderr
    second = casebus(bootstrap, "acl", "apply")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "ACLs match config"

    admin = admin_client(bootstrap)
    try:
        added = admin.create_acls(
            [
                by_hand("mallory", "casebus.penalty", ACLPermissionType.ALLOW),
                by_hand("platform.jd", "casebus.lead", ACLPermissionType.ALLOW),
                by_hand("sync.510500-CAC", "casebus.lead", ACLPermissionType.DENY),
            ]
        )
        assert not added["failed"]
        dry = casebus(bootstrap, "acl", "apply", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would change: 0 added, 3 removed" in dry.stdout
        assert len(acls.current(admin).grants) == len(acls.plan(settings)) + 2  # untouched

        third = casebus(bootstrap, "acl", "apply")
        assert third.returncode == 0, third.stderr
        lines = third.stdout.splitlines()
        assert "- User:mallory read topic casebus.penalty" in lines
        assert "- User:platform.jd read topic casebus.lead" in lines
        assert "- User:sync.510500-CAC deny read topic casebus.lead from *" in lines
        assert "changed: 0 added, 3 removed" in lines
        held = acls.current(admin)
        assert held.grants == acls.plan(settings) and not held.foreign
    finally:
        admin.close()
    show = casebus(bootstrap, "acl", "show")
    assert show.returncode == 0, show.stderr
    assert "User:platform.jd" in show.stdout and "mallory" not in show.stdout
