"""Running SQL jobs: each materialization leaves the Delta table users expect."""

from __future__ import annotations

import pytest

from civiclake.jobs import JobError


def test_table_replaces_the_dataset_each_run(housing_inputs):
    lake = housing_inputs
    lake.example("housing/rent_accounts_clean.sql")
    first = lake.run("housing/rent_accounts_clean", "import-1")
    assert (first.rows_in, first.rows_out) == (5, 2)  # 3 accounts + 2 wards in, 2 open out
    assert first.bytes_written > 0

    lake.dataset(
        "housing_raw.rent_accounts",
        {
            "account_ref": ["A9"],
            "tenant_name": ["Di"],
            "ward_code": ["W2"],
            "status": ["open"],
            "balance": [7.0],
        },
    )
    lake.run("housing/rent_accounts_clean", "import-2")
    rows = lake.query(
        "SELECT account_ref, ward_name, balance, _import_id "
        "FROM housing_refined.rent_accounts_clean",
        "housing_refined.rent_accounts_clean",
    )
    assert [(r[0], r[1], float(r[2]), r[3]) for r in rows] == [("A9", "Dalston", 7.0, "import-2")]


def test_result_carries_lineage_and_catalog_entry(housing_inputs):
    lake = housing_inputs
    lake.example("housing/rent_accounts_clean.sql")
    lake.run("housing/rent_accounts_clean", "import-7")
    assert lake.columns("housing_refined.rent_accounts_clean")[-2:] == [
        "_import_id",
        "_imported_at",
    ]
    entry = lake.project.store.dataset("housing_refined.rent_accounts_clean")
    assert entry["producer"] == "housing/rent_accounts_clean"
    assert entry["key"] == ["account_ref"]
    assert entry["pii"] == ["tenant_name"]
    assert entry["owner"] == "housing-data@council.example"
    assert entry["row_count"] == 2


def test_source_lineage_passes_through_and_import_id_is_restamped(lake):
    lake.dataset(
        "housing_raw.repairs",
        {
            "job_no": [1, 2],
            "_import_id": ["source-run", "source-run"],
            "_source_file": ["landing/housing/repairs/a.csv"] * 2,
            "_source_row": [2, 3],
        },
    )
    lake.job("housing/repairs_clean.sql", "SELECT * FROM housing_raw.repairs")
    lake.run("housing/repairs_clean", "job-run")
    rows = lake.query(
        "SELECT job_no, _import_id, _source_file, _source_row FROM housing_refined.repairs_clean "
        "ORDER BY job_no",
        "housing_refined.repairs_clean",
    )
    assert rows == [
        (1, "job-run", "landing/housing/repairs/a.csv", 2),
        (2, "job-run", "landing/housing/repairs/a.csv", 3),
    ]


def test_joining_two_lineage_carrying_tables_keeps_one_set(lake):
    lake.dataset("housing_raw.a", {"k": [1], "_source_file": ["a.csv"], "_source_row": [2]})
    lake.dataset("housing_raw.b", {"k": [1], "_source_file": ["b.csv"], "_source_row": [5]})
    lake.job("housing/ab.sql", "SELECT * FROM housing_raw.a JOIN housing_raw.b USING (k)")
    lake.run("housing/ab")
    assert lake.columns("housing_refined.ab") == [
        "k",
        "_source_file",
        "_source_row",
        "_import_id",
        "_imported_at",
    ]


def test_duplicate_column_names_are_refused_with_the_fix(lake):
    lake.dataset("housing_raw.a", {"k": [1], "v": [1]})
    lake.dataset("housing_raw.b", {"k": [1], "v": [2]})
    lake.job("housing/ab.sql", "SELECT a.v, b.v FROM housing_raw.a JOIN housing_raw.b USING (k)")
    with pytest.raises(JobError, match="more than one column named v; give each column its own"):
        lake.run("housing/ab")


# -- append ---------------------------------------------------------------------------


def payments(lake, ids: list[int]) -> None:
    lake.dataset(
        "housing_raw.rent_payments",
        {
            "payment_id": ids,
            "account_ref": ["A1"] * len(ids),
            "amount": [10.0] * len(ids),
            "paid_on": ["2026-11-01"] * len(ids),
        },
    )


