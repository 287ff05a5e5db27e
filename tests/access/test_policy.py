"""The access policy's decisions, and `civiclake query` enforcing them."""

from __future__ import annotations

import pytest

from civiclake import Project
from civiclake.access import AccessDenied, AccessPolicy, SqlRefused, check_sql
from civiclake.query import run_query


def rows(project: Project, sql: str, user: str | None) -> list[dict[str, object]]:
    return run_query(project, sql, user=user).read_all().to_pylist()


def test_departments_zones_unrestricted_and_admins(council: Project) -> None:
    policy = AccessPolicy.load(council)
    hana, eli, pat, ada = (policy.principal(n) for n in ("hana", "eli", "pat", "ada"))
    assert policy.can_read(hana, "housing_trusted.tenants")
    assert not policy.can_read(hana, "housing_raw.rent_lines")  # analysts: refined/trusted
    assert policy.can_read(eli, "housing_raw.rent_lines")
    assert not policy.can_read(hana, "planning_refined.applications")
    assert not policy.can_read(hana, "planning_refined.applications__history")
    assert policy.can_read(pat, "planning_refined.applications")
    for who in (hana, eli, pat, ada):
        assert policy.can_read(who, "unrestricted_trusted.wards")
    assert all(policy.can_read(ada, i.ref) for i in policy.datasets.values())
    assert "civiclake access grant hana --department planning" in policy.why_not(
        hana, "planning_refined.applications"
    )


def test_pii_is_masked_unless_granted(council: Project) -> None:
    policy = AccessPolicy.load(council)
    assert policy.masked_columns(policy.principal("hana"), "housing_trusted.tenants") == ["name"]
    assert policy.masked_columns(policy.principal("eli"), "housing_trusted.tenants") == []
    assert policy.masked_columns(policy.principal("ada"), "housing_trusted.tenants") == ["name"]
    assert policy.masked_columns(
        policy.principal("pat"), "planning_refined.applications__history"
    ) == ["applicant"]


def test_cli_query_as_an_analyst_masks_pii(council: Project) -> None:
    got = rows(council, "SELECT id, name FROM housing_trusted.tenants ORDER BY id", "hana")
    names = [r["name"] for r in got]
    assert names[2] is None  # NULL stays NULL
    assert all(isinstance(n, str) and len(n) == 16 and n != "Ann Lee" for n in names[:2])
    got = rows(council, "SELECT name FROM housing_trusted.tenants ORDER BY id", "eli")
    assert [r["name"] for r in got] == ["Ann Lee", "Bo Chan", None]


def test_masked_history_latest_and_as_of(council: Project) -> None:
    latest = rows(council, "SELECT * FROM planning_refined.applications ORDER BY id", "pat")
    assert [r["id"] for r in latest] == [1, 2]
    assert "Cy Dune" not in {r["applicant"] for r in latest}
    history = rows(council, "SELECT applicant FROM planning_refined.applications__history", "pat")
    assert len(history) == 4 and "Di Fox" not in {r["applicant"] for r in history}
    as_of = rows(
        council,
        "SELECT applicant FROM planning_refined.applications_as_of(DATE '2026-03-01')",
        "pat",
    )
    assert len(as_of) == 3 and "Ed Gray" not in {r["applicant"] for r in as_of}
    as_known = rows(
        council,
        "SELECT applicant FROM planning_refined.applications_as_known(TIMESTAMP '2999-01-01')",
        "pat",
    )
    assert len(as_known) == 2 and not {"Cy Dune", "Di Fox-Hart"} & {
        r["applicant"] for r in as_known
    }


def test_as_known_is_read_under_the_same_policy(council: Project) -> None:
    """x_as_known(t) is a door to x like x_as_of: the same refusal, the same masks."""
    for call in ("applications_as_known(TIMESTAMP '2999-01-01')", "applications_as_of(now())"):
        with pytest.raises(AccessDenied, match="hana has no role in planning"):
            rows(council, f"SELECT * FROM planning_refined.{call}", "hana")
    with pytest.raises(AccessDenied):
        rows(council, "SELECT * FROM planning_refined.applications_as_knownx(1)", "pat")


def test_cli_query_refuses_other_departments_and_unknown_users(council: Project) -> None:
    with pytest.raises(AccessDenied, match="hana has no role in planning"):
        rows(council, "SELECT * FROM planning_refined.applications", "hana")
    with pytest.raises(AccessDenied, match="hana is analyst in housing"):
        rows(council, "SELECT * FROM housing_raw.rent_lines", "hana")
    with pytest.raises(AccessDenied, match="not one of its users"):
        rows(council, "SELECT 1", "mallory")
    assert rows(council, "SELECT count(*) AS n FROM unrestricted_trusted.wards", "hana") == [
        {"n": 2}
    ]


def test_cli_queries_are_audited(council: Project) -> None:
    rows(council, "SELECT * FROM unrestricted_trusted.wards", "hana")
    line = council.store.query_audit("hana")[0]
    assert (line["door"], line["status"], line["rows"]) == ("cli", "ok", 2)
    assert "unrestricted_trusted.wards" in line["sql"]


def test_an_open_project_reads_everything_as_its_owner(project: Project) -> None:
    policy = AccessPolicy.load(project)
    assert not policy.enabled and policy.cli_principal().owner


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "forbidden_function"),
        ("SELECT 1; SELECT 2", "one_statement"),
        ("SELECT * FROM planning_refined.applications", "forbidden_table"),
        ("SELECT * FROM '/etc/passwd'", "unknown_table"),
    ],
)
def test_the_guard_names_the_rule(council: Project, sql: str, code: str) -> None:
    policy = AccessPolicy.load(council)
    with pytest.raises(SqlRefused) as info:
        check_sql(sql, policy, policy.principal("hana"))
    assert info.value.code == code
