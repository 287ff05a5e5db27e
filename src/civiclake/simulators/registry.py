"""A small Confluent-compatible schema registry, served over HTTP.

It ships for the demo and the tests, because no schema registry server can be
installed on a council laptop or a CI box: **in production point the
``kafka`` source at your own registry** (Confluent Schema Registry, Karapace,
Apicurio in its Confluent mode, Redpanda's). Only the subset of the REST API
that producers and consumers use is served, with the same JSON shapes:

* ``POST /subjects/{subject}/versions`` ``{"schema": "<avro json>"}`` — register
  (or find) a schema; answers ``{"id": N}``. A schema that is not BACKWARD
  compatible with the subject's latest version is refused with 409.
* ``POST /subjects/{subject}`` — look a schema up under a subject: ``{"subject",
  "id", "version", "schema"}``, or 404 (error code 40403).
* ``GET /schemas/ids/{id}`` — ``{"schema": "..."}``.
* ``GET /subjects``, ``GET /subjects/{subject}/versions``,
  ``GET /subjects/{subject}/versions/{version|latest}``.

Errors are ``{"error_code": N, "message": "..."}`` as in Confluent's API.

Compatibility is BACKWARD as Confluent defines it (a consumer on the new schema
can read data written with the old one), checked for what event schemas
actually do: a field may be added only with a default (an optional field,
``["null", ...]`` with ``"default": null``); a field may be removed; a field's
type may not change. Schemas are kept in memory: restart the registry and
producers register again (their ids are then re-issued in order).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from civiclake.simulators import SimulatorError

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes


def _json(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload).encode())


def _error(status: int, code: int, message: str) -> _Reply:
    """Confluent's one error shape."""
    return _json(status, {"error_code": code, "message": message})


def canonical(schema: str) -> str:
    """A schema's text with whitespace and key order normalised, to recognise a re-register."""
    return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))


def incompatibilities(new: Any, old: Any, path: str = "") -> list[str]:
    """Why a reader on ``new`` could not read data written with ``old`` (empty: compatible)."""
    if isinstance(new, dict) and new.get("type") == "record":
        if not (isinstance(old, dict) and old.get("type") == "record"):
            return [f"{path or 'the schema'}: was not a record"]
        problems = []
        old_fields = {f["name"]: f for f in old.get("fields", [])}
        for field in new.get("fields", []):
            where = f"{path}.{field['name']}" if path else field["name"]
            if field["name"] in old_fields:
                before = old_fields[field["name"]]["type"]
                problems += incompatibilities(field["type"], before, where)
            elif "default" not in field:
                problems.append(
                    f"{where}: a new field needs a default (make it optional: "
                    '["null", ...] with "default": null)'
                )
        return problems
    if isinstance(new, dict) and new.get("type") == "array":
        if not (isinstance(old, dict) and old.get("type") == "array"):
            return [f"{path}: was not an array"]
        return incompatibilities(new["items"], old["items"], path + "[]")
    if isinstance(new, list):  # a union reads any branch it holds
        olds = old if isinstance(old, list) else [old]
        problems = []
        for branch in olds:
            if all(incompatibilities(candidate, branch, path) for candidate in new):
                problems.append(f"{path}: the union cannot read {_type_name(branch)}")
        return problems
    if isinstance(old, list):
        return [f"{path}: was a union ({', '.join(_type_name(b) for b in old)})"]
    if _type_name(new) != _type_name(old):
        promotions = {("long", "int"), ("double", "int"), ("double", "long"), ("double", "float")}
        if (_type_name(new), _type_name(old)) not in promotions:
            return [f"{path}: type changed from {_type_name(old)} to {_type_name(new)}"]
    return []


def _type_name(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))
    return str(schema)


