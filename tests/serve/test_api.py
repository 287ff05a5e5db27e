"""The SQL API in-process: tokens, the policy, masking, limits, the error shape, the audit."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from civiclake import Project
from civiclake.access.tokens import issue_token

pytest.importorskip("fastapi")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def api(council: Project) -> Iterator[tuple[Any, dict[str, str]]]:
    """A TestClient on the council project, and a bearer header per user."""
    from fastapi.testclient import TestClient

    from civiclake.serve import create_app

    with (council.dir / "civiclake.yaml").open("a") as f:
        f.write("serve:\n  timeout_seconds: 2\n  max_rows: 1000\n  memory_limit: 256MB\n")
    project = Project.load(council.dir)
    headers = {
        u: {"Authorization": f"Bearer {issue_token(project.store, u)[1]}"}
        for u in ("hana", "eli", "pat", "ada")
    }
    with TestClient(create_app(project)) as client:
        yield client, headers
    project.store.close()


def sql(api: tuple[Any, dict[str, str]], user: str, text: str) -> Any:
    client, headers = api
    return client.post("/api/sql", json={"sql": text}, headers=headers[user])


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message"}
    assert (body["error"]["status"], body["error"]["code"]) == (status, code)
    assert body["error"]["message"]
    return dict(body["error"])


def test_an_analyst_reads_their_department_and_unrestricted_with_pii_masked(api: Any) -> None:
    ok = sql(api, "hana", "SELECT id, name FROM housing_trusted.tenants ORDER BY id")
    assert ok.status_code == 200
    body = ok.json()
    assert [c["name"] for c in body["columns"]] == ["id", "name"]
    assert body["row_count"] == 3 and body["truncated"] is False
    assert "Ann Lee" not in ok.text and body["rows"][2][1] is None
    assert sql(api, "hana", "SELECT * FROM unrestricted_trusted.wards").json()["row_count"] == 2
    error = assert_error(
        sql(api, "hana", "SELECT * FROM planning_refined.applications"), 403, "forbidden_table"
    )
    assert "hana has no role in planning" in error["message"]


def test_an_engineer_granted_pii_sees_it(api: Any) -> None:
    ok = sql(api, "eli", "SELECT name FROM housing_trusted.tenants ORDER BY id")
    assert ok.json()["rows"] == [["Ann Lee"], ["Bo Chan"], [None]]
    history = sql(api, "pat", "SELECT applicant FROM planning_refined.applications__history")
    assert history.json()["row_count"] == 4 and "Di Fox" not in history.text


def test_tokens_are_required_and_revocable(api: Any, council: Project) -> None:
    client, _ = api
    assert_error(client.post("/api/sql", json={"sql": "SELECT 1"}), 401, "unauthorized")
    bad = {"Authorization": "Bearer clk_not-a-token"}
    assert_error(
        client.post("/api/sql", json={"sql": "SELECT 1"}, headers=bad), 401, "unauthorized"
    )
    council.store.revoke_tokens("pat")
    assert_error(sql(api, "pat", "SELECT 1"), 401, "unauthorized")
    anonymous = council.store.query_audit("-")
    assert [a["status"] for a in anonymous] == ["unauthorized"] * 3
    assert all("clk_" not in str(a) for a in anonymous)


def test_one_error_shape_for_everything(api: Any) -> None:
    client, headers = api
    assert_error(
        client.post("/api/sql", json={"nosql": 1}, headers=headers["hana"]), 422, "bad_request"
    )
    assert_error(client.get("/api/nowhere"), 404, "not_found")
    assert_error(client.get("/api/sql"), 405, "method_not_allowed")
    assert_error(
        sql(api, "hana", "SELECT nope FROM unrestricted_trusted.wards"), 400, "query_failed"
    )


def test_rows_are_capped_and_flagged(api: Any) -> None:
    body = sql(api, "hana", "SELECT * FROM range(100000)").json()
    assert body["row_count"] == 1000 and body["truncated"] is True
    client, headers = api
    few = client.post(
        "/api/sql", json={"sql": "SELECT * FROM range(10)", "max_rows": 3}, headers=headers["hana"]
    )
    assert few.json()["row_count"] == 3


def test_every_query_is_audited(api: Any, council: Project) -> None:
    sql(api, "hana", "SELECT * FROM unrestricted_trusted.wards")
    sql(api, "hana", "SELECT * FROM planning_refined.applications")
    lines = council.store.query_audit("hana")
    assert [(a["door"], a["status"], a["rows"]) for a in lines[:2]] == [
        ("api", "refused", 0),
        ("api", "ok", 2),
    ]
    assert all(a["duration_ms"] >= 0 and a["at"] is not None for a in lines)


def test_datasets_lists_what_the_caller_may_read(api: Any) -> None:
    client, headers = api
    body = client.get("/api/datasets", headers=headers["hana"]).json()
    names = {d["dataset"]: d["masked"] for d in body["datasets"]}
    assert names == {"housing_trusted.tenants": ["name"], "unrestricted_trusted.wards": []}


def test_concurrent_callers(api: Any) -> None:
    def one(i: int) -> int:
        user = ("hana", "eli", "pat", "ada")[i % 4]
        return int(sql(api, user, "SELECT count(*) FROM unrestricted_trusted.wards").status_code)

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(40))) == {200}


def test_duckdb_is_locked_even_behind_the_guard(council: Project) -> None:
    """The second wall: the access set's database refuses files and settings by itself."""
    import duckdb

    from civiclake.access import AccessPolicy
    from civiclake.serve.service import QueryService

    service = QueryService(council)
    policy, versions = service.policy()
    database = service._database(policy, policy.principal("hana"), versions)
    con = database.con.cursor()
    for statement in (
        "SELECT * FROM read_csv('/etc/passwd')",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "ATTACH '/tmp/civiclake-evil.db' AS evil",
        "SELECT * FROM planning_refined.applications",
    ):
        with pytest.raises(duckdb.Error):
            con.sql(statement).fetchall()
    assert isinstance(policy, AccessPolicy)
    service.close()
