"""SCRAM credentials for every principal config implies, created through the admin API."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import UserScramCredentialUpsertion

from casebus.config import Settings
from casebus.security.principals import all_principals
from casebus.security.secrets import SecretStore


class CredentialError(Exception):
    pass


def ensure_users(admin: KafkaAdminClient, settings: Settings, *, generate: bool) -> list[str]:
    """Upsert each principal's SCRAM credential from its secret; return the names.

    generate: create missing secrets (the local broker); otherwise a missing one is an error.
    The super user is skipped: its credential is the one the broker was formatted with.
    """
    store = SecretStore(settings.secrets_dir)
    mechanism = settings.kafka.security.mechanism
    upserts = []
    for principal in all_principals(settings):
        if principal.role == "admin":
            continue
        secret = store.ensure(principal.name) if generate else store.get(principal.name)
        upserts.append(UserScramCredentialUpsertion(principal.name, mechanism, secret))
    results = admin.alter_user_scram_credentials(upserts)
    failed = {user: error for user, error in results.items() if error}
    if failed:
        raise CredentialError(f"creating SCRAM credentials failed: {failed}")
    return [u.user for u in upserts]
