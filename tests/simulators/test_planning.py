"""The planning API simulator behaves like the real API, and its world is a usable ground truth."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from civiclake.ingest.planning.auth import auth_headers
from civiclake.simulators import SimulatorError
from civiclake.simulators.planning import (
    APPLICATION_COLUMNS,
    NEW_COLUMN,
    TABLES,
    Faults,
    PlanningSimulator,
    PlanningWorld,
)

PUBLIC, PRIVATE = "test-public", "test-private"
START = date(2026, 1, 1)
FOREIGN_KEYS = {
    "application_type_id": "application_types",
    "ward_id": "wards",
    "officer_id": "users",
    "dtf_location_id": "dtf_locations",
    "application_id": "applications",
    "fee_id": "fees",
    "user_id": "users",
    "user_team_id": "user_teams",
    "creation_user_id": "users",
    "last_updated_by": "users",
}


@pytest.fixture(scope="module")
def world() -> PlanningWorld:
    built = PlanningWorld(seed=11, start=START)
    built.advance_to(START + timedelta(days=29))
    return built


@pytest.fixture(scope="module")
def server(world: PlanningWorld) -> Iterator[PlanningSimulator]:
    with PlanningSimulator(world, public_key=PUBLIC, private_key=PRIVATE, page_size=50) as sim:
        yield sim


@pytest.fixture
def sim(server: PlanningSimulator) -> PlanningSimulator:
    """The shared server, with no faults and the clock at noon of day 25."""
    server.set_faults(Faults())
    server.set_today(START + timedelta(days=24))
    return server


_client = httpx.Client(timeout=10)


def get(sim: PlanningSimulator, resource: str, **params: object) -> httpx.Response:
    """A signed request (signed afresh each time, as the token changes every minute)."""
    headers = auth_headers(PUBLIC, PRIVATE)
    return _client.get(f"{sim.url}/{resource}", params=params, headers=headers)  # type: ignore[arg-type]


def get_all(sim: PlanningSimulator, resource: str, **params: object) -> list[dict]:
    first = get(sim, resource, **params)
    if first.status_code == 202:
        return []
    total, per_page = (
        int(first.headers["X-Number-Of-Results"]),
        int(first.headers["X-Results-Per-Page"]),
    )
    records = first.json()
    for page in range(2, -(-total // per_page) + 1):
        records += get(sim, resource, page=page, **params).json()
    return records


# -- auth ------------------------------------------------------------------------------
def test_a_signed_request_is_answered(sim: PlanningSimulator) -> None:
    response = get(sim, "wards")
    assert response.status_code == 200
    assert len(response.json()) == 20


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (auth_headers(PUBLIC, "wrong-private"), "X-Hash"),
        (auth_headers("someone-else", PRIVATE), "public key"),
        ({"X-Public": PUBLIC}, "missing"),
    ],
)
def test_bad_credentials_are_401_with_a_json_error(
    sim: PlanningSimulator, headers: dict[str, str], why: str
) -> None:
    response = httpx.get(f"{sim.url}/wards", headers=headers)
    assert response.status_code == 401
    assert why in response.json()["error"]


def test_a_stale_signature_is_401_but_the_previous_minute_passes(sim: PlanningSimulator) -> None:
    if datetime.now(UTC).second >= 57:  # keep both requests inside one minute
        time.sleep(4)
    now = datetime.now(UTC)
    stale = auth_headers(PUBLIC, PRIVATE, now - timedelta(minutes=5))
    assert httpx.get(f"{sim.url}/wards", headers=stale).status_code == 401
    previous = auth_headers(PUBLIC, PRIVATE, now - timedelta(minutes=1))
    assert httpx.get(f"{sim.url}/wards", headers=previous).status_code == 200


# -- paging and filters ----------------------------------------------------------------
def test_pages_add_up_to_the_number_of_results(
    sim: PlanningSimulator, world: PlanningWorld
) -> None:
    first = get(sim, "applications")
    total = int(first.headers["X-Number-Of-Results"])
    assert first.headers["X-Results-Per-Page"] == "50"
    assert len(first.json()) == 50
    records = get_all(sim, "applications")
    ids = [int(r["id"]) for r in records]
    assert len(ids) == total
    assert ids == sorted(set(ids))
    assert records == world.current("applications", sim.now)
    past_end = get(sim, "applications", page=total // 50 + 2)
    assert past_end.status_code == 200
    assert past_end.json() == []


def test_no_matching_records_is_202_with_an_empty_body(sim: PlanningSimulator) -> None:
    response = get(sim, "applications", last_updated="2019-06-01")
    assert response.status_code == 202
    assert response.content == b""
    assert response.headers["X-Number-Of-Results"] == "0"


def test_last_updated_returns_that_days_current_versions(
    sim: PlanningSimulator, world: PlanningWorld
) -> None:
    day = (sim.now.date() - timedelta(days=1)).isoformat()
    records = get_all(sim, "applications", last_updated=day)
    assert len(records) > 40
    assert all(r["last_updated"].startswith(day) for r in records)
    expected = [r for r in world.current("applications", sim.now) if r["last_updated"][:10] == day]
    assert records == expected
    # An id updated that day and again since is not in that day's increment.
    newer = {
        r["id"] for r in world.current("applications", sim.now) if r["last_updated"][:10] > day
    }
    touched = {v["id"] for v in world.versions("applications") if v["last_updated"][:10] == day}
    assert touched & newer
    assert not {r["id"] for r in records} & newer


def test_records_updated_earlier_today_are_served_later_ones_not(sim: PlanningSimulator) -> None:
    today = sim.now.date().isoformat()
    records = get_all(sim, "applications", last_updated=today)
    assert records, "the morning's updates are visible"
    assert max(r["last_updated"] for r in records) <= sim.now.isoformat(sep=" ")
    sim.set_now(datetime.combine(sim.now.date(), datetime.max.time()).replace(microsecond=0))
    assert len(get_all(sim, "applications", last_updated=today)) > len(records)


@pytest.mark.parametrize(
    ("resource", "params", "status"),
    [
        ("planets", {}, 404),
        ("applications", {"last_updated": "2026-13-01"}, 400),
        ("applications", {"page": "0"}, 400),
        ("applications", {"page": "two"}, 400),
    ],
)
def test_bad_requests_get_json_errors(
    sim: PlanningSimulator, resource: str, params: dict[str, str], status: int
) -> None:
    response = get(sim, resource, **params)
    assert response.status_code == status
    assert response.json()["error"]


# -- the data --------------------------------------------------------------------------
def test_every_value_is_a_string_or_null(sim: PlanningSimulator) -> None:
    for table in TABLES:
        for record in get(sim, table).json():
            for key, value in record.items():
                if key == "agent" and value is not None:
                    assert all(isinstance(v, str) for v in value.values())
                else:
                    assert value is None or isinstance(value, str), (table, key, value)
                    assert record["ceased"] in ("true", "false")


def test_applications_look_like_the_real_table(sim: PlanningSimulator) -> None:
    records = get_all(sim, "applications")
    assert len(APPLICATION_COLUMNS) >= 40
    assert all(set(APPLICATION_COLUMNS) <= set(r) for r in records)
    sample = records[-1]
    assert re.fullmatch(r"\d{4}/\d{4,}", sample["application_reference_number"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", sample["last_updated"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", sample["received_date"])
    assert float(sample["site_address_x"]) > 500_000 and float(sample["site_address_y"]) > 0
    assert 200 < len(sample["gis_map_image_base64"]) < 1000
    assert any(
        r["agent"] and set(r["agent"]) == {"name", "company", "email", "phone"} for r in records
    )
    decided = [r for r in records if r["application_stage"] == "Decision issued"]
    assert decided and all(r["decision_issued_date"] and r["decision_type"] for r in decided)
    # ~2,000 at start plus ~40 a day.
    assert 2000 + 24 * 30 <= len(records) <= 2000 + 25 * 50


def test_foreign_keys_point_at_served_records(sim: PlanningSimulator, world: PlanningWorld) -> None:
    served = {table: world.current(table, sim.now) for table in TABLES}
    ids = {table: {r["id"] for r in records} for table, records in served.items()}
    checked = 0
    for table, records in served.items():
        for record in records:
            for column, target in FOREIGN_KEYS.items():
                if record.get(column) is not None:
                    assert record[column] in ids[target], (table, record["id"], column)
                    checked += 1
    assert checked > 30_000


def test_every_version_refers_to_records_already_visible(world: PlanningWorld) -> None:
    born = {
        table: {v["id"]: v["_visible_from"] for v in reversed(world.versions(table))}
        for table in TABLES
    }
    for table in TABLES:
        for version in world.versions(table):
            for column, target in FOREIGN_KEYS.items():
                if version.get(column) is not None:
                    assert born[target][version[column]] <= version["_visible_from"], (
                        table,
                        version["id"],
                        column,
                    )


def test_the_same_seed_gives_the_same_world_however_it_is_advanced() -> None:
    stepped = PlanningWorld(seed=3, start=START)
    for day in range(1, 9, 3):
        stepped.advance_to(START + timedelta(days=day))
    at_once = PlanningWorld(seed=3, start=START)
    at_once.advance_to(START + timedelta(days=7))
    at = datetime.combine(START + timedelta(days=7), datetime.min.time()) + timedelta(hours=15)
    for table in TABLES:
        assert stepped.current(table, at) == at_once.current(table, at), table
    assert stepped.versions("applications") == at_once.versions("applications")
    other = PlanningWorld(seed=4, start=START)
    assert other.current("applications", at) != at_once.current("applications", at)


def test_updates_favour_recent_records_and_repeat_within_a_day(world: PlanningWorld) -> None:
    versions = world.versions("applications")
    first_seen: dict[str, str] = {}
    for v in versions:
        first_seen.setdefault(v["id"], v["last_updated"])
    days: dict[tuple[str, str], set[str]] = {}
    for v in versions:
        if v["last_updated"] >= "2026-01-01" and v["last_updated"] != first_seen[v["id"]]:
            days.setdefault((v["id"], v["last_updated"][:10]), set()).add(v["last_updated"])
    assert 60 * 29 <= len(days) <= 100 * 29
    assert any(len(stamps) >= 2 for stamps in days.values())
    recent = sum(first_seen[i] >= "2025-09-01" for i, _ in days)  # ~ newest tenth
    assert recent / len(days) > 0.75


def test_a_late_update_appears_only_once_visible(
    sim: PlanningSimulator, world: PlanningWorld
) -> None:
    late = next(
        v
        for v in world.versions("applications")
        if v["_visible_from"].date() > date.fromisoformat(v["last_updated"][:10]) >= START
    )
    day = late["last_updated"][:10]
    sim.set_now(late["_visible_from"] - timedelta(seconds=1))
    before = {r["id"]: r for r in get_all(sim, "applications", last_updated=day)}
    assert before.get(late["id"], {}).get("last_updated") != late["last_updated"]
    sim.set_now(late["_visible_from"])
    after = {r["id"]: r for r in get_all(sim, "applications", last_updated=day)}
    assert after[late["id"]] == {k: v for k, v in late.items() if k != "_visible_from"}


def test_ceased_records_are_served_as_ceased(sim: PlanningSimulator, world: PlanningWorld) -> None:
    ceased = [v for v in world.versions("applications") if v["ceased"] == "true"]
    assert ceased
    served = {r["id"]: r for r in get_all(sim, "applications")}
    shown = [v for v in ceased if v["_visible_from"] <= sim.now]
    for version in shown:
        record = served[version["id"]]
        assert record["ceased"] == "true"
        assert record["ceased_date"] == version["ceased_date"] == version["last_updated"]
    history = [v for v in world.versions("applications") if v["id"] == shown[0]["id"]]
    assert history[0]["ceased"] == "false"
    assert any(
        v["ceased"] == "true"
        for v in world.versions("user_team_map") + world.versions("fee_payments")
    )


def test_applications_gain_a_column_on_the_20th_day(
    sim: PlanningSimulator, world: PlanningWorld
) -> None:
    change = world.new_column_date
    assert change == START + timedelta(days=19)
    for v in world.versions("applications"):
        has = NEW_COLUMN in v
        assert has == (v["last_updated"][:10] >= change.isoformat()), v["last_updated"]
        if has:
            assert v[NEW_COLUMN] in ("true", "false")
    sim.set_today(change - timedelta(days=1))
    assert not any(NEW_COLUMN in r for r in get(sim, "applications", page=90).json())
    sim.set_today(change)
    fresh = get_all(sim, "applications", last_updated=change.isoformat())
    assert fresh and all(NEW_COLUMN in r for r in fresh)


def test_sixty_days_build_quickly() -> None:
    began = time.perf_counter()
    PlanningWorld(seed=1, start=START).advance_to(START + timedelta(days=59))
    assert time.perf_counter() - began < 2.0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(SimulatorError, match="scale"):
        PlanningWorld(seed=1, start=START, scale=0)
    with pytest.raises(SimulatorError, match="fail_rate"):
        Faults(fail_rate=1.5)


# -- faults and the admin API ----------------------------------------------------------
def test_failing_pages_answer_500_until_cleared(sim: PlanningSimulator) -> None:
    sim.set_faults(Faults(fail_pages={"applications": [2]}))
    assert get(sim, "applications", page=1).status_code == 200
    assert get(sim, "applications", page=2).status_code == 500
    assert get(sim, "fees", page=2).status_code == 200
    sim.set_faults(Faults())
    assert get(sim, "applications", page=2).status_code == 200


def test_rate_limits_fails_and_timeouts(sim: PlanningSimulator) -> None:
    sim.set_faults(Faults(rate_limit_rate=1.0))
    limited = get(sim, "wards")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    sim.set_faults(Faults(fail_rate=1.0))
    assert get(sim, "wards").status_code == 500
    sim.set_faults(Faults(timeout_rate=1.0, timeout_seconds=0.3))
    began = time.perf_counter()
    assert get(sim, "wards").status_code == 200
    assert time.perf_counter() - began >= 0.3
    sim.set_faults(Faults(fail_rate=0.3, seed=5))
    codes = [get(sim, "wards").status_code for _ in range(40)]
    assert 3 <= codes.count(500) <= 25 and codes.count(200) == 40 - codes.count(500)


def test_the_admin_api_drives_clock_and_faults(sim: PlanningSimulator) -> None:
    admin = sim.url.removesuffix("/rest/v1") + "/_sim"
    state = httpx.post(f"{admin}/clock", json={"today": "2026-01-10"}).json()
    assert state["now"] == "2026-01-10T12:00:00"
    assert sim.now == datetime(2026, 1, 10, 12)
    httpx.post(f"{admin}/clock", json={"now": "2026-01-12T08:30:00"})
    state = httpx.get(f"{admin}/state").json()
    assert state["today"] == "2026-01-12"
    assert state["counts"]["wards"] == 20
    assert state["counts"]["applications"] == len(get_all(sim, "applications"))
    assert httpx.post(f"{admin}/clock", json={"when": "noon"}).status_code == 400
    answer = httpx.post(f"{admin}/faults", json={"fail_pages": {"fees": [1]}})
    assert answer.json()["fail_pages"] == {"fees": [1]}
    assert get(sim, "fees").status_code == 500
    assert httpx.post(f"{admin}/faults", json={"fail_rate": 2}).status_code == 400
    assert httpx.post(f"{admin}/faults", json={"explode": True}).status_code == 400


def test_the_cli_serves_until_sigterm() -> None:
    command = [sys.executable, "-m", "civiclake", "simulate", "planning-api", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://\S+/rest/v1", line)
        assert url, line
        headers = auth_headers("demo-public", "demo-private")
        response = httpx.get(f"{url.group(0)}/applications", headers=headers, timeout=10)
        assert response.status_code == 200
        state = httpx.get(url.group(0).removesuffix("/rest/v1") + "/_sim/state").json()
        assert state["today"] == "2026-01-31"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
