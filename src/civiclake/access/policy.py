"""The access policy: who may read which dataset, and which columns they see masked.

This module is the one place access is decided (DESIGN.md invariant 4). Every
door asks it: ``civiclake query`` and the SQL API (through
:mod:`civiclake.access.guard`), and the PostgreSQL warehouse, whose GRANTs and
masked views are derived from the same decisions (:mod:`civiclake.publish`).

The rules, from the council's organisation (source-systems §5):

* a user holds one role per department — ``admin``, ``engineer`` (power user)
  or ``analyst`` (collaborator) — or in ``*`` (every department, for platform
  admins);
* analysts read their department's ``refined`` and ``trusted`` zones;
  engineers and admins also ``raw``;
* everyone known to the policy reads ``unrestricted`` (every zone);
* columns tagged ``pii`` in the catalog are masked unless the user's grant on
  the dataset's department (or ``*``) includes PII — no role implies it, so
  seeing personal data is always a deliberate, visible grant.

A project with no users yet is *open*: the CLI runs as the project's owner,
who holds the files anyway. The SQL API is never open — it needs a token, and
a token needs a user.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from civiclake.access.exceptions import AccessDenied, AccessError
from civiclake.access.masking import Masker
from civiclake.naming import HISTORY_SUFFIX, TABLE_ZONES
from civiclake.naming import quote as _quote_ident
from civiclake.storage import DatasetRef

if TYPE_CHECKING:
    from pathlib import Path

    from civiclake.project import Project

Role = Literal["admin", "engineer", "analyst"]
ROLES: tuple[Role, ...] = ("admin", "engineer", "analyst")
ALL_DEPARTMENTS = "*"
PUBLIC_DEPARTMENT = "unrestricted"
ZONES_BY_ROLE: Mapping[str, tuple[str, ...]] = {
    "admin": TABLE_ZONES,
    "engineer": TABLE_ZONES,
    "analyst": ("refined", "trusted"),
}
OWNER = "(project owner)"
USER_ENV = "CIVICLAKE_USER"


@dataclass(frozen=True)
class Grant:
    """One role in one department (``*`` for all), with or without PII."""

    department: str
    role: str
    pii: bool = False


@dataclass(frozen=True)
class Principal:
    """Someone asking for data: a user with grants, or the owner of an open project."""

    name: str
    grants: tuple[Grant, ...] = ()
    owner: bool = False

    def grant_for(self, department: str) -> Grant | None:
        """The grant that applies to ``department`` (its own before ``*``)."""
        for g in self.grants:
            if g.department == department:
                return g
        for g in self.grants:
            if g.department == ALL_DEPARTMENTS:
                return g
        return None


@dataclass(frozen=True)
class DatasetInfo:
    """What the policy needs of a catalog entry."""

    ref: DatasetRef
    pii: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()


@dataclass
class AccessPolicy:
    """Decisions over a snapshot of users, grants and the catalog."""

    departments: list[str]
    datasets: dict[str, DatasetInfo]
    """Keyed by qualified name (``housing_trusted.tenancies``)."""
    users: dict[str, tuple[Grant, ...]]
    masker: Masker = field(default_factory=Masker)
    owner_login: str | None = None
    """The OS login owning the project folder (see :func:`folder_owner`); may act as anyone."""
    _readable: dict[str, list[DatasetInfo]] = field(default_factory=dict, repr=False)

    # -- loading --------------------------------------------------------------
    @classmethod
    def load(cls, project: Project) -> AccessPolicy:
        store = project.store
        grants: dict[str, list[Grant]] = {u["name"]: [] for u in store.users()}
        for g in store.grants():
            grants.setdefault(g["user_name"], []).append(
                Grant(g["department"], g["role"], bool(g["pii"]))
            )
        datasets = {}
        for row in store.datasets():
            if row["department"] not in project.departments:
                continue
            ref = DatasetRef(row["department"], row["zone"], row["name"])
            cols = tuple(c["name"] for c in row["columns"] or [])
            datasets[ref.qualified] = DatasetInfo(ref, tuple(row["pii"] or ()), cols)
        return cls(
            departments=project.departments,
            datasets=datasets,
            users={name: tuple(g) for name, g in grants.items()},
            masker=Masker.from_config(project.config.access),
            owner_login=folder_owner(project.dir),
        )

    @property
    def enabled(self) -> bool:
        """Access control is on once a user exists."""
        return bool(self.users)

    # -- who is asking --------------------------------------------------------
    def principal(self, name: str) -> Principal:
        """The user ``name`` with their grants; an unknown name is an error."""
        if name not in self.users:
            from civiclake.config.suggest import did_you_mean

            raise AccessError(
                f"unknown user {name!r}{did_you_mean(name, list(self.users))}; add them with "
                f"`civiclake access grant {name} --department <dept> --role analyst`"
            )
        return Principal(name, self.users[name])

    def cli_principal(self, name: str | None = None) -> Principal:
        """Who runs a CLI query: the OS login, or ``--as``/``$CIVICLAKE_USER`` for admins.

        Anyone on the machine can type ``--as eli``, so asking for another user is
        honoured only for the project's admins — a login holding ``admin`` in ``*``
        — and its owner (the OS user owning the project folder, who can read the
        files anyway). Everyone else is their login name, whatever they ask for.
        In an open project (no users) that is the owner, who may read everything.
        """
        if not self.enabled:
            return Principal(OWNER, (Grant(ALL_DEPARTMENTS, "admin", True),), owner=True)
        login = _login_name()
        who = name or os.environ.get(USER_ENV) or login
        if who != login and not self.may_act_as_others(login):
            raise AccessDenied(
                f"acting as another user (--as {who} or {USER_ENV}={who}) is only for the "
                f"project's admins, and {login} is neither an admin of every department "
                f"(`--department '*' --role admin`) nor the owner of the project folder"
                f"{f' ({self.owner_login})' if self.owner_login else ''}; run the query as "
                f"yourself (drop --as and unset {USER_ENV}) or ask an admin to run it"
            )
        if who not in self.users:
            raise AccessDenied(
                f"access control is on in this project and {who!r} is not one of its users; "
                f"ask an admin to run "
                f"`civiclake access grant {who} --department <dept> --role analyst`"
            )
        return self.principal(who)

    def is_admin(self, user: str) -> bool:
        """``user`` holds ``admin`` in ``*``: a platform admin of every department."""
        return any(
            g.department == ALL_DEPARTMENTS and g.role == "admin" for g in self.users.get(user, ())
        )

    def may_act_as_others(self, login: str) -> bool:
        """The OS login ``login`` may run CLI queries as another user (``--as``)."""
        return self.is_admin(login) or (self.owner_login is not None and login == self.owner_login)

    # -- decisions --------------------------------------------------------------
    def can_read(self, principal: Principal, dataset: DatasetRef | str) -> bool:
        ref = self._ref(dataset)
        if ref is None:
            return False
        if ref.department == PUBLIC_DEPARTMENT:
            return True  # a Principal is always a known user (or the open project's owner)
        grant = principal.grant_for(ref.department)
        return grant is not None and ref.zone in ZONES_BY_ROLE.get(grant.role, ())

    def why_not(self, principal: Principal, dataset: DatasetRef | str) -> str:
        """Why ``principal`` may not read ``dataset``, and what would change it."""
        ref = self._ref(dataset)
        if ref is None:
            return f"{dataset} is not a dataset"
        grant = principal.grant_for(ref.department)
        if grant is None:
            return (
                f"{principal.name} has no role in {ref.department}, so may not read "
                f"{ref.qualified}; an admin can run `civiclake access grant {principal.name} "
                f"--department {ref.department} --role analyst`"
            )
        return (
            f"{principal.name} is {grant.role} in {ref.department}, which reads "
            f"{'/'.join(ZONES_BY_ROLE.get(grant.role, ()))} but not {ref.zone} "
            f"({ref.qualified}); engineers and admins read raw"
        )

    def check_read(self, principal: Principal, dataset: DatasetRef | str) -> None:
        if not self.can_read(principal, dataset):
            raise AccessDenied(self.why_not(principal, dataset))

    def readable(self, principal: Principal) -> list[DatasetInfo]:
        """Every catalog dataset ``principal`` may read."""
        if principal.name not in self._readable:
            self._readable[principal.name] = [
                info for info in self.datasets.values() if self.can_read(principal, info.ref)
            ]
        return self._readable[principal.name]

    def sees_pii(self, principal: Principal, dataset: DatasetRef | str) -> bool:
        ref = self._ref(dataset)
        grant = None if ref is None else principal.grant_for(ref.department)
        return grant is not None and grant.pii

    def masked_columns(self, principal: Principal, dataset: DatasetRef | str) -> list[str]:
        """The PII columns of ``dataset`` that ``principal`` sees masked."""
        ref = self._ref(dataset)
        if ref is None or self.sees_pii(principal, ref):
            return []
        info = self.datasets.get(ref.qualified)
        return list(info.pii) if info else []

    def duckdb_masks(self, principal: Principal) -> dict[str, dict[str, str]]:
        """``{schema.x: {column: masking SQL}}`` for every readable dataset with PII hidden.

        Keyed by the base dataset, so ``x``, ``x__history`` and ``x_as_of`` mask alike.
        The SQL calls the department's masking function (:meth:`Masker.register` puts it
        on the connection); it holds no key.
        """
        masks: dict[str, dict[str, str]] = {}
        for info in self.readable(principal):
            columns = self.masked_columns(principal, info.ref)
            if columns:
                base = info.ref.sibling(info.ref.name.removesuffix(HISTORY_SUFFIX))
                dept = info.ref.department
                masks.setdefault(base.qualified, {}).update(
                    {c: self.masker.sql(_quote_ident(c), dept) for c in columns}
                )
        return masks

    def masked_departments(self, principal: Principal) -> list[str]:
        """Departments with a readable dataset ``principal`` sees masked columns of."""
        return sorted(
            {
                i.ref.department
                for i in self.readable(principal)
                if self.masked_columns(principal, i.ref)
            }
        )

    def access_key(self, principal: Principal) -> tuple[Any, ...]:
        """Two principals with equal keys see exactly the same data (for sharing sessions)."""
        return tuple(
            (info.ref.qualified, tuple(self.masked_columns(principal, info.ref)))
            for info in sorted(self.readable(principal), key=lambda i: i.ref.qualified)
        )

    def _ref(self, dataset: DatasetRef | str) -> DatasetRef | None:
        if isinstance(dataset, DatasetRef):
            return dataset
        return DatasetRef.parse(dataset, self.departments)


def login_name() -> str:
    """The OS login name of whoever runs this process: who the CLI acts as."""
    return _login_name()


def _login_name() -> str:
    """The OS login of this process, from its real user id.

    Not :func:`getpass.getuser`: that believes ``$USER`` and ``$LOGNAME``, which
    anyone can set to an admin's name.
    """
    try:
        import pwd
    except ImportError:  # Windows: no user database to ask
        return _env_login_name()
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry (some containers)
        return f"uid-{os.getuid()}"


def _env_login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def folder_owner(path: Path) -> str | None:
    """The login owning ``path`` (the project's owner); None where it cannot be told."""
    try:
        import pwd
    except ImportError:
        return None
    try:
        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (KeyError, OSError):
        return None