class SchemaRegistry:
    """A Confluent-compatible schema registry on a background thread (for demos and tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schemas: list[str] = []  # id - 1 → schema text as registered
        self._by_text: dict[str, int] = {}  # canonical text → id
        self._subjects: dict[str, list[int]] = {}  # subject → ids, version - 1 → id
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Listen on ``host:port`` (0: any free port) in a background thread."""
        if self._server is not None:
            raise SimulatorError(f"the schema registry is already serving at {self.url}")
        self._server = _Server((host, port), _Handler)
        self._server.registry = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="schema-registry",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise SimulatorError("the schema registry is not serving: call .start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the registry ------------------------------------------------------------------
    def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` under ``subject`` (idempotent); its id."""
        parsed = json.loads(schema)
        text = canonical(schema)
        with self._lock:
            ids = self._subjects.setdefault(subject, [])
            known = self._by_text.get(text)
            if known is not None and known in ids:
                return known
            if ids:
                latest = json.loads(self._schemas[ids[-1] - 1])
                problems = incompatibilities(parsed, latest)
                if problems:
                    raise IncompatibleSchemaError(
                        f"schema for subject {subject!r} is not BACKWARD compatible with "
                        f"version {len(ids)}: " + "; ".join(problems)
                    )
            if known is None:
                self._schemas.append(schema)
                known = len(self._schemas)
                self._by_text[text] = known
            ids.append(known)
            return known

    def schema(self, schema_id: int) -> str | None:
        with self._lock:
            return self._schemas[schema_id - 1] if 0 < schema_id <= len(self._schemas) else None

    def _handle(self, method: str, target: str, body: bytes) -> _Reply:
        parts = [unquote(p) for p in urlsplit(target).path.strip("/").split("/") if p]
        try:
            if method == "GET" and parts == ["subjects"]:
                with self._lock:
                    return _json(200, sorted(self._subjects))
            if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
                text = self.schema(int(parts[2])) if parts[2].isdigit() else None
                if text is None:
                    return _error(404, 40403, f"Schema {parts[2]} not found")
                return _json(200, {"schema": text})
            if parts[:1] == ["subjects"] and len(parts) >= 2:
                return self._subject(method, parts[1], parts[2:], body)
        except (ValueError, KeyError, TypeError) as exc:
            return _error(422, 42201, f"Invalid request: {exc}")
        return _error(404, 404, f"no such endpoint: {method} {target}")

    def _subject(self, method: str, subject: str, rest: list[str], body: bytes) -> _Reply:
        if method == "POST":
            schema = json.loads(body or b"{}").get("schema")
            if not isinstance(schema, str):
                return _error(422, 42201, 'send {"schema": "<the Avro schema as a string>"}')
            if rest == ["versions"]:
                try:
                    return _json(200, {"id": self.register(subject, schema)})
                except IncompatibleSchemaError as exc:
                    return _error(409, 409, str(exc))
            if not rest:
                return self._lookup(subject, schema)
        with self._lock:
            ids = list(self._subjects.get(subject, []))
        if not ids:
            return _error(404, 40401, f"Subject '{subject}' not found.")
        if method == "GET" and rest == ["versions"]:
            return _json(200, list(range(1, len(ids) + 1)))
        if method == "GET" and len(rest) == 2 and rest[0] == "versions":
            version = len(ids) if rest[1] == "latest" else int(rest[1])
            if not 0 < version <= len(ids):
                return _error(404, 40402, f"Version {rest[1]} not found.")
            schema_id = ids[version - 1]
            return _json(
                200,
                {
                    "subject": subject,
                    "version": version,
                    "id": schema_id,
                    "schema": self.schema(schema_id),
                },
            )
        return _error(404, 404, f"no such endpoint under subject {subject!r}")

    def _lookup(self, subject: str, schema: str) -> _Reply:
        with self._lock:
            ids = self._subjects.get(subject, [])
            found = self._by_text.get(canonical(schema))
        if not ids:
            return _error(404, 40401, f"Subject '{subject}' not found.")
        if found is None or found not in ids:
            return _error(404, 40403, "Schema not found")
        return _json(
            200,
            {
                "subject": subject,
                "id": found,
                "version": ids.index(found) + 1,
                "schema": self.schema(found),
            },
        )


class IncompatibleSchemaError(SimulatorError):
    """A new schema would break consumers of the subject's previous version."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: SchemaRegistry


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.registry._handle(method, self.path, body)
        self.send_response(reply.status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: every consumer asks for every schema id once."""


__all__ = ["IncompatibleSchemaError", "SchemaRegistry", "canonical", "incompatibilities"]
