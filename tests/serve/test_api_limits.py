"""The SQL API's bounds and small doors (issue 11, findings 3 and 4).

A result is capped in bytes while it streams, not only in rows; an unauthenticated
caller's body is never read; the OpenAPI document answers; errors never show the
server's paths; ``civiclake query`` writes nested columns to CSV.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from civiclake import Project
from civiclake.access.tokens import issue_token

pytest.importorskip("fastapi")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def api(council: Project) -> Iterator[tuple[Any, dict[str, str], Project]]:
    from fastapi.testclient import TestClient

    from civiclake.serve import create_app

    with (council.dir / "civiclake.yaml").open("a") as f:
        f.write("serve:\n  timeout_seconds: 5\n  max_rows: 1000000\n  max_result_mb: 2\n")
    project = Project.load(council.dir)
    headers = {"Authorization": f"Bearer {issue_token(project.store, 'hana')[1]}"}
    with TestClient(create_app(project)) as client:
        yield client, headers, project
    project.store.close()


def test_a_result_is_capped_in_bytes_while_it_streams(api: Any) -> None:
    """150 MB of rows would be asked for; about 2 MB comes back, flagged truncated."""
    import psutil

    client, headers, _ = api
    before = psutil.Process().memory_info().rss
    text = "SELECT i, repeat('x', 1000) AS pad FROM range(150000) t(i)"
    response = client.post("/api/sql", json={"sql": text}, headers=headers)
    grown = psutil.Process().memory_info().rss - before
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["truncated"] is True
    assert 0 < body["row_count"] < 150_000
    assert body["row_count"] * 1000 <= 2 * 1024 * 1024 * 1.1
    assert len(response.content) < 4 * 1024 * 1024
    assert grown < 100 * 1024 * 1024, f"the server grew {grown / 2**20:.0f} MB"


def test_a_small_result_is_not_flagged(api: Any) -> None:
    client, headers, _ = api
    response = client.post("/api/sql", json={"sql": "SELECT * FROM range(10)"}, headers=headers)
    assert response.json()["truncated"] is False and response.json()["row_count"] == 10


def test_the_token_is_checked_before_the_body_is_read(api: Any) -> None:
    client, _, project = api
    secret_sql = "SELECT 'not-to-be-audited' AS x"
    big = json.dumps({"sql": secret_sql + " " * 5_000_000})
    response = client.post("/api/sql", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    line = project.store.query_audit("-")[0]
    assert "not-to-be-audited" not in line["sql"] and line["status"] == "unauthorized"


def test_an_oversized_body_is_refused_cleanly(api: Any) -> None:
    client, headers, _ = api
    body = json.dumps({"sql": "SELECT 1 " + "-" * 200_000})
    response = client.post(
        "/api/sql", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("body", ["not json", "[]", '{"sql": ""}', '{"sql": 3}', ""])
def test_a_malformed_body_is_a_clean_422(api: Any, body: str) -> None:
    client, headers, _ = api
    response = client.post(
        "/api/sql", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "bad_request"


def test_the_openapi_document_answers(api: Any) -> None:
    client, _, _ = api
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert "/api/sql" in response.json()["paths"]


def test_errors_show_no_server_paths(api: Any) -> None:
    from civiclake.serve.errors import error_body

    client, headers, project = api
    message = error_body(
        "query_failed",
        f"IO Error: No files found that match {project.layout.root}/x and /home/council/.env",
        scrub=(str(project.layout.root),),
    )["error"]["message"]
    assert "/home/council" not in message and str(project.layout.root) not in message
    assert "<storage>" in message and "<path>" in message
    response = client.post(
        "/api/sql", json={"sql": "SELECT * FROM housing_trusted.nope"}, headers=headers
    )
    assert str(Path.cwd()) not in response.text and str(project.dir) not in response.text


def test_csv_output_of_lists_and_structs(council: Project, tmp_path: Path) -> None:
    from civiclake.query import run_query, write_result

    reader = run_query(
        council,
        "SELECT 1 AS id, [1, 2] AS xs, {'a': 'b'} AS s, NULL::INTEGER[] AS empty",
        user="hana",
    )
    out = tmp_path / "out.csv"
    assert write_result(reader, "csv", out) == 1
    lines = out.read_text().splitlines()
    assert lines[0] == '"id","xs","s","empty"'
    assert lines[1] == '1,"[1, 2]","{""a"": ""b""}",'
