"""Scope resolution of relations: what each name in a query binds to (issue 11, finding 1)."""

from __future__ import annotations

import pytest

from civiclake.sql import Relation, SqlRejected, parse_query, resolve_relations

BYPASS = (
    'SELECT * FROM "data/refined/planning/applications/**/*.parquet" WHERE EXISTS '
    '(WITH "data/refined/planning/applications/**/*.parquet" AS (SELECT 1) SELECT 1)'
)


def kinds(sql: str) -> list[tuple[str, str]]:
    return [(r.kind, r.qualified if r.kind == "dataset" else r.name) for r in _resolve(sql)]


def _resolve(sql: str, *, strict: bool = True) -> list[Relation]:
    return resolve_relations(parse_query(sql), strict=strict)


def test_the_reported_bypass_is_refused() -> None:
    """A CTE in an EXISTS subquery does not make the outer quoted file path a CTE."""
    with pytest.raises(SqlRejected) as info:
        _resolve(BYPASS)
    assert info.value.code in ("unknown_table", "forbidden_table")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM duckdb_settings WHERE EXISTS (WITH duckdb_settings AS (SELECT 1) SELECT 1)",
        "SELECT * FROM duckdb_views, (WITH duckdb_views AS (SELECT 1) SELECT 1) s",
        "SELECT * FROM t UNION ALL (WITH t AS (SELECT 1) SELECT * FROM t)",
        "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",  # no forward reference
        "WITH a AS (SELECT * FROM a) SELECT * FROM a",  # not RECURSIVE: a is not itself
        "SELECT * FROM (WITH t AS (SELECT 1) SELECT 1) s, t",  # a subquery's CTE stays inside
        "SELECT (WITH t AS (SELECT 1) SELECT 1), * FROM t",
        "SELECT * FROM x.y, LATERAL (WITH q AS (SELECT 1) SELECT 1) l, q",
    ],
)
def test_a_cte_licenses_a_name_only_where_it_is_visible(sql: str) -> None:
    with pytest.raises(SqlRejected) as info:
        _resolve(sql)
    assert info.value.code == "unknown_table"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("WITH a AS (SELECT 1) SELECT * FROM a", [("cte", "a")]),
        ('WITH "A" AS (SELECT 1) SELECT * FROM a', [("cte", "a")]),
        (
            "WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b",
            [("cte", "a"), ("cte", "b")],
        ),
        (
            "WITH a AS (SELECT 1) SELECT * FROM (SELECT * FROM a) s WHERE EXISTS (SELECT 1 FROM a)",
            [("cte", "a"), ("cte", "a")],
        ),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
            "SELECT * FROM r",
            [("cte", "r"), ("cte", "r")],
        ),
        (
            "WITH tenants AS (SELECT 1) SELECT * FROM housing_trusted.tenants",
            [("dataset", "housing_trusted.tenants")],
        ),
        (
            "SELECT * FROM housing_trusted.tenants__history",
            [("dataset", "housing_trusted.tenants")],
        ),
        (
            "SELECT * FROM planning_refined.applications_as_of(DATE '2026-03-01')",
            [("dataset", "planning_refined.applications")],
        ),
        ("SELECT * FROM range(3)", [("generator", "generate_series")]),
    ],
)
def test_what_names_bind_to(sql: str, expected: list[tuple[str, str]]) -> None:
    assert sorted(kinds(sql)) == sorted(expected)


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT * FROM read_parquet('data/**/*.parquet')", "forbidden_function"),
        ("SELECT * FROM duckdb_settings()", "forbidden_function"),
        ("SELECT * FROM query_table('x')", "forbidden_function"),
        ("SELECT * FROM 'data/x.csv'", "unknown_table"),
        ('SELECT * FROM "data/x.csv"', "unknown_table"),
        ("SELECT * FROM memory.main.t", "forbidden_table"),
        ('WITH "data/x.parquet" AS (SELECT 1) SELECT * FROM "data/x.parquet"', "forbidden_table"),
    ],
)
def test_files_strings_and_table_functions_are_refused(sql: str, code: str) -> None:
    with pytest.raises(SqlRejected) as info:
        _resolve(sql)
    assert info.value.code == code


def test_jobs_resolve_by_scope_but_may_call_table_functions() -> None:
    """The platform's jobs: same scoping, table functions and bare names reported, not refused."""
    got = _resolve(
        "WITH rents AS (SELECT * FROM housing_raw.rents) "
        "SELECT * FROM rents, range(3), (WITH x AS (SELECT 1) SELECT 1) s, x",
        strict=False,
    )
    assert sorted((r.kind, r.name) for r in got) == [
        ("cte", "rents"),
        ("dataset", "rents"),
        ("generator", "generate_series"),
        ("unqualified", "x"),
    ]
