"""``civiclake access``: grant, revoke and show who may read what; API tokens; the audit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from civiclake.cli import output as out
from civiclake.cli.options import ProjectOpt

if TYPE_CHECKING:
    from civiclake.project import Project

access_app = typer.Typer(
    help="Who may read what: roles per department, PII grants, SQL API tokens, the query audit.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="SQL API bearer tokens (shown once, stored hashed).")
access_app.add_typer(token_app, name="token")

UserArg = Annotated[str, typer.Argument(help="User (a person or a BI tool), e.g. alice.")]


def _project(path: Path | None) -> Project:
    from civiclake.project import Project

    return Project.load(path)


def _user_name(name: str) -> str:
    import re

    from civiclake.access import AccessError

    if not re.fullmatch(r"[a-z][a-z0-9_.\-]{0,62}", name):
        raise AccessError(
            f"user name {name!r} is not allowed: use lowercase letters, digits, '_', '.', '-', "
            "starting with a letter (it becomes a PostgreSQL login)"
        )
    return name


@access_app.command("grant")
def grant(
    user: UserArg,
    department: Annotated[
        str, typer.Option("--department", "-d", help="Department id, or '*' for all of them.")
    ],
    role: Annotated[
        Literal["admin", "engineer", "analyst"],
        typer.Option("--role", "-r", help="analyst: refined/trusted; engineer, admin: also raw."),
    ] = "analyst",
    pii: Annotated[
        bool, typer.Option("--pii", help="Also see the department's PII columns unmasked.")
    ] = False,
    tool: Annotated[
        bool, typer.Option("--tool", help="The user is a BI tool, not a person.")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Give a user a role in a department (creating the user if new); replaces an older grant."""
    from civiclake.access.policy import ALL_DEPARTMENTS

    proj = _project(project)
    name = _user_name(user)
    dept = department if department == ALL_DEPARTMENTS else proj.require_department(department)
    created = proj.store.add_user(name, kind="tool" if tool else "person")
    proj.store.set_grant(name, dept, role, pii)
    out.console().print(
        f"{'Added user ' if created else ''}{name}: {role} in {dept}"
        f"{' with PII' if pii else ' (PII masked)'}. `civiclake access show {name}` lists what "
        "they can read; `civiclake publish` applies it to the warehouse."
    )


@access_app.command("revoke")
def revoke(
    user: UserArg,
    department: Annotated[
        str | None,
        typer.Option("--department", "-d", help="Only this department (default: every grant)."),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Take a user's grant in one department, or all their grants and tokens."""
    from civiclake.access import AccessError
    from civiclake.access.policy import ALL_DEPARTMENTS

    proj = _project(project)
    dept = None
    if department is not None:
        dept = department if department == ALL_DEPARTMENTS else proj.require_department(department)
    removed = proj.store.remove_grant(user, dept)
    if not removed:
        raise AccessError(
            f"{user} has no grant{' in ' + dept if dept else ''}; "
            "`civiclake access show` lists them"
        )
    tokens = 0 if dept else proj.store.revoke_tokens(user)
    out.console().print(
        f"Revoked {out.plural(removed, 'grant')} of {user}"
        + (f" and {out.plural(tokens, 'token')}" if tokens else "")
        + "; run `civiclake publish` to apply it to the warehouse."
    )


@access_app.command("show")
def show(
    user: Annotated[str | None, typer.Argument(help="One user (default: everyone).")] = None,
    project: ProjectOpt = None,
) -> None:
    """List users and grants; for one user, every dataset they can read and what is masked."""
    from rich.table import Table

    from civiclake.access.policy import AccessPolicy, Grant

    proj = _project(project)
    policy = AccessPolicy.load(proj)
    console = out.console()
    if not policy.enabled:
        console.print(
            "Access control is off: no users yet, so the CLI reads everything as the project's "
            "owner and the SQL API accepts no one. Start with "
            "`civiclake access grant <user> --department <dept> --role analyst`."
        )
        return
    table = Table("user", "kind", "department", "role", "PII", "tokens")
    kinds = {u["name"]: u["kind"] for u in proj.store.users()}
    live: dict[str, int] = {}
    for tok in proj.store.tokens():
        if tok["revoked_at"] is None:
            live[tok["user_name"]] = live.get(tok["user_name"], 0) + 1
    for name in sorted(policy.users):
        if user and name != user:
            continue
        grants: list[Grant | None] = [*policy.users[name]] or [None]
        for i, g in enumerate(grants):
            table.add_row(
                name if i == 0 else "",
                kinds.get(name, "") if i == 0 else "",
                g.department if g else "(none)",
                g.role if g else "",
                ("yes" if g.pii else "masked") if g else "",
                str(live.get(name, 0)) if i == 0 else "",
            )
    console.print(table)
    if user is None:
        return
    principal = policy.principal(user)
    readable = Table("dataset", "masked columns", title=f"{user} can read", title_justify="left")
    for info in sorted(policy.readable(principal), key=lambda i: i.ref.qualified):
        readable.add_row(info.ref.qualified, ", ".join(policy.masked_columns(principal, info.ref)))
    console.print(readable)


@access_app.command("audit")
def audit(
    user: Annotated[str | None, typer.Option(help="Only this user's queries.")] = None,
    limit: Annotated[int, typer.Option(help="How many lines.")] = 30,
    project: ProjectOpt = None,
) -> None:
    """The newest audited queries: who, when, where from, outcome, rows, time, SQL."""
    from rich.markup import escape
    from rich.table import Table

    proj = _project(project)
    table = Table("when (UTC)", "user", "door", "status", "rows", "ms", "sql")
    for row in proj.store.query_audit(user, limit):
        table.add_row(
            row["at"].strftime("%Y-%m-%d %H:%M:%S"),
            row["user_name"],
            row["door"],
            row["status"],
            out.count(row["rows"]),
            str(row["duration_ms"]),
            escape(" ".join(row["sql"].split())[:80]),
        )
    out.console().print(table)


@token_app.command("create")
def token_create(user: UserArg, project: ProjectOpt = None) -> None:
    """Create a bearer token for the SQL API; it is printed once and stored only as a hash."""
    from civiclake.access.policy import AccessPolicy
    from civiclake.access.tokens import issue_token

    proj = _project(project)
    AccessPolicy.load(proj).principal(user)  # an unknown user is an error with the fix
    token_id, token = issue_token(proj.store, user)
    out.console(stderr=True).print(
        f"Token {token_id} for {user} (shown once; keep it in a secret store):"
    )
    print(token)


@token_app.command("revoke")
def token_revoke(
    user: UserArg,
    token_id: Annotated[int | None, typer.Option("--id", help="Only this token.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Revoke a user's tokens (all, or one by id)."""
    proj = _project(project)
    count = proj.store.revoke_tokens(user, token_id)
    out.console().print(f"Revoked {out.plural(count, 'token')} of {user}")
