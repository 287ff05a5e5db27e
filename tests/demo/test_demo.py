"""`civiclake demo` end to end: the demo council is built, loaded and transformed."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from civiclake import Project
from civiclake.demo import build_demo
from civiclake.jobs import load_jobs
from civiclake.jobs.sql import SqlJob
from civiclake.query import run_query


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "riverside"
    summary = build_demo(root, planning_days=8).summary
    assert summary.ok, [(s.name, s.error) for s in summary.failed]
    return root


def _rows(project: Project, sql: str) -> list[dict[str, object]]:
    return run_query(project, sql).read_all().to_pylist()


def test_demo_builds_three_departments_with_jobs_in_refined_and_trusted(demo: Path) -> None:
    project = Project.load(demo)
    names = {r.qualified for r in project.catalog.datasets()}
    assert {
        "housing_raw.rent_accounts",
        "parking_raw.permits",
        "unrestricted_raw.wards",
        "housing_refined.rent_accounts",
        "housing_trusted.arrears_by_ward",
        "parking_trusted.permits_by_ward",
    } <= names
    jobs = load_jobs(project)
    assert len(jobs) >= 4
    assert {j.output.zone for j in jobs} == {"refined", "trusted"}
    assert any(j.path.suffix == ".py" for j in jobs)
    assert len({j.department for j in jobs}) >= 3


def test_demo_results_are_consistent(demo: Path) -> None:
    project = Project.load(demo)
    [counts] = _rows(
        project,
        "select (select count(*) from housing_refined.rent_accounts where is_current) as current,"
        " (select sum(tenancies) from housing_trusted.arrears_by_ward) as by_ward,"
        " (select count(*) from housing_trusted.arrears_by_ward) as wards",
    )
    assert counts["current"] == counts["by_ward"] and counts["wards"] == 20
    rejected = _rows(project, "select reason from housing_raw.rent_accounts__rejected")
    assert len(rejected) == 2


def test_demo_planning_department_keeps_history_and_decision_times(demo: Path) -> None:
    project = Project.load(demo)
    [counts] = _rows(
        project,
        "select (select count(*) from planning_refined.applications) as latest,"
        " (select count(*) from planning_refined.applications__history) as versions,"
        " (select count(distinct id) from planning_refined.applications__history) as ids,"
        " (select count(*) from planning_trusted.decision_times) as decided,"
        " (select count(*) from planning_refined.applications where ceased) as ceased",
    )
    assert counts["latest"] > 2000 and counts["versions"] > counts["ids"]
    assert counts["decided"] > 0 and counts["ceased"] == 0
    # working days exclude weekends and bank holidays: never more than calendar days
    [check] = _rows(
        project,
        "select count(*) as bad from planning_trusted.decision_times "
        "where working_days_to_decision > decision_issued_date - received_date "
        "or working_days_to_decision < 0",
    )
    assert check["bad"] == 0
    # an independent count, day by day, agrees with the job's calendar arithmetic
    [recount] = _rows(
        project,
        "select count(*) filter (where got <> want) as wrong from ("
        " select d.working_days_to_decision as got, (select count(*)"
        "  from range(d.received_date + 1, d.decision_issued_date + 1, interval 1 day) t(x)"
        "  where isodow(x) < 6 and cast(x as date) not in"
        "   (select date from unrestricted_refined.bank_holidays)) as want"
        " from planning_trusted.decision_times d)",
    )
    assert recount["wrong"] == 0


def test_demo_repairs_sync_matches_the_repairs_system_after_reconciling(demo: Path) -> None:
    import sqlalchemy as sa

    project = Project.load(demo)
    reports = project.store.reconciliations("housing-repairs/drs", limit=100)
    repaired = [r for r in reports if r["stale_repaired"] or r["deleted_repaired"]]
    assert repaired, "the demo's reconciliation should have found and repaired missed changes"
    assert all(r["stale_found"] == r["stale_repaired"] for r in reports)
    engine = sa.create_engine(f"sqlite:///{demo / 'systems' / 'repairs.db'}")
    with engine.connect() as conn:
        source = {
            (r[0], r[1])
            for r in conn.execute(sa.text("SELECT work_order_id, status FROM work_orders"))
        }
    engine.dispose()
    ours = {
        (r["work_order_id"], r["status"])
        for r in _rows(project, "select work_order_id, status from housing_repairs_raw.work_orders")
    }
    assert ours == source
    [check] = _rows(
        project,
        "select (select sum(open_jobs) from housing_repairs_trusted.open_work_orders) as jobs, "
        "(select count(*) from housing_repairs_raw.work_orders "
        " where status not in ('completed', 'cancelled')) as recount",
    )
    assert check["jobs"] == check["recount"] > 0


def test_demo_housing_streams_give_current_tenures_and_their_history(demo: Path) -> None:
    project = Project.load(demo)
    [row] = _rows(
        project,
        "select (select count(*) from housing_refined.tenures) as tenures, "
        "(select count(*) from housing_refined.tenures__history) as versions, "
        "(select count(*) from housing_refined.tenure_household_members) as members, "
        "(select count(*) from housing_raw.tenure_events__rejected) as poison",
    )
    assert row["tenures"] > 100 and row["versions"] > row["tenures"] and row["members"] > 0
    assert row["poison"] > 0  # the simulator's poison messages, kept with their reasons


def test_rerunning_the_demo_loads_nothing_twice(demo: Path) -> None:
    project = Project.load(demo)
    before = _rows(project, "select count(*) as n from housing_raw.rent_accounts")
    summary = build_demo(demo, planning_days=8).summary
    assert summary.ok
    assert _rows(project, "select count(*) as n from housing_raw.rent_accounts") == before
    sources = {s.name: s.result.rows_out for s in summary.steps if s.kind == "source"}
    assert set(sources.values()) == {0}


def test_every_demo_job_transpiles_to_spark_sql(demo: Path) -> None:
    jobs = [j for j in load_jobs(Project.load(demo)) if isinstance(j, SqlJob)]
    assert len(jobs) >= 5
    for job in jobs:
        assert job.transpile(to="spark").strip(), job.name


def test_demo_command_prints_what_was_built_and_how_to_query(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "civiclake", "demo", str(tmp_path / "d"), "--planning-days", "3"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    # one run per planning day, then the run of everything
    assert re.search(r"run \d+: success", out) and "Planning system, day 2 of 3" in out
    assert "housing_trusted.arrears_by_ward" in out
    assert 'civiclake query "select' in out
    assert re.search(r"work_orders: reconciliation found \d+ stale \(\d+ repaired\)", out)
    # serving: a curl line with the demo analyst's token for the SQL API
    assert "civiclake serve" in out and "curl" in out and "Bearer clk_" in out


# -- issue 11: the demo's "PII masked" analyst sees no personal data -------------------------


def _delivered_personal_data(demo: Path) -> tuple[set[str], dict[str, int]]:
    """The real personal values the simulators delivered to housing, read from landing.

    Strings (tenant names and addresses, household members' names, staff names and
    e-mails, phone numbers, e-mails and addresses in contact details) and each
    household member's date of birth (Unix seconds) by their person id.
    """
    import csv
    import json

    landing = demo / "data" / "landing" / "housing"
    strings: set[str] = set()
    born: dict[str, int] = {}
    for path in landing.glob("rent_exports/*/*.csv"):
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                strings.update(
                    row[k].strip() for k in ("Tenant Name", "Property Address") if row.get(k)
                )
    for path in landing.glob("*_events/*/*.ndjson"):
        for line in path.read_bytes().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # one of the simulator's poison messages (not JSON, not UTF-8)
            if not isinstance(event, dict):
                continue
            user = event.get("User") or {}
            strings.update(v for v in (user.get("Name"), user.get("Email")) if v)
            tenure = event.get("Tenure") or {}
            for member in tenure.get("HouseholdMembers") or []:
                strings.add(member["FullName"])
                born[member["Id"]] = member["DateOfBirth"]
            if tenure.get("TenuredAsset"):
                strings.add(tenure["TenuredAsset"]["FullAddress"])
            contact = (event.get("ContactDetails") or {}).get("ContactInformation") or {}
            if contact.get("Value"):
                strings.add(contact["Value"])
    return strings, born


def _records(value: object) -> Iterator[dict[str, object]]:
    """``value`` and every record nested in it (structs, lists of structs)."""
    if isinstance(value, dict):
        yield value
        for inner in value.values():
            yield from _records(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _records(inner)


def _seconds(value: object) -> int | None:
    from datetime import UTC, date, datetime

    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _personal_data_seen(
    project: Project, user: str, datasets: list[str], strings: set[str], born: dict[str, int]
) -> dict[str, set[str]]:
    """``{dataset: {column or field}}`` where ``user`` reads a delivered personal value."""
    seen: dict[str, set[str]] = {}
    for name in datasets:
        for row in run_query(project, f"SELECT * FROM {name}", user=user).read_all().to_pylist():
            for record in _records(row):
                people = {v for v in record.values() if isinstance(v, str) and v in born}
                for key, value in record.items():
                    found = isinstance(value, str) and value in strings
                    found = found or any(_seconds(value) == born[p] for p in people)
                    if found:
                        seen.setdefault(name, set()).add(key)
    return seen


def test_the_demo_keeps_its_masking_key_in_env(demo: Path) -> None:
    """``init_project`` writes the key to ``.env``; the demo adds its own lines after it."""
    from civiclake.access.masking import KEY_ENV, MIN_KEY_CHARS

    env = dict(
        line.split("=", 1)
        for line in (demo / ".env").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert len(env.get(KEY_ENV, "")) >= MIN_KEY_CHARS
    assert "PLANNING_API_PUBLIC_KEY" in env and "REPAIRS_DB_URL" in env


def test_the_demo_pii_masked_analyst_sees_no_personal_data(demo: Path) -> None:
    from civiclake.access import AccessPolicy
    from civiclake.serve.demo import DEMO_ANALYST

    project = Project.load(demo)
    strings, born = _delivered_personal_data(demo)
    assert len(strings) > 1000 and len(born) > 100  # the test has something to find
    policy = AccessPolicy.load(project)
    readable = [i.ref.qualified for i in policy.readable(policy.principal(DEMO_ANALYST))]
    assert {"housing_refined.rent_accounts", "housing_refined.tenure_household_members"} <= set(
        readable
    )
    # with a PII grant the same walk finds them, so finding nothing below means masked
    pii_admin = next(n for n in policy.users if policy.is_admin(n) and policy.users[n][0].pii)
    assert _personal_data_seen(
        project, pii_admin, ["housing_refined.tenure_household_members"], strings, born
    ) == {"housing_refined.tenure_household_members": {"full_name", "date_of_birth"}}
    assert _personal_data_seen(project, DEMO_ANALYST, list(readable), strings, born) == {}