def test_append_adds_rows_once_per_new_input_state(lake):
    lake.example("housing/rent_payments_log.sql")
    payments(lake, [1, 2])
    assert lake.run("housing/rent_payments_log", "import-1").rows_out == 2

    # the same step retried, or a re-run after a crash, with the inputs unchanged
    again = lake.run("housing/rent_payments_log", "import-1b")
    assert again.rows_out == 0
    assert "nothing appended" in again.notes[0]

    payments(lake, [3])
    lake.run("housing/rent_payments_log", "import-2")
    rows = lake.query(
        "SELECT payment_id, _import_id FROM housing_refined.rent_payments_log ORDER BY 1",
        "housing_refined.rent_payments_log",
    )
    assert rows == [(1, "import-1"), (2, "import-1"), (3, "import-2")]


# -- incremental ----------------------------------------------------------------------


def accounts(lake, rows: list[tuple[str, float, str]]) -> None:
    lake.dataset(
        "housing_raw.rent_accounts",
        {
            "account_ref": [r[0] for r in rows],
            "balance": [r[1] for r in rows],
            "status": [r[2] for r in rows],
        },
    )


def test_incremental_upserts_by_key(lake):
    lake.example("housing/rent_balances.sql")
    accounts(lake, [("A1", 10.0, "open"), ("A2", 20.0, "open")])
    first = lake.run("housing/rent_balances", "day-1")
    assert first.rows_out == 2

    accounts(lake, [("A2", 25.0, "closed"), ("A3", 30.0, "open")])  # the next day's changes
    second = lake.run("housing/rent_balances", "day-2")
    assert second.rows_out == 2
    assert second.notes == ["1 inserted, 1 updated"]

    rows = lake.query(
        "SELECT account_ref, balance, status, _import_id FROM housing_refined.rent_balances "
        "ORDER BY account_ref",
        "housing_refined.rent_balances",
    )
    assert rows == [
        ("A1", 10.0, "open", "day-1"),
        ("A2", 25.0, "closed", "day-2"),
        ("A3", 30.0, "open", "day-2"),
    ]
    # String filters work on the merged table (delta-rs MERGE writes string_view otherwise).
    assert lake.query(
        "SELECT balance FROM housing_refined.rent_balances WHERE account_ref = 'A2'",
        "housing_refined.rent_balances",
    ) == [(25.0,)]
    assert lake.project.store.dataset("housing_refined.rent_balances")["row_count"] == 3


def test_incremental_rerun_of_the_same_changes_changes_nothing(lake):
    lake.example("housing/rent_balances.sql")
    accounts(lake, [("A1", 10.0, "open")])
    lake.run("housing/rent_balances", "day-1")
    lake.run("housing/rent_balances", "day-1")
    assert lake.query(
        "SELECT count(*) FROM housing_refined.rent_balances", "housing_refined.rent_balances"
    ) == [(1,)]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("A1", 1.0, "open"), ("A1", 2.0, "open")], "appear more than once"),
        ([(None, 1.0, "open")], "have no account_ref"),
    ],
)
def test_incremental_refuses_keys_that_do_not_identify_a_row(lake, rows, expected):
    lake.example("housing/rent_balances.sql")
    accounts(lake, [("A1", 10.0, "open")])
    lake.run("housing/rent_balances", "day-1")
    accounts(lake, rows)
    with pytest.raises(JobError, match=expected):
        lake.run("housing/rent_balances", "day-2")
    assert lake.query(
        "SELECT account_ref, balance FROM housing_refined.rent_balances",
        "housing_refined.rent_balances",
    ) == [("A1", 10.0)]


def test_incremental_key_missing_from_result_is_an_error(lake):
    accounts(lake, [("A1", 10.0, "open")])
    lake.job(
        "housing/balances.sql",
        "-- key: account_id\n-- materialize: incremental\nSELECT * FROM housing_raw.rent_accounts",
    )
    with pytest.raises(JobError, match="key column account_id is not in the result"):
        lake.run("housing/balances")


def test_a_job_reading_a_job_sees_its_result(housing_inputs):
    lake = housing_inputs
    lake.example("housing/rent_accounts_clean.sql")
    lake.example("housing/arrears_by_ward.sql")
    lake.run("housing/rent_accounts_clean")
    lake.run("housing/arrears_by_ward")
    rows = lake.query(
        "SELECT ward_name, accounts_in_arrears, total_arrears FROM housing_trusted.arrears_by_ward",
        "housing_trusted.arrears_by_ward",
    )
    assert [(r[0], r[1], float(r[2])) for r in rows] == [("Hoxton", 1, 120.5)]
