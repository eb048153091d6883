"""The registry's REST API: the Confluent status and error codes clients rely on."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from casebus.contracts.schemas import schema_for_topic
from casebus.registry import RegistryClient, RegistryError
from tests.fixtures.registry import admin_auth, admin_registry

CT = "application/vnd.schemaregistry.v1+json"


def subject() -> str:
    return f"api-{uuid.uuid4().hex[:8]}-value"


def record(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


V1 = record("R", {"name": "a", "type": "string"})
V2 = record(
    "R", {"name": "a", "type": "string"}, {"name": "b", "type": ["null", "int"], "default": None}
)
BREAKING = record("R", {"name": "a", "type": "string"}, {"name": "c", "type": "int"})


def call(
    url: str,
    method: str,
    path: str,
    body: object = None,
    auth: tuple[str, str] | None = None,
) -> requests.Response:
    """A raw request, as the super user unless `auth` names someone else."""
    data = None if body is None else json.dumps(body)
    return requests.request(
        method,
        url + path,
        data=data,
        headers={"Content-Type": CT},
        auth=auth or admin_auth(),
        timeout=10,
    )


def error_code(response: requests.Response) -> int:
    assert response.headers["content-type"].startswith(CT)
    body = response.json()
    assert set(body) == {"error_code", "message"}
    return int(body["error_code"])


def test_register_returns_the_existing_id(registry_client: RegistryClient) -> None:
    s = subject()
    first = registry_client.register(s, V1)
    again = admin_registry(registry_client.url).register(s, json.dumps(V1, indent=4))
    assert first == again
    assert registry_client.versions(s) == [1]


def test_same_schema_under_two_subjects_shares_its_id(registry_client: RegistryClient) -> None:
    assert registry_client.register(subject(), V1) == registry_client.register(subject(), V1)


def test_versions_latest_and_lookup(registry_url: str, registry_client: RegistryClient) -> None:
    s = subject()
    id1 = registry_client.register(s, V1)
    id2 = registry_client.register(s, V2)
    assert registry_client.versions(s) == [1, 2]
    latest = registry_client.latest(s)
    assert (latest.version, latest.schema_id) == (2, id2)
    assert registry_client.version(s, 1).schema_id == id1
    assert json.loads(call(registry_url, "GET", f"/subjects/{s}/versions/1/schema").text) == V1
    assert json.loads(call(registry_url, "GET", f"/schemas/ids/{id2}/schema").text) == V2
    assert admin_registry(registry_url).lookup(s, V2) == id2
    assert s in registry_client.subjects()


def test_incompatible_schema_gets_409_and_is_not_stored(
    registry_url: str, registry_client: RegistryClient
) -> None:
    s = subject()
    registry_client.register(s, V1)
    response = call(
        registry_url, "POST", f"/subjects/{s}/versions", {"schema": json.dumps(BREAKING)}
    )
    assert response.status_code == 409 and error_code(response) == 409
    assert registry_client.versions(s) == [1]
    assert admin_registry(registry_url).lookup(s, BREAKING) is None
    result = registry_client.test_compatibility(s, BREAKING)
    assert not result.is_compatible and result.messages
    assert registry_client.test_compatibility(s, V2).is_compatible


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/subjects/nope-{u}/versions", None, 404, 40401),
        ("GET", "/subjects/{s}/versions/7", None, 404, 40402),
        ("GET", "/schemas/ids/999999", None, 404, 40403),
        ("POST", "/subjects/{s}", {"schema": json.dumps(record("Other"))}, 404, 40403),
        ("POST", "/subjects/nope-{u}", {"schema": json.dumps(V1)}, 404, 40401),
        ("POST", "/subjects/{s}/versions", {"schema": "{not json"}, 422, 42201),
        ("POST", "/subjects/{s}/versions", {"schema": '{"type": "nonsense"}'}, 422, 42201),
        ("GET", "/subjects/{s}/versions/zero", None, 422, 42202),
        ("PUT", "/config/{s}", {"compatibility": "SOMETIMES"}, 422, 42203),
        ("PUT", "/config", {"compatibility": "SOMETIMES"}, 422, 42203),
    ],
)
def test_error_codes(
    registry_url: str,
    registry_client: RegistryClient,
    method: str,
    path: str,
    body: object,
    status: int,
    code: int,
) -> None:
    s = subject()
    registry_client.register(s, V1)
    response = call(registry_url, method, path.format(s=s, u=uuid.uuid4().hex[:6]), body)
    assert response.status_code == status
    assert error_code(response) == code


def test_config_global_and_per_subject(registry_client: RegistryClient) -> None:
    s = subject()
    assert registry_client.get_config() == "BACKWARD_TRANSITIVE"
    registry_client.register(s, V1)
    with pytest.raises(RegistryError) as caught:
        registry_client.get_config(s)
    assert caught.value.error_code == 40408
    assert registry_client.set_config("NONE", s) == "NONE"
    assert registry_client.get_config(s) == "NONE"
    assert registry_client.register(s, BREAKING) > 0  # allowed under NONE
    assert registry_client.get_config() == "BACKWARD_TRANSITIVE"


def test_soft_then_hard_delete(registry_url: str, registry_client: RegistryClient) -> None:
    s = subject()
    registry_client.register(s, V1)
    schema_id = registry_client.register(s, V2)
    # Hard delete before soft delete is refused, as Confluent does.
    response = call(registry_url, "DELETE", f"/subjects/{s}?permanent=true")
    assert response.status_code == 404 and error_code(response) == 40405
    assert call(registry_url, "DELETE", f"/subjects/{s}/versions/latest").json() == 2
    assert registry_client.versions(s) == [1]
    assert call(registry_url, "GET", f"/subjects/{s}/versions?deleted=true").json() == [1, 2]
    assert registry_client.delete_subject(s) == [1]
    assert s not in registry_client.subjects()
    assert s in call(registry_url, "GET", "/subjects?deleted=true").json()
    assert registry_client.delete_subject(s, permanent=True) == [1, 2]
    assert s not in call(registry_url, "GET", "/subjects?deleted=true").json()
    # Ids are never reused: the schema keeps its id.
    assert json.loads(call(registry_url, "GET", f"/schemas/ids/{schema_id}").json()["schema"]) == V2


def test_topic_schemas_register(registry_client: RegistryClient) -> None:
    ids = {
        t: registry_client.register(f"{t}-{uuid.uuid4().hex[:6]}", schema_for_topic(t))
        for t in ("casebus.penalty", "casebus.lead", "casebus.action")
    }
    assert len(set(ids.values())) == 3
