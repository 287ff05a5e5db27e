"""Issue 11 in the warehouse, attacked with the real ``psql`` as the people who would try.

* masks: no key material in any view, a dictionary of names hashed every plausible way
  matches no masked value, and a masked value is the one the SQL API returns;
* two projects on one server: neither revokes the other's logins, and a role civiclake
  did not create (or another project's) is refused, never taken over;
* a user without grants, or removed, can no longer log in;
* the service account: refused when it could escape the database, and with the
  documented bootstrap it cannot grant itself ``pg_execute_server_program``.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from civiclake import Project, init_project
from civiclake.access.masking import Masker
from civiclake.config.secrets import generate_masking_key as generate_key
from civiclake.exceptions import ConfigError
from civiclake.publish import WarehouseError, publish, set_login_password, sync_access

from .conftest import Warehouse, attach, drop_namespace

NAMES = ["Ann Lee", "Bo Chan", "Cy Dune", "Di Fox", "Di Fox-Hart", "Ed Gray"]
"""The council fixture's PII values: an attacker's dictionary certainly holds them."""


def _masked(warehouse: Warehouse, user: str, password: str, sql: str) -> list[str]:
    done = warehouse.psql(user, password, sql)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def _key(project: Project) -> str:
    secret = project.config.access.masking_key
    assert secret is not None
    return secret.reveal()


# -- finding 1: masking ----------------------------------------------------------------
def test_masked_views_hold_no_key_and_resist_a_dictionary(warehouse: Warehouse) -> None:
    from civiclake.query import run_query

    project = warehouse.project
    publish(project)
    _, hana = set_login_password(project, "hana")
    _, pat = set_login_password(project, "pat")
    key = _key(project)
    masker = Masker("hash", key)

    # what any login can read about the views: their full text
    views = _masked(
        warehouse,
        "hana",
        hana,
        "SELECT schemaname || '.' || viewname || ': ' || pg_get_viewdef(c.oid) FROM pg_views v "
        "JOIN pg_class c ON c.relname = v.viewname "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = v.schemaname "
        "WHERE schemaname LIKE '%\\_masked'",
    )
    text = " ".join(views).lower()
    assert "housing_trusted_masked.tenants" in text and "applications__history" in text
    secrets = [key, masker.department_key("housing").hex(), masker.department_key("planning").hex()]
    assert not any(s.lower() in text for s in secrets)
    for word in ("sha", "md5", "digest", "hmac", "crypt", "salt", "encode"):
        assert word not in text, word

    # the values: the civiclake mask, the same one the SQL API hands hana
    tenants = _masked(
        warehouse,
        "hana",
        hana,
        "SELECT coalesce(name, 'NULL') FROM housing_trusted_masked.tenants ORDER BY id",
    )
    assert tenants == [
        masker.mask_text("housing", "Ann Lee"),
        masker.mask_text("housing", "Bo Chan"),
        "NULL",
    ]
    api = run_query(project, "SELECT name FROM housing_trusted.tenants ORDER BY id", user="hana")
    assert tenants[:2] == api.read_all().column("name").to_pylist()[:2]
    history = _masked(
        warehouse,
        "pat",
        pat,
        "SELECT applicant FROM planning_refined_masked.applications__history ORDER BY _seq",
    )
    assert history == [
        masker.mask_text("planning", v)
        for v in ["Cy Dune", "Di Fox", "Ed Gray", "Di Fox-Hart"]  # Ed Gray's delete: no row
    ]
    api = run_query(
        project,
        "SELECT applicant FROM planning_refined.applications__history ORDER BY _seq",
        user="pat",
    )
    assert history == api.read_all().column("applicant").to_pylist()

    # a dictionary attack: every candidate hashed every plausible way matches nothing
    wrong = Masker("hash", generate_key())
    guesses = set()
    for name in NAMES + [n.lower() for n in NAMES] + [n.upper() for n in NAMES]:
        raw = name.encode()
        for salt in (b"", b"civiclake", key.encode(), b"housing", b"planning"):
            for data in (salt + raw, raw + salt):
                guesses.add(hashlib.sha256(data).hexdigest()[:16])
                guesses.add(hashlib.md5(data).hexdigest()[:16])
                guesses.add(hashlib.sha1(data).hexdigest()[:16])
        guesses.add(hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()[:16])  # the key itself
        for dept in ("housing", "planning"):
            guesses.add(wrong.mask_text(dept, name) or "")
    assert not guesses & (set(tenants) | set(history))


def test_hash_masking_without_a_key_is_an_error_not_an_unsalted_hash(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = warehouse.project.dir / "civiclake.yaml"
    config.write_text(config.read_text().replace("masking_key: ${CIVICLAKE_MASKING_KEY}", ""))
    project = Project.load(warehouse.project.dir)
    try:
        with pytest.raises(ConfigError, match="no masking key"):
            publish(project)
        assert warehouse.rows("SELECT 1 FROM pg_namespace WHERE nspname = 'housing_trusted'") == []
        # redact needs no key, and shows *** in PostgreSQL as in the SQL API
        config.write_text(config.read_text().replace("masking: hash", "masking: redact"))
        redacting = Project.load(warehouse.project.dir)
        try:
            publish(redacting)
            _, hana = set_login_password(redacting, "hana")
            shown = _masked(
                warehouse,
                "hana",
                hana,
                "SELECT coalesce(name, 'NULL') FROM housing_trusted_masked.tenants ORDER BY id",
            )
            assert shown == ["***", "***", "NULL"]
        finally:
            redacting.store.close()
    finally:
        project.store.close()


def test_a_new_masking_key_republishes_the_masks(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = warehouse.project
    publish(project)
    new_key = generate_key()
    monkeypatch.setenv("CIVICLAKE_MASKING_KEY", new_key)
    rekeyed = Project.load(project.dir)
    try:
        modes = {r.dataset: r.mode for r in publish(rekeyed)}
        assert modes["housing_trusted.tenants"] == "full"
        assert modes["planning_refined.applications"] == "full"
        assert modes["unrestricted_trusted.wards"] == "unchanged"
        _, hana = set_login_password(rekeyed, "hana")
        shown = _masked(
            warehouse, "hana", hana, "SELECT name FROM housing_trusted_masked.tenants WHERE id = 1"
        )
        assert shown == [Masker("hash", new_key).mask_text("housing", "Ann Lee")]
    finally:
        rekeyed.store.close()


# -- finding 2: one server, several projects -------------------------------------------
@pytest.fixture
def second(tmp_path: Path, postgres_server: str) -> Any:
    """Another council project (same name, same user ``hana``) in another database."""
    import uuid

    import psycopg

    database = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    root = init_project(tmp_path / "second" / "council", departments=["housing"])
    project = Project.load(root)
    project.catalog.write(
        project.dataset("housing", "trusted", "tenants"),
        pa.table({"id": [7], "name": ["Zed Orr"]}),
        mode="overwrite",
        producer="test",
        pii=["name"],
    )
    project.store.add_user("hana")
    project.store.set_grant("hana", "housing", "analyst", False)
    project.store.close()
    found = attach(root, postgres_server.rsplit("/", 1)[0] + "/" + database)
    try:
        yield found
    finally:
        found.project.store.close()
        drop_namespace(found)
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_two_projects_on_one_server_keep_each_others_logins(
    warehouse: Warehouse, second: Warehouse
) -> None:
    first = warehouse
    assert first.project.config.name == second.project.config.name  # same name, other db
    assert first.login("hana") != second.login("hana")
    publish(first.project)
    _, one = set_login_password(first.project, "hana")
    publish(second.project)
    _, two = set_login_password(second.project, "hana")
    for _ in range(2):  # alternately, each publish re-syncs every role of its own
        publish(first.project)
        publish(second.project)
        assert _masked(
            first, "hana", one, "SELECT count(*) FROM housing_trusted_masked.tenants"
        ) == ["3"]
        assert _masked(
            second, "hana", two, "SELECT count(*) FROM housing_trusted_masked.tenants"
        ) == ["1"]
        assert _masked(first, "hana", one, "SELECT count(*) FROM unrestricted_trusted.wards") == [
            "2"
        ]
    members = dict(
        first.rows(
            "SELECT u.rolname, array_agg(g.rolname ORDER BY g.rolname) FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
            f"WHERE u.rolname IN ('{first.login('hana')}', '{second.login('hana')}') "
            "AND u.rolcanlogin GROUP BY 1"
        )
    )
    assert members == {
        first.login("hana"): [first.prefix + "housing_ro", first.prefix + "public_ro"],
        second.login("hana"): [second.prefix + "housing_ro", second.prefix + "public_ro"],
    }
    # removing hana from the second project drops that login only
    second.project.store.remove_grant("hana")
    sync_access(second.project)
    assert _masked(first, "hana", one, "SELECT count(*) FROM housing_trusted_masked.tenants") == [
        "3"
    ]


def test_a_role_civiclake_did_not_create_is_refused_not_hijacked(warehouse: Warehouse) -> None:
    import psycopg

    stranger = warehouse.login("hana")
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{stranger}\" LOGIN PASSWORD 'theirs'")
    with pytest.raises(WarehouseError, match=f"{stranger}.*not created by civiclake"):
        publish(warehouse.project)
    row = warehouse.rows(
        "SELECT rolcanlogin, shobj_description(oid, 'pg_authid'), "
        "(SELECT count(*) FROM pg_auth_members WHERE member = r.oid) "
        f"FROM pg_roles r WHERE rolname = '{stranger}'"
    )
    assert row == [(True, None, 0)]  # untouched: still its owner's, no memberships given
    with pytest.raises(WarehouseError, match="not created by civiclake"):
        set_login_password(warehouse.project, "hana")
    # the bootstrap's functions refuse it too, in the server
    done = warehouse.service_psql(f"SELECT _civiclake_roles.set_login('{stranger}', false)")
    assert done.returncode != 0 and "not a login of this project" in done.stderr
    assert warehouse.psql("hana", "theirs", "SELECT 1").returncode == 0


def test_another_projects_roles_are_refused(warehouse: Warehouse, second: Warehouse) -> None:
    publish(warehouse.project)
    _, one = set_login_password(warehouse.project, "hana")
    # the second project configured onto the first one's prefix
    config = second.project.dir / "civiclake.yaml"
    config.write_text(config.read_text() + f"  role_prefix: {warehouse.prefix}\n")
    clash = Project.load(second.project.dir)
    try:
        with pytest.raises(WarehouseError, match="another civiclake namespace") as caught:
            publish(clash)
        assert warehouse.prefix in str(caught.value)
    finally:
        clash.store.close()
    assert _masked(
        warehouse, "hana", one, "SELECT count(*) FROM housing_trusted_masked.tenants"
    ) == ["3"]


def test_the_default_prefix_keeps_role_names_within_63_bytes() -> None:
    from civiclake.publish.roles import RoleNames

    names = RoleNames.for_project("A Very Long Council Project Name " * 3, "warehouse_" * 8, None)
    assert len(names.prefix) <= 30 and names.prefix.endswith("_")
    long_user = "u" * 80
    assert len(names.login(long_user).encode()) <= 63
    assert names.login(long_user) != names.login("u" * 79)
    other = RoleNames.for_project("A Very Long Council Project Name " * 3, "warehouse_" * 7, None)
    assert other.prefix != names.prefix


# -- finding 3: no grants, no login ----------------------------------------------------
def test_revoking_every_grant_drops_the_login(warehouse: Warehouse) -> None:
    project = warehouse.project
    publish(project)
    _, password = set_login_password(project, "hana")
    assert warehouse.psql("hana", password, "SELECT 1").returncode == 0
    project.store.remove_grant("hana")
    notes = sync_access(project)  # what `civiclake access revoke` calls; publish does too
    assert any(warehouse.login("hana") in n and "dropped" in n for n in notes)
    refused = warehouse.psql("hana", password, "SELECT 1")
    assert refused.returncode != 0 and "authentication failed" in refused.stderr
    assert (
        warehouse.rows(f"SELECT 1 FROM pg_roles WHERE rolname = '{warehouse.login('hana')}'") == []
    )
    with pytest.raises(WarehouseError, match="no grants"):
        set_login_password(project, "hana")


def test_a_removed_user_cannot_log_in_even_when_the_role_cannot_be_dropped(
    warehouse: Warehouse, postgres_server: str
) -> None:
    import psycopg

    project = warehouse.project
    publish(project)
    _, password = set_login_password(project, "eli")
    login = warehouse.login("eli")
    with psycopg.connect(warehouse.url, autocommit=True) as conn:  # a privilege elsewhere
        conn.execute(f'GRANT CONNECT ON DATABASE postgres TO "{login}"')
    assert project.store.delete_user("eli") is not None
    found: list[str] = []
    publish(project, notes=found)
    assert any(login in n and "NOLOGIN" in n for n in found)
    refused = warehouse.psql("eli", password, "SELECT 1")
    assert refused.returncode != 0 and (
        "not permitted to log in" in refused.stderr or "authentication failed" in refused.stderr
    )
    assert warehouse.rows(
        f"SELECT rolcanlogin, rolpassword IS NULL, (SELECT count(*) FROM pg_auth_members "
        f"WHERE member = a.oid) FROM pg_authid a WHERE rolname = '{login}'"
    ) == [(False, True, 0)]


# -- finding 4: the service account ------------------------------------------------------
def test_the_bootstrapped_service_account_cannot_grant_itself_server_programs(
    warehouse: Warehouse,
) -> None:
    publish(warehouse.project)
    svc = warehouse.service
    for sql in (
        f'GRANT pg_execute_server_program TO "{svc}"',
        f'GRANT pg_read_server_files TO "{svc}"',
        f'ALTER ROLE "{svc}" CREATEROLE',
        "CREATE ROLE intruder LOGIN",
        "SELECT _civiclake_roles.ensure_role('pg_execute_server_program', 'group')",
        f"SELECT _civiclake_roles.ensure_role('{warehouse.prefix}x'' SUPERUSER --', 'login')",
        f"SELECT _civiclake_roles.set_password('{warehouse.login('hana')}', 'plain-text')",
        f"SELECT _civiclake_roles.drop_role('{warehouse.prefix}public_ro')",
        f'SET ROLE "{warehouse.prefix}_roleadmin"',
        "COPY (SELECT 1) TO PROGRAM 'id'",
    ):
        done = warehouse.service_psql(sql)
        assert done.returncode != 0, sql
    assert warehouse.rows(
        f"SELECT pg_has_role('{svc}', 'pg_execute_server_program', 'MEMBER')"
    ) == [(False,)]


def _as(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, url: str) -> Project:
    monkeypatch.setenv(warehouse.env, url)
    return Project.load(warehouse.project.dir)


def test_a_superuser_or_dangerous_service_account_is_refused(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    superuser = _as(warehouse, monkeypatch, warehouse.url)
    try:
        with pytest.raises(WarehouseError, match="is a superuser"):
            publish(superuser)
    finally:
        superuser.store.close()
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        conn.execute(f'GRANT pg_read_server_files TO "{warehouse.service}"')
    project = _as(warehouse, monkeypatch, warehouse.service_url)
    try:
        with pytest.raises(WarehouseError, match="pg_read_server_files"):
            publish(project)
        with psycopg.connect(warehouse.url, autocommit=True) as conn:
            conn.execute(f'REVOKE pg_read_server_files FROM "{warehouse.service}"')
            conn.execute(f'ALTER ROLE "{warehouse.service}" CREATEROLE')
            version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None
        if int(version[0]) < 160000:
            # PG <= 15: CREATEROLE could grant pg_execute_server_program, so it is refused
            with pytest.raises(WarehouseError, match=r"CREATEROLE.*pg_execute_server_program"):
                publish(project)
        else:  # PG 16+: CREATEROLE only reaches the roles it created
            publish(project)
    finally:
        project.store.close()


def test_the_bootstrap_sql_holds_no_secret(warehouse: Warehouse) -> None:
    from urllib.parse import urlsplit

    from civiclake.publish import bootstrap_sql

    text = bootstrap_sql(warehouse.project)
    assert (urlsplit(warehouse.service_url).password or "x") not in text
    assert _key(warehouse.project) not in text
    assert "CREATEROLE" in text and "NOCREATEROLE" in text
