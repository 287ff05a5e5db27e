"""Who a CLI query runs as: your OS login, and someone else only if you are an admin.

Issue 11: ``--as`` and ``$CIVICLAKE_USER`` let any local user read as anyone. Now only
the project's admins (a login holding ``admin`` in ``*``) and its owner (the OS user
owning the project folder) may act as another user.
"""

from __future__ import annotations

import pytest

from civiclake import Project
from civiclake.access import AccessDenied, AccessPolicy
from civiclake.access import policy as policy_module
from civiclake.query import run_query

SQL = "SELECT name FROM housing_trusted.tenants ORDER BY id"


def login_as(monkeypatch: pytest.MonkeyPatch, login: str, owner: str = "root") -> None:
    """Pretend the OS login is ``login`` and the project folder belongs to ``owner``."""
    monkeypatch.setattr(policy_module, "_login_name", lambda: login)
    monkeypatch.setattr(policy_module, "folder_owner", lambda _path: owner)


def names(project: Project, user: str | None = None) -> list[object]:
    return [r["name"] for r in run_query(project, SQL, user=user).read_all().to_pylist()]


def test_without_as_you_are_your_login_name(
    council: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_as(monkeypatch, "eli")
    assert names(council) == ["Ann Lee", "Bo Chan", None]  # eli's own PII grant
    login_as(monkeypatch, "hana")
    assert "Ann Lee" not in names(council)  # hana's view: masked


def test_a_non_admin_cannot_act_as_someone_else(
    council: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_as(monkeypatch, "hana")
    with pytest.raises(AccessDenied, match=r"only for the project's admins") as refused:
        names(council, "eli")
    assert "hana" in str(refused.value) and "admin" in str(refused.value)
    monkeypatch.setenv("CIVICLAKE_USER", "eli")
    with pytest.raises(AccessDenied, match=r"only for the project's admins"):
        names(council)
    monkeypatch.setenv("CIVICLAKE_USER", "hana")  # naming yourself is fine
    assert "Ann Lee" not in names(council)


def test_the_login_comes_from_the_process_not_from_user_variables(
    council: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``getpass.getuser`` believes ``$USER``/``$LOGNAME``; who you are must not."""
    for variable in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "ada")
    assert policy_module._login_name() not in ("ada", "unknown")


def test_admins_of_every_department_and_the_owner_may_act_as_anyone(
    council: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_as(monkeypatch, "ada")  # admin in *
    assert names(council, "eli") == ["Ann Lee", "Bo Chan", None]
    login_as(monkeypatch, "mo", owner="mo")  # owns the project folder, not a user
    assert names(council, "eli") == ["Ann Lee", "Bo Chan", None]
    login_as(monkeypatch, "mo", owner="root")  # neither
    with pytest.raises(AccessDenied, match="mo is neither"):
        names(council, "eli")


def test_a_department_admin_is_not_a_project_admin(
    council: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    council.store.add_user("dee")
    council.store.set_grant("dee", "housing", "admin", False)
    login_as(monkeypatch, "dee")
    with pytest.raises(AccessDenied, match=r"only for the project's admins"):
        names(council, "eli")


def test_the_project_owner_is_the_folders_owner(council: Project) -> None:
    import os
    import pwd

    expected = pwd.getpwuid(os.stat(council.dir).st_uid).pw_name
    assert policy_module.folder_owner(council.dir) == expected
    assert AccessPolicy.load(council).owner_login == expected


def test_an_open_project_still_reads_everything(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_as(monkeypatch, "anyone")
    principal = AccessPolicy.load(project).cli_principal()
    assert principal.owner
