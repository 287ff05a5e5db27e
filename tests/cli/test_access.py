"""`civiclake access grant|revoke|show|token|audit` and `civiclake query --as`."""

from __future__ import annotations

import pytest

from civiclake.access.tokens import token_hash
from civiclake.cli import main
from civiclake.project import Project

from ._support import cli


def test_grant_show_revoke(
    council: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    p = str(council.dir)
    code, text = cli(
        capsys, "access", "grant", "zoe", "-d", "parking", "--role", "analyst", "-p", p
    )
    assert code == 0 and "Added user zoe: analyst in parking (PII masked)" in text
    code, text = cli(capsys, "access", "show", "hana", "-p", p)
    assert "housing_trusted.tenants" in text and "name" in text
    assert "planning_refined" not in text and "unrestricted_trusted.wards" in text
    code, text = cli(capsys, "access", "grant", "zoe", "-d", "parkin", "-p", p)
    assert code == 1 and "did you mean" in text.lower()
    code, text = cli(capsys, "access", "revoke", "zoe", "-p", p)
    assert code == 0 and "Revoked 1 grant of zoe" in text
    code, text = cli(capsys, "access", "grant", "Bad Name", "-d", "parking", "-p", p)
    assert code == 1 and "not allowed" in text


def test_tokens_are_printed_once_and_stored_hashed(
    council: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code = 0
    try:
        main(["access", "token", "create", "hana", "-p", str(council.dir)])
    except SystemExit as exc:
        code = int(exc.code or 0)
    token = capsys.readouterr().out.strip()
    assert code == 0 and token.startswith("clk_")
    stored = council.store.tokens("hana")[0]
    assert token not in str(stored)
    assert council.store.token_user(token_hash(token)) == "hana"
    cli(capsys, "access", "token", "revoke", "hana", "-p", str(council.dir))
    assert council.store.token_user(token_hash(token)) is None
    code, text = cli(capsys, "access", "token", "create", "nobody", "-p", str(council.dir))
    assert code == 1 and "unknown user" in text


def test_query_as_a_user(
    council: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    p = str(council.dir)
    sql = "SELECT name FROM housing_trusted.tenants ORDER BY id"
    code, text = cli(capsys, "query", sql, "--as", "eli", "-f", "csv", "-p", p)
    assert code == 0 and "Ann Lee" in text
    code, text = cli(capsys, "query", sql, "--as", "hana", "-f", "csv", "-p", p)
    assert code == 0 and "Ann Lee" not in text
    monkeypatch.setenv("CIVICLAKE_USER", "hana")
    code, text = cli(capsys, "query", "SELECT * FROM planning_refined.applications", "-p", p)
    assert code == 1 and "hana has no role in planning" in text
    code, text = cli(capsys, "access", "audit", "-p", p)
    assert code == 0 and "hana" in text and "eli" in text
