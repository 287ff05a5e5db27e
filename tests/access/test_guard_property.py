"""The guard against an independent oracle, over queries generated from a grammar (issue 11).

The grammar builds queries from joins, CTEs (nested, and shadowing dataset and
catalog names), subqueries in FROM, WHERE and SELECT, set operations, LATERAL,
quoted and unquoted names, file-path-looking identifiers and table functions.
While it builds a query it records, by SQL's own scoping rules, what each
relation reads — that record is the oracle, written without sqlglot's scopes:

    allowed  ⇔  every relation read is a dataset the caller may read
                (and no CTE is given a path-like name, no forbidden function is called)

An allowed query is then run on the caller's restricted session: DuckDB, with
``allowed_directories`` narrowed to the readable datasets' folders, would fail it
if it opened any other file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civiclake import Project
from civiclake.access import AccessPolicy, SqlRefused, check_sql
from civiclake.access.session import open_session
from civiclake.engines.exceptions import EngineError

READABLE = ["housing_trusted.tenants", "housing_refined.rents", "unrestricted_trusted.wards"]
UNREADABLE = ["planning_refined.applications", "housing_raw.rent_lines"]
PATHS = [
    '"data/refined/planning/applications/**/*.parquet"',
    '"data/raw/housing/rent_lines/*.parquet"',
    "'data/landing/housing/x.csv'",
    '"/etc/passwd"',
]
CATALOG_NAMES = ["duckdb_settings", "duckdb_views", "tenants", "applications"]
CTE_NAMES = ["a", "b", "c", "tenants", "applications", "duckdb_settings", "Mixed"]
TABLE_FUNCTIONS = [
    ("range(3)", True),
    ("generate_series(1, 2)", True),
    ("read_parquet('data/**/*.parquet')", False),
    ("glob('*')", False),
    ("duckdb_settings()", False),
    ("query_table('planning_refined.applications')", False),
]


@dataclass
class Built:
    sql: str
    ok: bool = True
    reads: set[str] = field(default_factory=set)

    def merge(self, *others: Built) -> Built:
        for o in others:
            self.ok = self.ok and o.ok
            self.reads |= o.reads
        return self


def _quote_maybe(draw: Any, name: str) -> str:
    return f'"{name}"' if draw(st.booleans()) else name


@st.composite
def relation(draw: Any, visible: tuple[str, ...], depth: int) -> Built:
    kinds = ["dataset", "dataset", "unreadable", "cte", "shadowed", "path", "function"]
    if depth > 0:
        kinds += ["subquery", "join", "lateral"]
    kind = draw(st.sampled_from(kinds))
    alias = f"r{draw(st.integers(0, 99))}"
    if kind == "dataset":
        name = draw(st.sampled_from(READABLE))
        schema, table = name.split(".")
        return Built(
            f"{_quote_maybe(draw, schema)}.{_quote_maybe(draw, table)} {alias}", True, {name}
        )
    if kind == "unreadable":
        name = draw(st.sampled_from(UNREADABLE))
        return Built(f"{name} {alias}", False, {name})
    if kind == "cte" and visible:
        name = draw(st.sampled_from(visible))
        spelled = name.upper() if draw(st.booleans()) else name
        return Built(f"{_quote_maybe(draw, spelled)} {alias}")
    if kind in ("cte", "shadowed"):
        # a name that a CTE has elsewhere (or nowhere), not visible here
        name = draw(
            st.sampled_from(
                [
                    n
                    for n in CTE_NAMES + CATALOG_NAMES
                    if n.lower() not in {v.lower() for v in visible}
                ]
            )
        )
        return Built(f"{_quote_maybe(draw, name)} {alias}", False, {name})
    if kind == "path":
        return Built(f"{draw(st.sampled_from(PATHS))} {alias}", False, {"<file>"})
    if kind == "function":
        text, ok = draw(st.sampled_from(TABLE_FUNCTIONS))
        return Built(f"{text} {alias}", ok)
    if kind == "subquery":
        inner = draw(query(visible, depth - 1))
        return Built(f"({inner.sql}) {alias}").merge(inner)
    if kind == "join":
        left, right = draw(relation(visible, depth - 1)), draw(relation(visible, depth - 1))
        return Built(f"{left.sql} JOIN {right.sql} ON true").merge(left, right)
    left = draw(relation(visible, depth - 1))
    inner = draw(query(visible, depth - 1))
    return Built(f"{left.sql}, LATERAL ({inner.sql}) {alias}").merge(left, inner)


@st.composite
def query(draw: Any, visible: tuple[str, ...], depth: int) -> Built:
    form = draw(st.sampled_from(["select", "with", "union"] if depth > 0 else ["select"]))
    if form == "with":
        ctes: list[str] = []
        parts: list[Built] = []
        seen = visible
        names = draw(
            st.lists(st.sampled_from(CTE_NAMES), min_size=1, max_size=2, unique_by=str.lower)
        )
        for name in names:
            body = draw(query(seen, depth - 1))  # sees earlier CTEs, not itself or later ones
            ctes.append(f"{_quote_maybe(draw, name)} AS ({body.sql})")
            parts.append(body)
            seen = (*seen, name)
        main = draw(query(seen, depth - 1))
        if main.sql.startswith("WITH"):  # `WITH … WITH …` is not DuckDB syntax (sqlglot merges it)
            main = Built(f"SELECT 1 AS c FROM ({main.sql}) m").merge(main)
        return Built(f"WITH {', '.join(ctes)} {main.sql}").merge(*parts, main)
    if form == "union":
        left, right = draw(query(visible, depth - 1)), draw(query(visible, depth - 1))
        return Built(f"({left.sql}) UNION ALL ({right.sql})").merge(left, right)
    source = draw(relation(visible, depth))
    built = Built(f"SELECT 1 AS c FROM {source.sql}").merge(source)
    where = draw(st.sampled_from(["", "exists", "in", "scalar"] if depth > 0 else [""]))
    if where:
        inner = draw(query(visible, depth - 1))
        clause = {
            "exists": f" WHERE EXISTS ({inner.sql})",
            "in": f" WHERE 1 IN ({inner.sql})",
            "scalar": f" WHERE (SELECT count(*) FROM ({inner.sql}) s) >= 0",
        }[where]
        built = Built(built.sql + clause, built.ok, set(built.reads)).merge(inner)
    return built


@pytest.fixture(scope="module")
def council(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    import pyarrow as pa

    from civiclake import init_project

    root = init_project(
        Path(tmp_path_factory.mktemp("fuzz")) / "c", departments=["housing", "planning"]
    )
    p = Project.load(root)
    for dept, zone, name, table, pii in [
        ("housing", "trusted", "tenants", {"id": [1], "name": ["Ann Lee"]}, ["name"]),
        ("housing", "refined", "rents", {"id": [1], "amount": [10]}, []),
        ("housing", "raw", "rent_lines", {"x": [1]}, []),
        ("planning", "refined", "applications", {"id": [1], "secret": ["p"]}, []),
        ("unrestricted", "trusted", "wards", {"id": [1], "ward": ["Hill"]}, []),
    ]:
        p.catalog.write(
            p.dataset(dept, zone, name), pa.table(table), mode="overwrite", producer="t", pii=pii
        )
    p.store.add_user("hana")
    p.store.set_grant("hana", "housing", "analyst", False)
    yield p
    p.store.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(built=query((), 3))
def test_the_guard_agrees_with_the_oracle_and_allowed_queries_stay_inside(
    council: Project, built: Built
) -> None:
    policy = AccessPolicy.load(council)
    hana = policy.principal("hana")
    try:
        checked = check_sql(built.sql, policy, hana)
    except SqlRefused as exc:
        assert not built.ok, f"refused a query the oracle allows: {built.sql}\n{exc}"
        return
    assert built.ok, f"allowed a query the oracle refuses: {built.sql} (reads {built.reads})"
    assert {r.qualified for r in checked.datasets} == built.reads
    session = open_session(council, policy, hana, checked.datasets)
    try:
        session.sql(checked.sql).read_all()  # a file outside hana's datasets would fail here
    except EngineError as exc:
        # the grammar can join a comma list without brackets, which sqlglot reads and DuckDB's
        # parser refuses: such a query runs nothing, so it stays inside too
        assert str(exc).startswith("Parser Error"), f"{built.sql}\n{exc}"
    finally:
        session.close()


def test_the_grammar_reaches_both_sides_of_every_rule() -> None:
    """The generator does produce the cases that matter (else the property would be vacuous)."""
    from hypothesis import find

    def finds(condition: Any) -> Built:
        return find(query((), 3), condition, settings=settings(max_examples=5000, database=None))

    assert finds(lambda b: b.ok and "WITH" in b.sql and "EXISTS" in b.sql).ok
    shadow = finds(lambda b: not b.ok and "WITH" in b.sql and '"data/' in b.sql)
    assert not shadow.ok
    assert not finds(lambda b: not b.ok and "LATERAL" in b.sql and "planning_" in b.sql).ok
    assert finds(lambda b: b.ok and "UNION ALL" in b.sql and "range(3)" in b.sql).ok
