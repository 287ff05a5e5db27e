"""A client of a Confluent-compatible schema registry (the REST API's read and register calls).

Consumers ask for each schema id once (:meth:`RegistryClient.schema`, cached
for the life of the client: a registered id never changes); producers
register a schema under ``{topic}-value`` (:meth:`RegistryClient.register`).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from civiclake.ingest.exceptions import IngestError, SourceUnavailableError

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryError(SourceUnavailableError):
    """The schema registry refused a request or could not be reached."""


class UnknownSchemaError(IngestError):
    """A message names a schema id the registry does not hold (the message is rejected)."""


class RegistryClient:
    """Parsed Avro schemas by id, fetched once from the registry at ``url``."""

    def __init__(self, url: str, *, timeout_seconds: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout_seconds
        self._parsed: dict[int, Any] = {}
        self._raw: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        try:
            reply = httpx.request(
                method,
                self.url + path,
                content=None if body is None else json.dumps(body),
                headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise SchemaRegistryError(
                f"schema registry {self.url} could not be reached ({exc}); check "
                "`schema_registry` in the source's settings and that the registry is running"
            ) from exc
        if reply.status_code == 404:
            return None
        if reply.status_code >= 400:
            raise SchemaRegistryError(
                f"schema registry {self.url}{path} answered {reply.status_code}: {reply.text}"
            )
        return reply.json()

    def register(self, subject: str, schema: dict[str, Any] | str) -> int:
        """Register a schema under ``subject`` (or find it); its id."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        answer = self._request("POST", f"/subjects/{subject}/versions", {"schema": text})
        if answer is None:
            raise SchemaRegistryError(f"schema registry {self.url} has no subjects endpoint")
        return int(answer["id"])

    def schema_json(self, schema_id: int) -> dict[str, Any]:
        """The schema with ``schema_id`` as JSON (raises :class:`UnknownSchemaError`)."""
        with self._lock:
            if schema_id in self._raw:
                return self._raw[schema_id]
        answer = self._request("GET", f"/schemas/ids/{schema_id}")
        if answer is None:
            raise UnknownSchemaError(f"schema id {schema_id} is not in the registry {self.url}")
        parsed = json.loads(answer["schema"])
        with self._lock:
            self._raw[schema_id] = parsed
        return dict(parsed)

    def latest_json(self, subject: str) -> dict[str, Any]:
        """The newest schema registered under ``subject``, as JSON."""
        answer = self._request("GET", f"/subjects/{subject}/versions/latest")
        if answer is None:
            raise UnknownSchemaError(
                f"subject {subject!r} is not in the registry {self.url}; register the topic's "
                "schema there, or set `value_schema` to an .avsc file"
            )
        return dict(json.loads(answer["schema"]))

    def schema(self, schema_id: int) -> Any:
        """The schema with ``schema_id``, parsed by fastavro (cached)."""
        with self._lock:
            if schema_id in self._parsed:
                return self._parsed[schema_id]
        from fastavro import parse_schema

        parsed = parse_schema(self.schema_json(schema_id))
        with self._lock:
            self._parsed[schema_id] = parsed
        return parsed


__all__ = ["RegistryClient", "SchemaRegistryError", "UnknownSchemaError"]
