"""The second wall: what a person's session can reach even if SQL got past the guard.

These tests send SQL straight to the session (no guard), as a guard bypass would,
and check DuckDB itself refuses (issue 11: a housing analyst read every department's
files because the session allowed the whole storage root).
"""

from __future__ import annotations

import pytest

from civiclake import Project
from civiclake.access import AccessPolicy
from civiclake.access.session import open_session
from civiclake.engines.duckdb import DuckDBSession
from civiclake.engines.exceptions import EngineError
from civiclake.storage import DatasetRef


def hana_session(council: Project, *refs: DatasetRef) -> DuckDBSession:
    policy = AccessPolicy.load(council)
    session = open_session(council, policy, policy.principal("hana"), refs)
    assert isinstance(session, DuckDBSession)
    session.lock_down()
    return session


def raw(session: DuckDBSession, sql: str) -> list[tuple[object, ...]]:
    """SQL run without the guard, as a bypass would."""
    return session.sql(sql).read_all().to_pylist()  # type: ignore[return-value]


def test_a_bypass_cannot_open_other_departments_or_zones(council: Project) -> None:
    wards = council.dataset("unrestricted", "trusted", "wards")
    session = hana_session(council, wards)
    root = council.layout.root
    for path in (
        f"{root}/refined/planning/applications/**/*.parquet",
        f"{root}/raw/housing/rent_lines/**/*.parquet",
        f"{root}/**/*.parquet",
    ):
        with pytest.raises(EngineError, match=r"Permission|not allowed|disabled"):
            raw(session, f"SELECT * FROM read_parquet('{path}')")
    with pytest.raises(EngineError):
        raw(session, "SELECT * FROM read_text('/etc/passwd')")
    # its own readable dataset's files are the only ones it may open
    own = raw(
        session,
        f"SELECT count(*) AS n FROM read_parquet('{root}/trusted/unrestricted/wards/**/*.parquet')",
    )
    assert own == [{"n": 2}]


def test_a_masked_datasets_files_cannot_be_read_unmasked(council: Project) -> None:
    tenants = council.dataset("housing", "trusted", "tenants")
    session = hana_session(council, tenants)
    shown = raw(session, "SELECT name FROM housing_trusted.tenants ORDER BY id")
    assert "Ann Lee" not in {r["name"] for r in shown}  # type: ignore[index]
    root = council.layout.root
    with pytest.raises(EngineError, match=r"Permission|not allowed"):
        raw(
            session, f"SELECT name FROM read_parquet('{root}/trusted/housing/tenants/**/*.parquet')"
        )
    # the view text names neither the files nor a key
    views = raw(session, "SELECT sql FROM duckdb_views() WHERE schema_name = 'housing_trusted'")
    text = " ".join(str(v["sql"]) for v in views)  # type: ignore[index]
    assert root not in text and ".parquet" not in text
    assert council.config.access.masking_key is not None
    assert council.config.access.masking_key.reveal() not in text


def test_every_cursor_is_locked_like_the_session(council: Project) -> None:
    session = hana_session(council, council.dataset("housing", "trusted", "tenants"))
    cursor = session.cursor()
    settings = dict(
        cursor.sql(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('python_enable_replacements',"
            " 'max_expression_depth', 'enable_external_access', 'lock_configuration',"
            " 'autoload_known_extensions')"
        ).fetchall()
    )
    assert settings == {
        "python_enable_replacements": "false",
        "max_expression_depth": "250",
        "enable_external_access": "false",
        "lock_configuration": "true",
        "autoload_known_extensions": "false",
    }
    import duckdb

    with pytest.raises(duckdb.Error):
        cursor.execute("SET enable_external_access = true")
    # the masked view works on a cursor too (its Arrow source is registered there)
    names = cursor.sql("SELECT name FROM housing_trusted.tenants ORDER BY id").fetchall()
    assert len(names) == 3 and ("Ann Lee",) not in names


def test_masks_are_keyed_and_differ_by_department(council: Project) -> None:
    from civiclake.access.masking import Masker

    policy = AccessPolicy.load(council)
    masker = policy.masker
    assert masker.mask_text("housing", "Ann Lee") != masker.mask_text("planning", "Ann Lee")
    other = Masker("hash", "another key that is long enough to be used here")
    assert other.mask_text("housing", "Ann Lee") != masker.mask_text("housing", "Ann Lee")
    import hashlib

    assert masker.mask_text("housing", "Ann Lee") not in {
        hashlib.sha256(b"Ann Lee").hexdigest()[:16],
        hashlib.md5(b"Ann Lee").hexdigest()[:16],
    }
    session = hana_session(council, council.dataset("housing", "trusted", "tenants"))
    shown = raw(session, "SELECT name FROM housing_trusted.tenants ORDER BY id")
    assert shown[0]["name"] == masker.mask_text("housing", "Ann Lee")  # type: ignore[call-overload]


def test_a_missing_masking_key_is_an_error_not_an_unkeyed_hash(
    council: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from civiclake.access.masking import KEY_ENV
    from civiclake.exceptions import ConfigError
    from civiclake.query import run_query

    monkeypatch.delenv(KEY_ENV)
    (council.dir / ".env").unlink()
    project = Project.load(council.dir)
    with pytest.raises(ConfigError, match=KEY_ENV):
        run_query(project, "SELECT name FROM housing_trusted.tenants", user="hana").read_all()
    # a user granted PII needs no key: nothing is masked for them
    got = run_query(project, "SELECT name FROM housing_trusted.tenants", user="eli").read_all()
    assert "Ann Lee" in got.column("name").to_pylist()


def test_masking_a_column_equals_masking_each_value() -> None:
    """The fast column path (HMAC from prepared pads) is RFC 2104 HMAC, value for value."""
    import hashlib
    import hmac

    import pyarrow as pa

    from civiclake.access.masking import Masker

    masker = Masker("hash", "k" * 40)
    values = ["Ann Lee", None, "Bo Chan", "Ann Lee", "", "Zoë 😀"]
    column = masker.mask_array("housing", pa.array(values)).to_pylist()
    assert column == [masker.mask_text("housing", v) for v in values]
    key = masker.department_key("housing")
    assert column[0] == hmac.new(key, b"Ann Lee", hashlib.sha256).hexdigest()[:16]
    assert column[1] is None and column[0] == column[3]
