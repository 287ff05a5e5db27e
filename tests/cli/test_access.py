"""`civiclake access grant|revoke|show|token|audit` and `civiclake query --as`."""

from __future__ import annotations

import pytest

from civiclake import Project
from civiclake.access.tokens import token_hash
from civiclake.cli import main

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


# -- issue 11 ------------------------------------------------------------------------------
def _login(monkeypatch: pytest.MonkeyPatch, login: str) -> None:
    """Pretend the OS login running the CLI is ``login``."""
    from civiclake.access import policy

    monkeypatch.setattr(policy, "_login_name", lambda: login)


def test_the_first_grant_keeps_whoever_ran_it_as_admin(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _login(monkeypatch, "mo")
    p = str(project.dir)
    code, text = cli(capsys, "access", "grant", "hana", "-d", "housing", "-p", p)
    assert code == 0 and "Added user hana: analyst in housing" in text
    assert "you (mo) are now admin of every department" in " ".join(text.split())
    assert [(g["user_name"], g["department"], g["role"]) for g in project.store.grants("mo")] == [
        ("mo", "*", "admin")
    ]
    code, text = cli(capsys, "query", "SELECT 1 AS one", "-f", "csv", "-p", p)
    assert code == 0 and "one" in text  # still in: mo queries as themself
    code, text = cli(capsys, "query", "SELECT 1 AS one", "--as", "hana", "-f", "csv", "-p", p)
    assert code == 0  # and, as an admin, may act as hana
    code, text = cli(capsys, "access", "grant", "eli", "-d", "housing", "-p", p)
    assert code == 0 and "now admin" not in text  # only the first grant does it


def test_the_first_grant_to_yourself_is_just_that(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _login(monkeypatch, "mo")
    code, text = cli(capsys, "access", "grant", "mo", "-d", "housing", "-p", str(project.dir))
    assert code == 0 and "now admin" not in text
    assert [g["department"] for g in project.store.grants("mo")] == ["housing"]


def test_user_remove_takes_grants_and_tokens_and_keeps_the_audit(
    council: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    from civiclake.access.tokens import issue_token
    from civiclake.query import run_query

    p = str(council.dir)
    _, token = issue_token(council.store, "hana")
    run_query(council, "SELECT 1 AS x", user="hana").read_all()
    code, text = cli(capsys, "access", "user", "remove", "hana", "-p", p)
    assert code == 0 and "Removed user hana" in text and "1 grant" in text and "1 token" in text
    assert "hana" not in {u["name"] for u in council.store.users()}
    assert council.store.grants("hana") == [] and council.store.tokens("hana") == []
    assert council.store.token_user(token_hash(token)) is None
    assert [r["user_name"] for r in council.store.query_audit("hana")] == ["hana"]
    code, text = cli(capsys, "query", "SELECT 1 AS x", "--as", "hana", "-p", p)
    assert code == 1 and "not one of its users" in text
    code, text = cli(capsys, "access", "user", "remove", "hana", "-p", p)
    assert code == 1 and "unknown user 'hana'" in text


def test_user_remove_refuses_the_last_admin(
    council: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    p = str(council.dir)
    code, text = cli(capsys, "access", "user", "remove", "ada", "-p", p)
    assert code == 1 and "ada is the last admin" in text and "--role admin" in text
    assert "ada" in {u["name"] for u in council.store.users()}
    cli(capsys, "access", "grant", "eli", "-d", "*", "--role", "admin", "-p", p)
    code, text = cli(capsys, "access", "user", "remove", "ada", "-p", p)
    assert code == 0 and "Removed user ada" in text


def test_user_remove_syncs_warehouse_roles_only_when_one_is_configured(
    council: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warehouse side (the login left NOLOGIN) is tested with ``sync_access`` itself."""
    import civiclake.publish

    synced: list[set[str]] = []

    def sync_access(project: Project) -> list[str]:
        synced.append({u["name"] for u in project.store.users()})
        return []

    monkeypatch.setattr(civiclake.publish, "sync_access", sync_access)
    p = str(council.dir)
    code, text = cli(capsys, "access", "user", "remove", "pat", "-p", p)
    assert code == 0 and synced == [] and "warehouse" not in text
    with (council.dir / "civiclake.yaml").open("a") as f:
        f.write("warehouse:\n  url: postgresql://civiclake@127.0.0.1:1/warehouse\n")
    code, text = cli(capsys, "access", "user", "remove", "hana", "-p", p)
    assert code == 0 and synced == [{"eli", "ada"}]  # synced after hana left the policy
    assert "hana's warehouse login no longer has LOGIN" in " ".join(text.split())


def test_access_key_prints_a_new_key_and_where_it_goes(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    keys = []  # the key alone on stdout (for scripts), the advice on stderr
    for _ in range(2):
        try:
            main(["access", "key"])
        except SystemExit as exc:
            assert not exc.code
        out, err = capsys.readouterr()
        keys.append(out)
    assert all(re.fullmatch(r"[0-9a-f]{64}\n", k) for k in keys) and keys[0] != keys[1]
    advice = " ".join(err.split())
    assert ".env" in advice and "CIVICLAKE_MASKING_KEY=" in advice
    assert "Changing the key changes every masked value" in advice
