"""Operator commands for dashboard users: create (optionally as operators), list, promote."""

from __future__ import annotations

import typer

from happyhorse.cli.options import DatabaseUrl, DataDir, default_dir, make_settings

users_app = typer.Typer(help="Manage dashboard users (email + password sign-in).", no_args_is_help=True)


def _runtime(data_dir, database_url):  # type: ignore[no-untyped-def]
    from happyhorse.runtime import Runtime

    return Runtime.open(make_settings(data_dir, database_url))


@users_app.command("create")
def users_create(
    email: str = typer.Argument(..., help="The user's email (their sign-in name), stored as sign-up stores it: "
                                "lower-cased, the domain in ASCII (punycode); look-alike emails are refused."),
    account: str | None = typer.Option(None, "--account", help="Add the user to this existing account "
                                       "(default: a new account named after the email)."),
    operator: bool = typer.Option(False, "--operator", help="Let the user see every account and grant credit."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 envvar="HAPPYHORSE_USER_PASSWORD", help="Prompted for when not given."),
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user who signs in to the dashboard; prints the user's id and account."""
    from happyhorse.accounts import get_account_by_name
    from happyhorse.errors import ServiceError
    from happyhorse.web.users import create_user

    runtime = _runtime(data_dir, database_url)
    try:
        account_id = get_account_by_name(runtime.db, account).id if account else None
        user = create_user(runtime.db, email, password, account_id=account_id, is_operator=operator)
    except ServiceError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        runtime.close()
    role = " (operator)" if user.is_operator else ""
    typer.echo(f"{user.id} {user.email}{role} in account {user.account_name}")


@users_app.command("list")
def users_list(data_dir: DataDir = default_dir(), database_url: DatabaseUrl = None) -> None:
    """List users: email, account, role."""
    from happyhorse.web.users import list_users

    runtime = _runtime(data_dir, database_url)
    try:
        for user in list_users(runtime.db):
            typer.echo(f"{user.email}  {user.account_name}  {'operator' if user.is_operator else 'user'}")
    finally:
        runtime.close()


@users_app.command("operator")
def users_operator(
    email: str = typer.Argument(..., help="The user's email, in any spelling sign-in accepts."),
    revoke: bool = typer.Option(False, "--revoke", help="Take the operator role away instead."),
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
) -> None:
    """Give a user the operator role (or take it away with --revoke)."""
    from happyhorse.errors import ServiceError
    from happyhorse.web.users import set_operator

    runtime = _runtime(data_dir, database_url)
    try:
        user = set_operator(runtime.db, email, not revoke)
    except ServiceError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        runtime.close()
    typer.echo(f"{user.email} is {'now an operator' if user.is_operator else 'no longer an operator'}")
