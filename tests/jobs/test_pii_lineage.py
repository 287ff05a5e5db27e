"""PII follows the data: a job's output columns derived from PII are masked for analysts.

Every test looks through a door an analyst uses, ``civiclake.query.run_query`` as
``hana`` (housing analyst, no PII grant), and checks what she sees; ``eli`` (housing
engineer with PII) still sees the real values, so the data itself is untouched.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from civiclake.access import AccessPolicy
from civiclake.jobs import JobDefinitionError
from civiclake.query import run_query

NAMES = {"Ann Lee", "Bo Chan", "Cy Dune"}
HASH = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture
def tenants(lake):
    """``housing_raw.rent_accounts`` with ``tenant_name`` tagged PII, wards, hana and eli."""
    lake.dataset(
        "housing_raw.rent_accounts",
        {
            "account_ref": ["A1", "A2", "A3"],
            "tenant_name": ["Ann Lee", "Bo Chan", "Cy Dune"],
            "ward_code": ["W1", "W1", "W2"],
            "balance": [120.5, -3.0, 10.0],
        },
        pii=["tenant_name"],
    )
    lake.dataset(
        "unrestricted_raw.wards", {"ward_code": ["W1", "W2"], "ward_name": ["Hoxton", "Dalston"]}
    )
    store = lake.project.store
    for name, role, pii in [("hana", "analyst", False), ("eli", "engineer", True)]:
        store.add_user(name)
        store.set_grant(name, "housing", role, pii)
    return lake


def seen(lake, user: str, sql: str) -> list[dict[str, Any]]:
    return run_query(lake.project, sql, user=user).read_all().to_pylist()


def column(lake, user: str, dataset: str, name: str) -> list[Any]:
    return [r[name] for r in seen(lake, user, f"SELECT {name} FROM {dataset} ORDER BY ALL")]


def masked(values: list[Any]) -> bool:
    """Every non-NULL value is a masking hash, and no real name survives."""
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, str) and HASH.match(v) for v in present)


def catalog_pii(lake, dataset: str) -> list[str]:
    row = lake.project.store.dataset(dataset)
    assert row is not None
    return list(row["pii"])


# -- the finding ------------------------------------------------------------------------------
def test_renamed_pii_column_is_masked_for_an_analyst(tenants):
    """Issue 11: `tenant_name AS name_of_tenant` with no `pii:` header published names."""
    lake = tenants
    lake.job(
        "housing/tenancies.sql",
        "-- zone: refined\n"
        "SELECT account_ref, tenant_name AS name_of_tenant, ward_code\n"
        "FROM housing_raw.rent_accounts\n",
    )
    lake.run("housing/tenancies")

    hana = seen(lake, "hana", "SELECT * FROM housing_refined.tenancies ORDER BY account_ref")
    assert masked([r["name_of_tenant"] for r in hana])
    assert not NAMES & {str(v) for r in hana for v in r.values()}
    assert [r["account_ref"] for r in hana] == ["A1", "A2", "A3"]  # other columns plain
    assert [r["ward_code"] for r in hana] == ["W1", "W1", "W2"]
    eli = column(lake, "eli", "housing_refined.tenancies", "name_of_tenant")
    assert eli == ["Ann Lee", "Bo Chan", "Cy Dune"]
    # the catalog entry is what the SQL API and the PostgreSQL warehouse mask from too
    assert catalog_pii(lake, "housing_refined.tenancies") == ["name_of_tenant"]
    policy = AccessPolicy.load(lake.project)
    assert policy.masked_columns(policy.principal("hana"), "housing_refined.tenancies") == [
        "name_of_tenant"
    ]


@pytest.mark.parametrize("materialize", ["append", "incremental"])
def test_derived_pii_is_masked_whatever_the_materialization(tenants, materialize):
    lake = tenants
    lake.job(
        "housing/tenancies.sql",
        f"-- materialize: {materialize}\n-- key: account_ref\n"
        "SELECT account_ref, tenant_name AS name_of_tenant FROM housing_raw.rent_accounts\n",
    )
    lake.run("housing/tenancies", "import-1")
    lake.run("housing/tenancies", "import-2")  # the merge / second append keeps it PII
    assert masked(column(lake, "hana", "housing_refined.tenancies", "name_of_tenant"))


FROM = "FROM housing_raw.rent_accounts"


@pytest.mark.parametrize(
    ("select", "out"),
    [
        (f"SELECT account_ref, upper(trim(tenant_name)) AS out {FROM}", "out"),
        (f"SELECT account_ref, tenant_name || ' (' || ward_code || ')' AS out {FROM}", "out"),
        (
            "SELECT account_ref, CASE WHEN balance > 0 THEN tenant_name ELSE 'n/a' END AS out "
            + FROM,
            "out",
        ),
        (
            f"WITH t AS (SELECT account_ref, tenant_name AS who {FROM}) "
            "SELECT account_ref, who AS out FROM t",
            "out",
        ),
        (
            f"SELECT account_ref, out FROM (SELECT account_ref, tenant_name AS out {FROM}) AS s",
            "out",
        ),
        (
            f"SELECT account_ref, ward_code AS out {FROM} "
            f"UNION ALL SELECT account_ref, tenant_name {FROM}",
            "out",
        ),
        (f"SELECT * {FROM}", "tenant_name"),
        (f"SELECT s.* FROM (SELECT account_ref, tenant_name AS out {FROM}) AS s", "out"),
        (f"SELECT * REPLACE (lower(tenant_name) AS tenant_name) {FROM}", "tenant_name"),
        (
            "SELECT account_ref, first_value(tenant_name) OVER "
            f"(PARTITION BY ward_code ORDER BY account_ref) AS out {FROM}",
            "out",
        ),
        (
            "SELECT r.account_ref, w.ward_name, r.tenant_name AS out "
            "FROM housing_raw.rent_accounts AS r "
            "JOIN unrestricted_raw.wards AS w USING (ward_code)",
            "out",
        ),
        (f"SELECT ward_code, string_agg(tenant_name, ', ') AS out {FROM} GROUP BY ALL", "out"),
        (f"SELECT ward_code, count(tenant_name) AS out {FROM} GROUP BY ALL", "out"),
        (
            f"SELECT account_ref, (SELECT max(tenant_name) {FROM}) AS out {FROM}",
            "out",
        ),
    ],
    ids=[
        "expression",
        "concatenation",
        "case",
        "cte",
        "subquery",
        "union-branch",
        "star",
        "star-of-subquery",
        "star-replace",
        "window",
        "join",
        "aggregate",
        "count-of-name",
        "scalar-subquery",
    ],
)
def test_columns_derived_from_pii_are_masked(tenants, select, out):
    lake = tenants
    lake.job("housing/derived.sql", select + "\n")
    lake.run("housing/derived")
    assert masked(column(lake, "hana", "housing_refined.derived", out))
    assert out in catalog_pii(lake, "housing_refined.derived")
    if "count(" not in select:  # eli (PII grant) reads the real values
        values = [str(v).lower() for v in column(lake, "eli", "housing_refined.derived", out)]
        assert any(n.lower() in v for n in NAMES for v in values)


def test_columns_not_derived_from_pii_stay_plain(tenants):
    """Only what carries names is masked: filters and counts of rows are not personal data."""
    lake = tenants
    lake.job(
        "housing/by_ward.sql",
        "SELECT w.ward_name, count(*) AS tenancies, sum(r.balance) AS total\n"
        "FROM housing_raw.rent_accounts AS r JOIN unrestricted_raw.wards AS w USING (ward_code)\n"
        "WHERE r.tenant_name <> 'nobody'\nGROUP BY ALL\n",
    )
    lake.run("housing/by_ward")
    rows = seen(lake, "hana", "SELECT * FROM housing_refined.by_ward ORDER BY ward_name")
    assert [(r["ward_name"], r["tenancies"]) for r in rows] == [("Dalston", 1), ("Hoxton", 2)]
    assert catalog_pii(lake, "housing_refined.by_ward") == []


def test_untraceable_sql_is_treated_as_pii_and_recorded_unresolved(tenants):
    """sqlglot cannot follow COLUMNS(…): the column counts as PII, never as clean."""
    lake = tenants
    lake.job("housing/pattern.sql", f"SELECT account_ref, COLUMNS('tenant_.*') {FROM}\n")
    result = lake.run("housing/pattern")
    assert masked(column(lake, "hana", "housing_refined.pattern", "tenant_name"))
    assert any("lineage unknown for" in n and "tenant_name" in n for n in result.notes)
    edges = lake.project.store.column_lineage(dataset="housing_refined.pattern")
    unresolved = [e for e in edges if not e.resolved]
    assert {(e.output_column, e.input_dataset, e.input_column) for e in unresolved} >= {
        ("tenant_name", "housing_raw.rent_accounts", "tenant_name")
    }


def test_union_by_name_is_not_trusted(tenants):
    """sqlglot pairs UNION BY NAME branches by position, so the whole query is unresolved."""
    lake = tenants
    lake.job(
        "housing/merged.sql",
        f"SELECT account_ref, ward_code {FROM}\n"
        f"UNION ALL BY NAME SELECT tenant_name AS ward_code, account_ref {FROM}\n",
    )
    lake.run("housing/merged")
    assert masked(column(lake, "hana", "housing_refined.merged", "ward_code"))


def test_column_lineage_is_recorded_per_run(tenants):
    lake = tenants
    lake.job(
        "housing/tenancies.sql",
        "WITH t AS (SELECT account_ref, tenant_name AS who FROM housing_raw.rent_accounts)\n"
        "SELECT account_ref, who AS name_of_tenant, 1 AS one FROM t\n",
    )
    lake.run("housing/tenancies", "import-1")
    lake.run("housing/tenancies", "import-2")
    edges = lake.project.store.column_lineage(dataset="housing_refined.tenancies")
    assert [
        (e.output_column, e.input_dataset, e.input_column, e.pii, e.resolved) for e in edges
    ] == [
        ("account_ref", "housing_raw.rent_accounts", "account_ref", False, True),
        ("name_of_tenant", "housing_raw.rent_accounts", "tenant_name", True, True),
    ]
    assert {(e.job, e.import_id) for e in edges} == {("housing/tenancies", "import-2")}


# -- chains -----------------------------------------------------------------------------------
def test_pii_follows_a_two_hop_chain_of_jobs(tenants):
    """raw PII → refined job renaming → trusted job concatenating: still masked for hana."""
    lake = tenants
    lake.job(
        "housing/tenants.sql",
        "SELECT account_ref, tenant_name AS person, ward_code FROM housing_raw.rent_accounts\n",
    )
    lake.job(
        "housing/labels.sql",
        "-- zone: trusted\n"
        "SELECT account_ref, person || ' of ' || ward_code AS label\n"
        "FROM housing_refined.tenants\n",
    )
    lake.run("housing/tenants")
    lake.run("housing/labels")
    labels = column(lake, "hana", "housing_trusted.labels", "label")
    assert masked(labels)
    assert column(lake, "eli", "housing_trusted.labels", "label") == [
        "Ann Lee of W1",
        "Bo Chan of W1",
        "Cy Dune of W2",
    ]
    [edge] = [
        e
        for e in lake.project.store.column_lineage(dataset="housing_trusted.labels")
        if e.output_column == "label" and e.pii
    ]
    assert (edge.input_dataset, edge.input_column) == ("housing_refined.tenants", "person")


# -- clearing ---------------------------------------------------------------------------------
def test_pii_cleared_header_unmasks_with_a_recorded_reason(tenants):
    lake = tenants
    lake.job(
        "housing/named.sql",
        "-- zone: trusted\n"
        '-- pii_cleared: {named: "a count of tenants per ward, not a name"}\n'
        "-- pii_cleared: initials: first letters only, agreed with the DPO\n"
        "SELECT ward_code, count(tenant_name) AS named, "
        "string_agg(left(tenant_name, 1), '') AS initials\n"
        "FROM housing_raw.rent_accounts GROUP BY ALL\n",
    )
    lake.run("housing/named", "import-7")
    rows = seen(lake, "hana", "SELECT * FROM housing_trusted.named ORDER BY ward_code")
    assert [(r["ward_code"], r["named"], r["initials"]) for r in rows] == [
        ("W1", 2, "AB"),
        ("W2", 1, "C"),
    ]
    assert catalog_pii(lake, "housing_trusted.named") == []
    cleared = lake.project.store.pii_clearances("housing_trusted.named")
    assert [(c.column, c.reason, c.job, c.import_id) for c in cleared] == [
        ("initials", "first letters only, agreed with the DPO", "housing/named", "import-7"),
        ("named", "a count of tenants per ward, not a name", "housing/named", "import-7"),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-- pii_cleared: named\n", ["line 2", "needs column: reason pairs", "'named'"]),
        ("-- pii_cleared: {named: }\n", ["line 2", "named has no reason"]),
        ('-- pii_cleared: {named: "x"\n', ["line 2", "does not parse"]),
        ("-- pii_cleared: {Named Col: x}\n", ["line 2", "'Named Col' is not a column name"]),
        (
            "-- pii_cleared: {named: x}\n-- pii_cleared: {named: y}\n",
            ["line 3", "named is cleared twice (first on line 2)"],
        ),
    ],
    ids=["no-reason", "empty-reason", "unclosed", "bad-column", "twice"],
)
def test_bad_pii_cleared_header_names_file_and_line(tenants, line, expected):
    tenants.job("housing/named.sql", "-- zone: trusted\n" + line + "SELECT 1 AS named\n")
    with pytest.raises(JobDefinitionError) as info:
        tenants.jobs()
    message = str(info.value)
    assert message.startswith("jobs/housing/named.sql")
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("cleared", "expected"),
    [
        ("{nmed: x}", ["line 1", "'nmed', which is not in the result", "did you mean `named`?"]),
        ("{ward_code: x}", ["line 1", "'ward_code', which is not PII", "PII here: named"]),
    ],
    ids=["missing-column", "not-pii"],
)
def test_clearing_a_column_that_is_not_pii_is_an_error(tenants, cleared, expected):
    lake = tenants
    lake.job(
        "housing/named.sql",
        f"-- pii_cleared: {cleared}\n"
        "SELECT ward_code, count(tenant_name) AS named\n"
        "FROM housing_raw.rent_accounts GROUP BY ALL\n",
    )
    with pytest.raises(JobDefinitionError) as info:
        lake.run("housing/named")
    for part in expected:
        assert part in str(info.value)
    assert lake.project.store.dataset("housing_refined.named") is None  # nothing was written


# -- Python jobs ------------------------------------------------------------------------------
PYTHON_JOB = '''\
from civiclake import job


@job(inputs=["housing_raw.rent_accounts", "unrestricted_raw.wards"]{args})
def roll(accounts, wards):
    """Tenants with their ward names."""
    return accounts.join(wards, "ward_code").select(
        "account_ref, tenant_name AS who, ward_name, balance"
    )
'''


def test_python_job_without_lineage_reading_pii_masks_every_column(tenants):
    """Python is opaque: with PII in and nothing declared, every output column is PII."""
    lake = tenants
    lake.job("housing/roll.py", PYTHON_JOB.format(args=""))
    lake.run("housing/roll")
    for name in ("account_ref", "who", "ward_name", "balance"):
        assert masked(column(lake, "hana", "housing_refined.roll", name)), name
    assert column(lake, "eli", "housing_refined.roll", "who") == ["Ann Lee", "Bo Chan", "Cy Dune"]


def test_python_job_declared_lineage_masks_only_what_derives_from_pii(tenants):
    lake = tenants
    derives = (
        ', derives={"who": ["housing_raw.rent_accounts.tenant_name"], '
        '"account_ref": ["housing_raw.rent_accounts.account_ref"], '
        '"ward_name": ["unrestricted_raw.wards.ward_name"], "balance": []}'
    )
    lake.job("housing/roll.py", PYTHON_JOB.format(args=derives))
    lake.run("housing/roll")
    assert masked(column(lake, "hana", "housing_refined.roll", "who"))
    assert column(lake, "hana", "housing_refined.roll", "account_ref") == ["A1", "A2", "A3"]
    assert catalog_pii(lake, "housing_refined.roll") == ["who"]


def test_python_job_pii_cleared_with_a_reason(tenants):
    lake = tenants
    args = (
        ', derives={"account_ref": ["housing_raw.rent_accounts.account_ref"], '
        '"ward_name": ["unrestricted_raw.wards.ward_name"], "balance": []}, '
        'pii_cleared={"who": "synthetic names in this test"}'
    )
    lake.job("housing/roll.py", PYTHON_JOB.format(args=args))
    lake.run("housing/roll")
    assert column(lake, "hana", "housing_refined.roll", "who") == ["Ann Lee", "Bo Chan", "Cy Dune"]
    [cleared] = lake.project.store.pii_clearances("housing_refined.roll")
    assert (cleared.column, cleared.reason) == ("who", "synthetic names in this test")


def test_python_job_same_named_pii_column_stays_pii_whatever_derives_says(tenants):
    lake = tenants
    lake.job(
        "housing/names.py",
        "from civiclake import job\n\n\n"
        '@job(inputs=["housing_raw.rent_accounts"], derives={"tenant_name": []})\n'
        "def names(accounts):\n"
        '    return accounts.select("account_ref, tenant_name")\n',
    )
    lake.run("housing/names")
    assert masked(column(lake, "hana", "housing_refined.names", "tenant_name"))


def test_python_job_without_pii_inputs_masks_nothing(lake):
    lake.dataset("unrestricted_raw.wards", {"ward_code": ["W1"], "ward_name": ["Hoxton"]})
    lake.job(
        "housing/wards.py",
        "from civiclake import job\n\n\n"
        '@job(inputs=["unrestricted_raw.wards"])\n'
        "def wards(w):\n"
        "    return w\n",
    )
    lake.run("housing/wards")
    assert catalog_pii(lake, "housing_refined.wards") == []


@pytest.mark.parametrize(
    ("derives", "expected", "when"),
    [
        (
            '{"who": ["housing_raw.rent_acounts.tenant_name"]}',
            ["line 4", "derives['who']", "did you mean `housing_raw.rent_accounts`?"],
            "load",
        ),
        (
            '{"who": ["housing_raw.rent_accounts.tenant_nam"]}',
            ["line 4", "has no column 'tenant_nam'", "did you mean `tenant_name`?"],
            "run",
        ),
        ('{"whom": []}', ["line 4", "'whom', which is not in the result", "`who`"], "run"),
    ],
    ids=["unknown-input", "unknown-column", "unknown-output"],
)
def test_bad_derives_names_the_file_line_and_fix(tenants, derives, expected, when):
    lake = tenants
    lake.job("housing/roll.py", PYTHON_JOB.format(args=f", derives={derives}"))
    with pytest.raises(JobDefinitionError) as info:
        lake.jobs() if when == "load" else lake.run("housing/roll")
    message = str(info.value)
    assert message.startswith("jobs/housing/roll.py")
    for part in expected:
        assert part in message


# -- civiclake datasets -----------------------------------------------------------------------
def datasets_output(lake, capsys, monkeypatch) -> str:
    from civiclake.cli import main

    monkeypatch.setenv("COLUMNS", "250")
    try:
        main(["datasets", "--project", str(lake.project.dir)])
    except SystemExit as exc:
        assert not exc.code
    return capsys.readouterr().out


def test_datasets_lists_pii_columns_and_clearances_with_reasons(tenants, capsys, monkeypatch):
    lake = tenants
    lake.job(
        "housing/tenancies.sql",
        '-- pii_cleared: {named: "a count per ward"}\n'
        "SELECT ward_code, any_value(tenant_name) AS someone, count(tenant_name) AS named\n"
        "FROM housing_raw.rent_accounts GROUP BY ALL\n",
    )
    lake.run("housing/tenancies")
    text = datasets_output(lake, capsys, monkeypatch)
    lines = [" ".join(line.replace("│", " ").split()) for line in text.splitlines()]
    assert "PII columns" in text
    assert "housing_raw.rent_accounts tenant_name masked declared" in lines
    assert (
        "housing_refined.tenancies someone masked from housing_raw.rent_accounts.tenant_name"
    ) in lines
    assert "housing_refined.tenancies named cleared a count per ward (housing/tenancies)" in lines


def test_datasets_without_pii_list_as_before(lake, capsys, monkeypatch):
    lake.dataset("unrestricted_raw.wards", {"ward_code": ["W1"], "ward_name": ["Hoxton"]})
    text = datasets_output(lake, capsys, monkeypatch)
    assert "unrestricted_raw.wards" in text
    assert "PII" not in text


def test_generated_tables_carry_no_pii_but_unnest_does(tenants):
    lake = tenants
    lake.job(
        "housing/spread.sql",
        "SELECT a.account_ref, r.range AS n, u.part\n"
        "FROM housing_raw.rent_accounts AS a, range(2) AS r,\n"
        "    unnest(string_split(a.tenant_name, ' ')) AS u(part)\n",
    )
    lake.run("housing/spread")
    assert sorted(set(column(lake, "hana", "housing_refined.spread", "n"))) == [0, 1]
    assert masked(column(lake, "hana", "housing_refined.spread", "part"))
    assert catalog_pii(lake, "housing_refined.spread") == ["part"]


@pytest.mark.parametrize(
    "table",
    [
        "planning_refined.applications",
        "planning_refined.applications__history",
        "planning_refined.applications_as_of(DATE '2026-03-01')",
    ],
    ids=["latest", "history", "as-of"],
)
def test_pii_follows_from_history_and_as_of_reads(council_lake, table):
    """``applicant`` is PII in the keyed dataset; every way of reading it carries it."""
    lake = council_lake
    lake.job("planning/applicants.sql", f"SELECT id, applicant AS who FROM {table}\n")
    lake.run("planning/applicants")
    who = column(lake, "pat", "planning_refined.applicants", "who")
    assert masked(who)
    assert catalog_pii(lake, "planning_refined.applicants") == ["who"]
    edges = lake.project.store.column_lineage(dataset="planning_refined.applicants")
    assert all(e.resolved for e in edges)  # traced, not assumed
    assert ("who", "applicant") in {(e.output_column, e.input_column) for e in edges}
