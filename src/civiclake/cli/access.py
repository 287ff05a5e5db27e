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
    help="Who may read what: roles per department, PII grants, SQL API tokens, the query audit."
    "\n\nExample:\n\n    civiclake access grant alice -d housing -r analyst",
    no_args_is_help=True,
)
token_app = typer.Typer(
    help="SQL API bearer tokens (shown once, stored hashed)."
    "\n\nExample:\n\n    civiclake access token create powerbi"
)
access_app.add_typer(token_app, name="token")
user_app = typer.Typer(
    help="Users: remove one (grants, tokens and warehouse login with them)."
    "\n\nExample:\n\n    civiclake access user remove alice"
)
access_app.add_typer(user_app, name="user")

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
    """Give a user a role in a department (creating the user if new); replaces an older grant.

    The first grant turns access control on, so it also makes whoever runs it (their login
    name) admin of every department: otherwise the project's owner would be locked out.

    Example:

        civiclake access grant alice -d housing -r analyst
    """
    from civiclake.access.policy import ALL_DEPARTMENTS

    proj = _project(project)
    name = _user_name(user)
    dept = department if department == ALL_DEPARTMENTS else proj.require_department(department)
    first = not proj.store.users()
    created = proj.store.add_user(name, kind="tool" if tool else "person")
    proj.store.set_grant(name, dept, role, pii)
    console = out.console()
    console.print(
        f"{'Added user ' if created else ''}{name}: {role} in {dept}"
        f"{' with PII' if pii else ' (PII masked)'}. `civiclake access show {name}` lists what "
        "they can read; `civiclake publish` applies it to the warehouse."
    )
    if first:
        _keep_the_granter(proj, name)


def _keep_the_granter(proj: Project, granted: str) -> None:
    """After the first grant: make the login running it admin in ``*``, and say so.

    Until now the project was open and its owner read everything; from this grant on,
    ``civiclake query`` serves only users, and a login that is not one would be refused.
    Granting yourself first (``grant <your login> ...``) is taken as meaning exactly that.
    """
    from civiclake.access import AccessError
    from civiclake.access.policy import ALL_DEPARTMENTS, login_name

    login = login_name()
    if login == granted:
        return
    console = out.console()
    try:
        _user_name(login)
    except AccessError:
        console.print(
            f"Access control is now on, and your login name {login!r} cannot be a user (user "
            "names are lowercase and become PostgreSQL logins), so it was not made an admin. "
            "Make one: `civiclake access grant <name> --department '*' --role admin`; the "
            "owner of the project folder may then query with `--as <name>`.",
            markup=False,
        )
        return
    proj.store.add_user(login, description="ran the first grant")
    proj.store.set_grant(login, ALL_DEPARTMENTS, "admin", False)
    console.print(
        f"Access control is now on: you ({login}) are now admin of every department; PII "
        f"stays masked for you too (`civiclake access grant {login} --department '*' --role "
        "admin --pii` shows it), and as an admin you may query as any user with --as.",
        markup=False,
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
    """Take a user's grant in one department, or all their grants and tokens.

    Example:

        civiclake access revoke alice -d housing
    """
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
    console = out.console()
    synced = proj.config.warehouse.url is not None
    console.print(
        f"Revoked {out.plural(removed, 'grant')} of {user}"
        + (f" and {out.plural(tokens, 'token')}" if tokens else "")
        + ("." if synced else "; run `civiclake publish` to apply it to the warehouse.")
    )
    if synced:
        from civiclake.publish import sync_access

        # now, not at the next publish: a revoked grant must stop reading today (memberships
        # are checked per query, so this bites even in an open session)
        for note in sync_access(proj):
            console.print(f"  note: {note}", markup=False)
        console.print(f"Synced the warehouse roles: {user}'s login keeps only what is granted.")


@user_app.command("remove")
def user_remove(user: UserArg, project: ProjectOpt = None) -> None:
    """Remove a user: their grants, their API tokens and their warehouse login's access.

    The query audit keeps their lines. The last admin of every department cannot be
    removed: someone must remain who may manage access and act as other users.

    Example:

        civiclake access user remove alice
    """
    from civiclake.access import AccessError
    from civiclake.access.policy import AccessPolicy

    proj = _project(project)
    policy = AccessPolicy.load(proj)
    policy.principal(user)  # an unknown user is an error with a suggestion
    admins = [name for name in policy.users if policy.is_admin(name)]
    if admins == [user]:
        raise AccessError(
            f"{user} is the last admin of every department, so removing them would leave "
            "nobody to manage access; first make someone else one with `civiclake access "
            "grant <user> --department '*' --role admin`"
        )
    removed = proj.store.delete_user(user)
    grants, tokens = removed or (0, 0)
    console = out.console()
    console.print(
        f"Removed user {user} with {out.plural(grants, 'grant')} and "
        f"{out.plural(tokens, 'token')}; their lines in `civiclake access audit` stay."
    )
    if proj.config.warehouse.url is not None:
        from civiclake.publish import sync_access

        # now, not at the next publish: a departed user's login must stop working today
        for note in sync_access(proj):
            console.print(f"  note: {note}", markup=False)
        console.print(
            f"Synced the warehouse roles: {user}'s warehouse login no longer has LOGIN or "
            "any of its grants."
        )


@access_app.command("key")
def key() -> None:
    """Print a new random masking key for the project's .env (CIVICLAKE_MASKING_KEY).

    Example:

        civiclake access key
    """
    from civiclake.config.secrets import MASKING_KEY_ENV as KEY_ENV
    from civiclake.config.secrets import generate_masking_key as generate_key

    out.console(stderr=True).print(
        f"A new masking key. Put it in the project's .env as {KEY_ENV}=<key> (civiclake.yaml "
        f"reads it as `access: {{masking_key: ${{{KEY_ENV}}}}}`) and keep a copy in your "
        "secrets manager. Changing the key changes every masked value: masked values saved "
        "or joined before no longer match, and the warehouse's masked views change at the "
        "next `civiclake publish`.",
        markup=False,
    )
    print(generate_key())


@access_app.command("show")
def show(
    user: Annotated[str | None, typer.Argument(help="One user (default: everyone).")] = None,
    project: ProjectOpt = None,
) -> None:
    """List users and grants; for one user, every dataset they can read and what is masked.

    Example:

        civiclake access show alice
    """
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
    """The newest audited queries: who, when, where from, outcome, rows, time, SQL.

    Example:

        civiclake access audit --user alice --limit 10
    """
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
    """Create a bearer token for the SQL API; it is printed once and stored only as a hash.

    Example:

        civiclake access token create powerbi
    """
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
    """Revoke a user's tokens (all, or one by id).

    Example:

        civiclake access token revoke powerbi --id 3
    """
    proj = _project(project)
    count = proj.store.revoke_tokens(user, token_id)
    out.console().print(f"Revoked {out.plural(count, 'token')} of {user}")
