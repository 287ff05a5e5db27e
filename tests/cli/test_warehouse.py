"""The warehouse from the command line (issue 11): the DBA's bootstrap, revokes at once, the demo.

* `civiclake warehouse bootstrap` prints what a DBA runs — the only way to publish on
  PostgreSQL 15 without a superuser or CREATEROLE service account, which are refused;
* `civiclake access revoke` takes the grant away in PostgreSQL at once, not at the next
  publish;
* the demo, given a refused account in WAREHOUSE_URL, prints the steps that work.

The tests play the DBA with the real ``psql`` as the test server's superuser.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from civiclake import Project

from ._support import cli_streams as cli

SQL = "SELECT count(*) FROM housing_trusted.tenants"


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


def psql(
    url: str, sql: str | None = None, *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", url]
    return subprocess.run(
        [*args, "-c", sql] if sql else args,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )


def _account(admin_url: str, attributes: str = "") -> tuple[str, str]:
    """A new login on the test server (``attributes``: e.g. CREATEROLE); (name, its URL)."""
    name = f"svc_{uuid.uuid4().hex[:8]}"
    password = secrets.token_hex(12)
    done = psql(admin_url, f"CREATE ROLE \"{name}\" LOGIN {attributes} PASSWORD '{password}'")
    assert done.returncode == 0, done.stderr
    parts = urlsplit(admin_url)
    netloc = f"{name}:{password}@{parts.hostname}:{parts.port}"
    return name, urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _point_at(project: Project, url: str) -> str:
    """Configure ``warehouse.url`` from a new environment variable in .env; returns it."""
    env = f"CIVICLAKE_TEST_WAREHOUSE_{uuid.uuid4().hex[:6].upper()}"
    with project.config_path.open("a") as f:
        f.write(f"warehouse:\n  url: ${{{env}}}\n  zones: [refined, trusted]\n")
    with (project.dir / ".env").open("a") as f:
        f.write(f"\n{env}={url}\n")
    return env


@pytest.fixture
def server(postgres_url: str) -> Iterator[str]:
    """The superuser URL of a fresh database; the logins made in it are dropped afterwards."""
    before = {r for r in psql(postgres_url, "SELECT rolname FROM pg_roles").stdout.split()}
    yield postgres_url
    after = {r for r in psql(postgres_url, "SELECT rolname FROM pg_roles").stdout.split()}
    for role in sorted(after - before):
        psql(postgres_url, f'DROP OWNED BY "{role}"')
    for role in sorted(after - before):
        psql(postgres_url, f'DROP ROLE IF EXISTS "{role}"')


def test_bootstrap_prints_the_dbas_sql_with_who_runs_it_and_what_it_grants(
    council: Project, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    service, url = _account(server)
    _point_at(council, url)
    code, sql, err = cli(capsys, "warehouse", "bootstrap", "-p", str(council.dir))
    assert code == 0, err
    header = sql.split("BEGIN;")[0]
    assert header.startswith("-- civiclake warehouse bootstrap for project")
    assert "Who runs it: a DBA, once, as a PostgreSQL superuser" in header
    assert "What it grants:" in header and f"- {service} (the account in warehouse.url)" in header
    assert "NOSUPERUSER" in header and "never the one you administer the server with" in header
    assert all(line.startswith("--") or not line for line in header.splitlines())
    assert urlsplit(url).password not in sql  # no secret in what is handed to a DBA
    assert "bootstrap.sql" in err and "DBA" in err


def test_without_a_warehouse_bootstrap_says_how_to_configure_one(
    council: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "warehouse", "bootstrap", "-p", str(council.dir))
    assert code == 1 and out == "" and "no warehouse configured" in err


def test_a_createrole_account_is_refused_until_the_printed_bootstrap_is_run(
    council: Project, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    service, url = _account(server, "CREATEROLE")
    _point_at(council, url)
    root = str(council.dir)
    code, _, err = cli(capsys, "publish", "-p", root)
    assert code == 1 and "CREATEROLE" in err and "civiclake warehouse bootstrap" in err

    code, sql, _ = cli(capsys, "warehouse", "bootstrap", "-p", root)
    done = psql(server, stdin=sql)  # the DBA runs it, as printed, with psql
    assert code == 0 and done.returncode == 0, done.stderr
    createrole = f"SELECT rolcreaterole FROM pg_roles WHERE rolname = '{service}'"
    assert psql(server, createrole).stdout.strip() == "f"
    code, out, err = cli(capsys, "publish", "-p", root)
    assert code == 0, err
    assert "Published" in out


def test_access_revoke_takes_the_grant_away_in_postgresql_at_once(
    council: Project, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = _account(server)
    _point_at(council, url)
    root = str(council.dir)
    code, sql, _ = cli(capsys, "warehouse", "bootstrap", "-p", root)
    assert psql(server, stdin=sql).returncode == 0
    assert cli(capsys, "publish", "-p", root)[0] == 0
    code, out, _ = cli(capsys, "access", "login", "eli", "-p", root)
    found = re.search(r"PGPASSWORD='([^']+)'.*user=(\S+)'", out)
    assert code == 0 and found is not None, out
    parts = urlsplit(server)
    eli = (
        f"postgresql://{found.group(2)}:{found.group(1)}@{parts.hostname}:{parts.port}{parts.path}"
    )
    assert psql(eli, SQL).stdout.strip() == "3"

    code, out, err = cli(capsys, "access", "revoke", "eli", "-p", root)
    assert code == 0, err
    assert "Synced the warehouse roles" in out and "civiclake publish" not in out
    denied = psql(eli, SQL)  # no publish in between
    assert denied.returncode != 0
    assert "password authentication failed" in denied.stderr or "denied" in denied.stderr


def test_the_demo_prints_the_bootstrap_steps_for_a_superuser_and_they_work(
    council: Project, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from civiclake.demo.build import WAREHOUSE_ENV, _warehouse_refusal

    env = _point_at(council, server)  # what a developer does: their local superuser
    council.store.add_user("demo_analyst")  # as the demo's serving part does
    council.store.set_grant("demo_analyst", "housing", "analyst", False)
    project = Project.load(council.dir)
    steps = _warehouse_refusal(project)
    assert steps is not None
    assert "is a superuser" in steps[0]
    commands = [line.strip() for line in steps if line.startswith("  ")]
    assert any("warehouse bootstrap" in c for c in commands)
    assert urlsplit(server).password not in "\n".join(steps)
    # followed to the letter (the demo's config reads WAREHOUSE_URL; this one reads env)
    script = "set -e\n" + "\n".join(c.replace(WAREHOUSE_ENV, env) for c in commands)
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", env: server},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Published" in done.stdout and "PGPASSWORD=" in done.stdout


def test_the_demo_prints_the_dba_steps_for_a_createrole_account(
    council: Project, server: str
) -> None:
    from civiclake.demo.build import _warehouse_refusal

    service, url = _account(server, "CREATEROLE")
    _point_at(council, url)
    steps = _warehouse_refusal(Project.load(council.dir))
    assert steps is not None and "CREATEROLE" in steps[0]
    text = "\n".join(steps)
    assert "warehouse bootstrap" in text and "bootstrap.sql" in text and service in text


def test_the_demo_says_nothing_when_the_account_is_fine_or_no_warehouse(
    council: Project, server: str
) -> None:
    from civiclake.demo.build import _warehouse_refusal

    assert _warehouse_refusal(council) is None
    _, url = _account(server)
    _point_at(council, url)
    project = Project.load(council.dir)
    assert psql(server, stdin=_bootstrap(project)).returncode == 0
    assert _warehouse_refusal(project) is None


def _bootstrap(project: Project) -> str:
    from civiclake.publish import bootstrap_script

    return bootstrap_script(project)


@pytest.mark.slow
def test_the_demo_with_a_superuser_warehouse_builds_and_prints_how_to_publish(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from civiclake.cli.render import print_demo
    from civiclake.demo import build_demo
    from civiclake.demo.build import WAREHOUSE_ENV

    monkeypatch.setenv(WAREHOUSE_ENV, server)
    monkeypatch.setenv("COLUMNS", "200")
    report = build_demo(tmp_path / "riverside", planning_days=1)
    capsys.readouterr()
    print_demo(report)
    text = capsys.readouterr().out
    summary = report.summary
    assert summary.ok, [(s.name, s.error) for s in summary.failed]
    assert "unrestricted/publish" not in text  # not a failed step: a setup to explain
    assert "Publish it" in text and "is a superuser" in text
    assert "warehouse bootstrap" in text and "access login demo_analyst" in text
    assert "curl" in text  # the SQL API part of the demo still works
    assert "set `warehouse.url`" not in text
    assert urlsplit(server).password not in text
