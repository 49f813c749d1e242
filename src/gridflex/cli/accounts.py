"""``gridflex accounts ...``: bootstrap organisations and API tokens from the shell (as the admin)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from gridflex.cli.common import clear_errors, console
from gridflex.cli.serve import DbOpt

if TYPE_CHECKING:
    from gridflex.store import Store
    from gridflex.store.tables import ApiToken

accounts_app = typer.Typer(help="Organisations, users and API tokens of the service, from the shell.")
users_app = typer.Typer(help="Users of organisations: add, list, disable (revokes their tokens).")
accounts_app.add_typer(users_app, name="users")


def _open(db: str | None) -> Store:
    from gridflex.store import Store

    store = Store(db)
    store.upgrade()  # idempotent: a fresh file gets its schema, a current one is left alone
    return store


@accounts_app.command("create-org")
@clear_errors
def create_org(
    name: Annotated[str, typer.Argument(help="Organisation name (unique).")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role", help="dso, tso, brp, aggregator, prosumer, market_operator or admin (repeat)."
        ),
    ],
    db: DbOpt = None,
) -> None:
    """Create an organisation with its market roles."""
    from gridflex.store import Principal

    store = _open(db)
    with store.repos(Principal.system()) as r:
        org = r.accounts.create_org(name, role)
        console.print(f"organisation {org.id} {org.name!r}: {', '.join(org.role_names)}", highlight=False)
    store.close()


@accounts_app.command("create-token")
@clear_errors
def create_token(
    org: Annotated[str, typer.Argument(help="Organisation name.")],
    name: Annotated[str, typer.Option("--name", help="A name for the token (what it is for).")] = "cli",
    user: Annotated[
        str | None, typer.Option("--user", help="The e-mail of the organisation's user who owns it.")
    ] = None,
    expires_days: Annotated[
        float | None, typer.Option("--expires-days", min=0.0, help="Expire after this many days.")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Create an API token and print its secret once (only its digest is stored)."""
    from gridflex.store import Principal
    from gridflex.store.columns import utcnow

    store = _open(db)
    expires = None if expires_days is None else utcnow() + timedelta(days=expires_days)
    with store.repos(Principal.system()) as r:
        user_id = None if user is None else r.accounts.find_user(user).id
        new = r.accounts.create_token(r.accounts.find_org(org).id, name, expires, user_id)
    print(new.secret, flush=True)  # plain: `TOKEN=$(gridflex accounts create-token …)` works
    store.close()


@accounts_app.command("revoke-token")
@clear_errors
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="Token id (see `list`).")], db: DbOpt = None
) -> None:
    """Revoke a token: it is refused from the next request on."""
    from gridflex.store import Principal

    store = _open(db)
    with store.repos(Principal.system()) as r:
        tok = r.accounts.revoke_token(token_id)
        console.print(f"token {tok.id} {tok.name!r} revoked", highlight=False)
    store.close()


@accounts_app.command("list")
@clear_errors
def list_cmd(db: DbOpt = None) -> None:
    """Organisations, their roles and their tokens (never the secrets)."""
    from rich.table import Table

    from gridflex.store import Principal

    store = _open(db)
    table = Table("org", "name", "roles", "token", "token name", "prefix", "state")
    with store.repos(Principal.system()) as r:
        tokens = r.accounts.list_tokens()
        for org in r.accounts.list_orgs():
            mine: list[ApiToken | None] = [t for t in tokens if t.org_id == org.id] or [None]
            for t in mine:
                state = "" if t is None else ("revoked" if t.revoked_at else f"expires {t.expires_at:%Y-%m-%d %H:%M}Z" if t.expires_at else "active")  # fmt: skip
                table.add_row(
                    str(org.id), org.name, ", ".join(org.role_names),
                    "" if t is None else str(t.id), "" if t is None else t.name,
                    "" if t is None else t.prefix + "…", state,
                )  # fmt: skip
    console.print(table)
    store.close()


@users_app.command("add")
@clear_errors
def add_user(
    org: Annotated[str, typer.Argument(help="Organisation name.")],
    email: Annotated[str, typer.Argument(help="The user's e-mail (unique).")],
    name: Annotated[str, typer.Option("--name", help="The user's name.")] = "",
    org_admin: Annotated[
        bool, typer.Option("--org-admin", help="Manages the organisation's users and tokens.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Add a user to an organisation (tokens of it: `create-token ORG --user EMAIL`)."""
    from gridflex.store import Principal

    store = _open(db)
    with store.repos(Principal.system()) as r:
        user = r.accounts.create_user(r.accounts.find_org(org).id, email, name, org_admin)
        console.print(f"user {user.id} {user.email!r} of {org!r}", highlight=False)
    store.close()


@users_app.command("list")
@clear_errors
def list_users(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation's users.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout instead of a table.")] = False,
    db: DbOpt = None,
) -> None:
    """Users, their organisation and state."""
    from rich.table import Table

    from gridflex.store import Principal

    store = _open(db)
    with store.repos(Principal.system()) as r:
        names = {o.id: o.name for o in r.accounts.list_orgs()}
        users = r.accounts.list_users(None if org is None else r.accounts.find_org(org).id)
        rows = [
            {"id": u.id, "org": names[u.org_id], "email": u.email, "name": u.name, "org_admin": u.org_admin,
             "disabled_at": None if u.disabled_at is None else u.disabled_at.isoformat()}
            for u in users
        ]  # fmt: skip
    store.close()
    if as_json:
        print(json.dumps(rows), flush=True)
        return
    table = Table("user", "org", "e-mail", "name", "org admin", "state")
    for u in rows:
        # the table's column is narrow: the minute (UTC) says when; --json has the exact time
        since = None if u["disabled_at"] is None else str(u["disabled_at"])[:16].replace("T", " ")
        state = "active" if since is None else f"disabled since {since} UTC"
        table.add_row(
            str(u["id"]),
            str(u["org"]),
            str(u["email"]),
            str(u["name"]),
            "yes" if u["org_admin"] else "no",
            state,
        )
    console.print(table)


@users_app.command("disable")
@clear_errors
def disable_user(email: Annotated[str, typer.Argument(help="The user's e-mail.")], db: DbOpt = None) -> None:
    """Disable a user: every token of it is revoked at once."""
    from gridflex.store import Principal

    store = _open(db)
    with store.repos(Principal.system()) as r:
        user = r.accounts.disable_user(r.accounts.find_user(email).id)
        n = sum(t.user_id == user.id and t.revoked_at == user.disabled_at for t in r.accounts.list_tokens())
        console.print(
            f"user {user.id} {email!r} disabled, {n} token{'' if n == 1 else 's'} revoked", highlight=False
        )
    store.close()
