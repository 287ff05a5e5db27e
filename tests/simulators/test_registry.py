"""The shipped Confluent-compatible schema registry, through its REST API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from civiclake.ingest.streams.schema_registry import RegistryClient, UnknownSchemaError
from civiclake.simulators.housing.schemas import TENURE_V1, TENURE_V2
from civiclake.simulators.registry import SchemaRegistry

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


@pytest.fixture
def registry() -> Iterator[SchemaRegistry]:
    with SchemaRegistry().start() as reg:
        yield reg


def _post(url: str, schema: object) -> httpx.Response:
    return httpx.post(url, content=json.dumps({"schema": json.dumps(schema)}), headers=CT)


def test_register_lookup_and_versions(registry: SchemaRegistry) -> None:
    url = registry.url
    first = _post(f"{url}/subjects/tenure_api-value/versions", TENURE_V1)
    assert first.status_code == 200
    again = _post(f"{url}/subjects/tenure_api-value/versions", TENURE_V1)
    assert again.json() == first.json()  # registering the same schema finds it
    second = _post(f"{url}/subjects/tenure_api-value/versions", TENURE_V2).json()["id"]
    assert second != first.json()["id"]
    assert httpx.get(f"{url}/subjects").json() == ["tenure_api-value"]
    assert httpx.get(f"{url}/subjects/tenure_api-value/versions").json() == [1, 2]
    latest = httpx.get(f"{url}/subjects/tenure_api-value/versions/latest").json()
    assert (latest["version"], latest["id"]) == (2, second)
    assert json.loads(latest["schema"]) == TENURE_V2
    found = _post(f"{url}/subjects/tenure_api-value", TENURE_V1).json()
    assert (found["version"], found["id"]) == (1, first.json()["id"])
    by_id = httpx.get(f"{url}/schemas/ids/{second}").json()
    assert json.loads(by_id["schema"]) == TENURE_V2


def test_errors_have_confluent_shape(registry: SchemaRegistry) -> None:
    url = registry.url
    missing = httpx.get(f"{url}/schemas/ids/99")
    assert missing.status_code == 404 and missing.json()["error_code"] == 40403
    assert httpx.get(f"{url}/subjects/nope/versions").json()["error_code"] == 40401
    _post(f"{url}/subjects/s-value/versions", TENURE_V1)
    assert httpx.get(f"{url}/subjects/s-value/versions/7").json()["error_code"] == 40402


def test_backward_compatibility_is_checked(registry: SchemaRegistry) -> None:
    url = registry.url
    _post(f"{url}/subjects/t-value/versions", TENURE_V1)
    required = json.loads(json.dumps(TENURE_V1))
    required["fields"].append({"name": "Mandatory", "type": "string"})
    refused = _post(f"{url}/subjects/t-value/versions", required)
    assert refused.status_code == 409
    assert "Mandatory" in refused.json()["message"] and "default" in refused.json()["message"]
    retyped = json.loads(json.dumps(TENURE_V1))
    retyped["fields"][6]["type"] = "string"  # DateTime long → string
    assert _post(f"{url}/subjects/t-value/versions", retyped).status_code == 409
    assert _post(f"{url}/subjects/t-value/versions", TENURE_V2).status_code == 200


def test_client_caches_and_names_unknown_ids(registry: SchemaRegistry) -> None:
    client = RegistryClient(registry.url)
    schema_id = client.register("x-value", TENURE_V1)
    assert client.schema(schema_id)["name"].endswith("TenureEvent")
    assert client.schema(schema_id) is client.schema(schema_id)
    with pytest.raises(UnknownSchemaError, match="schema id 42"):
        client.schema(42)
