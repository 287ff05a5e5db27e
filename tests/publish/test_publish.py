"""`civiclake publish` against a real PostgreSQL server, read back with the real `psql`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from civiclake import HistorySpec, apply_increment
from civiclake.publish import publish, set_login_password

from .conftest import Warehouse

SPEC = HistorySpec(key=("id",), version="last_updated", deleted="ceased")


def day(project: Any, n: int, rows: list[tuple[int, str, int, bool]], hour: int = 12) -> None:
    data = pa.table(
        {
            "id": [r[0] for r in rows],
            "applicant": [r[1] for r in rows],
            "ward_id": [r[2] for r in rows],
            "ceased": [r[3] for r in rows],
            "last_updated": [datetime(2026, 3, n, hour)] * len(rows),
        }
    )
    apply_increment(
        project.catalog,
        project.dataset("planning", "refined", "applications"),
        data,
        SPEC,
        app_id=f"day-{n}-{hour}",
        import_id=f"i{n}",
        producer="test",
        pii=["applicant"],
    )


def duck(project: Any, sql: str) -> list[tuple[object, ...]]:
    session = project.engine().session()
    try:
        session.register(project.catalog.datasets())
        return [tuple(r.values()) for r in session.sql(sql).read_all().to_pylist()]
    finally:
        session.close()


def test_first_publish(warehouse: Warehouse) -> None:
    results = {r.dataset: r for r in publish(warehouse.project)}
    assert set(results) == {
        "housing_trusted.tenants",
        "planning_refined.applications",
        "unrestricted_trusted.wards",
    }
    assert {r.mode for r in results.values()} == {"full"}
    assert warehouse.rows("SELECT id FROM planning_refined.applications ORDER BY id") == [
        (1,),
        (2,),
    ]
    # the engine's x__history shape: a delete ends its key's last version (invalidate)
    history = "SELECT id, valid_to IS NULL FROM planning_refined.applications__history"
    assert sorted(warehouse.rows(history)) == [(1, True), (2, False), (2, True), (3, False)]
    again = publish(warehouse.project)
    assert {r.mode for r in again} == {"unchanged"}


def test_an_analyst_through_psql(warehouse: Warehouse) -> None:
    project = warehouse.project
    publish(project)
    _, hana = set_login_password(project, "hana")
    _, eli = set_login_password(project, "eli")
    denied = warehouse.psql("hana", hana, "SELECT count(*) FROM planning_refined.applications")
    assert denied.returncode != 0 and "permission denied" in denied.stderr
    public = warehouse.psql("hana", hana, "SELECT count(*) FROM unrestricted_trusted.wards")
    assert public.returncode == 0 and public.stdout.strip() == "2"
    raw = warehouse.psql("hana", hana, "SELECT name FROM housing_trusted.tenants")
    assert raw.returncode != 0 and "permission denied" in raw.stderr
    masked = warehouse.psql(
        "hana", hana, "SELECT name FROM housing_trusted_masked.tenants ORDER BY id"
    )
    assert masked.returncode == 0 and "Ann Lee" not in masked.stdout
    # the same masking as the SQL API and the CLI
    from civiclake.query import run_query

    api_names = (
        run_query(project, "SELECT name FROM housing_trusted.tenants ORDER BY id", user="hana")
        .read_all()
        .column("name")
        .to_pylist()
    )
    assert masked.stdout.split("\n")[:2] == api_names[:2]
    clear = warehouse.psql("eli", eli, "SELECT name FROM housing_trusted.tenants ORDER BY id")
    assert clear.returncode == 0 and clear.stdout.split("\n")[:2] == ["Ann Lee", "Bo Chan"]


def test_a_revoked_grant_is_revoked_in_postgres(warehouse: Warehouse) -> None:
    project = warehouse.project
    project.store.set_grant("hana", "planning", "analyst", False)
    publish(project)
    _, password = set_login_password(project, "hana")
    housing = "SELECT count(*) FROM housing_trusted_masked.tenants"
    planning = "SELECT count(*) FROM planning_refined_masked.applications"
    assert warehouse.psql("hana", password, housing).returncode == 0
    project.store.remove_grant("hana", "housing")
    publish(project)
    after = warehouse.psql("hana", password, housing)
    assert after.returncode != 0 and "permission denied" in after.stderr
    assert warehouse.psql("hana", password, planning).returncode == 0
    assert (
        warehouse.psql("hana", password, "SELECT * FROM unrestricted_trusted.wards").returncode == 0
    )


def test_publish_is_incremental_and_matches_duckdb(warehouse: Warehouse) -> None:
    project = warehouse.project
    publish(project)
    day(project, 3, [(1, "Cy Dune", 5, False), (2, "x", 2, True), (4, "Flo Hay", 1, False)])
    day(project, 2, [(1, "Cy Late", 9, False)], hour=1)  # late: older than the current row
    (result,) = publish(project, datasets=[project.dataset("planning", "refined", "applications")])
    assert result.mode == "incremental"
    # latest: 1 updated, 2 deleted, 4 new (3 rows touched, 2 alive); history: 3 new versions
    # (the delete ends 2's last version rather than adding a row)
    assert result.rows_written == 2 + 3 and result.rows_deleted == 2
    _assert_same(warehouse, project)
    from civiclake.snapshots import compact

    compact(project.catalog, project.dataset("planning", "refined", "applications"))
    day(project, 4, [(3, "Ed Gray", 7, False), (4, "Flo Hay", 2, False)])
    (result,) = publish(project, datasets=[project.dataset("planning", "refined", "applications")])
    assert result.mode == "incremental" and result.rows_written == 2 + 2
    _assert_same(warehouse, project)


def _assert_same(warehouse: Warehouse, project: Any) -> None:
    latest = "SELECT id, applicant, ward_id, valid_from, _seq FROM planning_refined.applications"
    assert sorted(warehouse.rows(latest)) == sorted(duck(project, latest))
    history = (
        "SELECT id, applicant, valid_from, valid_to, recorded_from, recorded_to, _seq "
        "FROM planning_refined.applications__history"
    )
    assert sorted(warehouse.rows(history)) == sorted(duck(project, history))


def test_a_synced_tables_raw_history_with_deletes_as_rows_and_a_sentinel(
    council: Any, postgres_url: str
) -> None:
    """Finding 5: history of a raw (database or spreadsheet) dataset could not be published."""
    from .conftest import attach, drop_namespace

    warehouse = attach(
        council.dir, postgres_url, zones="raw, trusted", extra="valid_to_sentinel: 9999-12-31"
    )
    try:
        project = warehouse.project
        ref = project.dataset("housing", "raw", "accounts")
        spec = HistorySpec(key=("ref",), version=None, mode="observed", deletes="new_record")

        def export(n: int, balances: dict[int, int]) -> None:
            data = pa.table({"ref": list(balances), "balance": list(balances.values())})
            apply_increment(
                project.catalog,
                ref,
                data,
                spec,
                app_id=f"m{n}",
                import_id=f"m{n}",
                producer="test",
                observed_at=datetime(2026, n, 1),
                full=True,
            )

        export(1, {1: 10, 2: 20, 3: 30})
        export(2, {1: 11, 2: 20})
        assert {r.mode for r in publish(project, datasets=[ref])} == {"full"}
        export(3, {1: 11, 3: 33})
        assert {r.mode for r in publish(project, datasets=[ref])} == {"incremental"}
        sentinel = "coalesce(valid_to, TIMESTAMP '9999-12-31')"
        shape = (
            f"SELECT ref, balance, valid_from, {sentinel}, is_deleted, recorded_from, "
            "recorded_to FROM housing_raw.accounts__history"
        )
        assert sorted(warehouse.rows(shape)) == sorted(duck(project, shape))
        assert warehouse.rows(
            "SELECT count(*) FROM housing_raw.accounts__history WHERE valid_to IS NULL"
        ) == [(0,)]
        assert sorted(warehouse.rows("SELECT ref FROM housing_raw.accounts")) == [(1,), (3,)]
    finally:
        warehouse.project.store.close()
        drop_namespace(warehouse)


def test_cli_publish_and_login(warehouse: Warehouse, capsys: Any) -> None:
    import shlex
    import subprocess

    from civiclake.cli import main

    def cli(*args: str) -> str:
        try:
            main(list(args))
        except SystemExit as exc:
            assert not exc.code
        return str(capsys.readouterr().out)

    out = cli("publish", "-p", str(warehouse.project.dir))
    assert "planning_refined.applications: full" in out and "Published 3 datasets" in out
    line = cli("access", "login", "pat", "-p", str(warehouse.project.dir)).strip()
    assert line.startswith("PGPASSWORD=") and "psql" in line
    env_part, _, rest = line.partition(" psql ")
    password = shlex.split(env_part)[0].split("=", 1)[1]
    conninfo = shlex.split(rest)[0]
    done = subprocess.run(
        [
            "psql",
            "-X",
            "-A",
            "-t",
            conninfo,
            "-c",
            "SELECT count(*) FROM planning_refined_masked.applications",
        ],
        env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr


def test_relationships_become_foreign_keys(warehouse: Warehouse) -> None:
    project = warehouse.project
    (project.dir / "models" / "relationships.yaml").write_text(
        "relationships:\n"
        "  - planning_refined.applications.ward_id -> unrestricted_trusted.wards.id\n"
        "  - housing_trusted.tenants.ward_id -> unrestricted_trusted.wards.id\n"
    )
    notes: list[str] = []
    publish(project, notes=notes)
    keys = dict(
        warehouse.rows(
            "SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' ORDER BY 1"
        )
    )
    assert keys == {"fk_applications__ward_id": True, "fk_tenants__ward_id": False}
    assert any("1 orphan rows, so the foreign key is NOT VALID" in n for n in notes)
    # an orphan arriving later does not break the incremental publish; the key goes NOT VALID
    day(project, 3, [(5, "Gil Ives", 42, False)])
    notes.clear()
    (result,) = [r for r in publish(project, notes=notes) if r.mode != "unchanged"]
    assert result.mode == "incremental"
    keys = dict(
        warehouse.rows("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f'")
    )
    assert keys == {"fk_applications__ward_id": False, "fk_tenants__ward_id": False}


def test_the_demo_publishes_and_prints_a_working_psql_line(warehouse: Warehouse) -> None:
    import shlex
    import subprocess

    from civiclake.serve.demo import serving_demo

    lines = serving_demo(warehouse.project)
    assert any(line.startswith("curl ") for line in lines)
    line = lines[-1]
    env_part, _, rest = line.partition(" psql ")
    password = shlex.split(env_part)[0].split("=", 1)[1]
    done = subprocess.run(
        [
            "psql",
            "-X",
            "-A",
            "-t",
            shlex.split(rest)[0],
            "-c",
            "SELECT count(*) FROM housing_trusted_masked.tenants",
        ],
        env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr


def test_without_history_only_x_is_kept(warehouse: Warehouse) -> None:
    project = warehouse.project
    apps = project.dataset("planning", "refined", "applications")
    publish(project, datasets=[apps], history=False)
    day(project, 3, [(1, "Cy Dune", 5, False), (2, "x", 2, True), (4, "Flo Hay", 1, False)])
    (result,) = publish(project, datasets=[apps], history=False)
    assert result.mode == "incremental" and result.rows_written == 2
    latest = "SELECT id, applicant, ward_id, valid_from, _seq FROM planning_refined.applications"
    assert sorted(warehouse.rows(latest)) == sorted(duck(project, latest))
    tables = warehouse.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'planning_refined'")
    assert tables == [("applications",)]
    (result,) = publish(project, datasets=[apps])  # history wanted now: a full load
    assert result.mode == "full"


def test_civiclake_run_publishes_after_the_jobs(warehouse: Warehouse) -> None:
    from civiclake import Runner

    job = warehouse.project.dir / "jobs" / "housing" / "tenants_by_ward.sql"
    job.write_text(
        "-- zone: trusted\n-- key: ward_id\n"
        "SELECT ward_id, count(*) AS tenants FROM housing_trusted.tenants GROUP BY ward_id\n"
    )
    summary = Runner(warehouse.project, retries=0).run()
    assert summary.ok, [(s.name, s.error) for s in summary.steps]
    order = [s.name for s in summary.steps]
    assert order.index("unrestricted/publish") > order.index("housing/tenants_by_ward")
    assert warehouse.rows(
        "SELECT ward_id, tenants FROM housing_trusted.tenants_by_ward ORDER BY ward_id"
    ) == [(1, 1), (2, 1), (9, 1)]
    again = Runner(warehouse.project, retries=0).run()
    [step] = [s for s in again.steps if s.name == "unrestricted/publish"]
    # only the job's table, rewritten by the run, is copied again; the rest is unchanged
    assert [n.split(":")[0] for n in step.result.notes] == ["housing_trusted.tenants_by_ward"]
