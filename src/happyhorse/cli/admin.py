"""Operator commands: accounts, API keys and database migrations."""

from __future__ import annotations

import typer

from happyhorse.cli.options import DatabaseUrl, DataDir, default_dir, make_settings

accounts_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def _runtime(data_dir, database_url):  # type: ignore[no-untyped-def]
    from happyhorse.runtime import Runtime

    return Runtime.open(make_settings(data_dir, database_url))


def _fail(error) -> None:  # type: ignore[no-untyped-def]
    typer.echo(f"error: {error.message}", err=True)
    raise typer.Exit(1)


@accounts_app.command("create")
def accounts_create(name: str, data_dir: DataDir = default_dir(), database_url: DatabaseUrl = None) -> None:
    """Create an account; prints its id."""
    from happyhorse.accounts import create_account
    from happyhorse.errors import ServiceError

    try:
        account = create_account(_runtime(data_dir, database_url).db, name)
    except ServiceError as error:
        _fail(error)
    typer.echo(account.id)


@keys_app.command("create")
def keys_create(
    account: str = typer.Option(..., "--account", help="Account name."),
    name: str | None = typer.Option(None, "--name", help="A label for the key."),
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key; prints only the key (shown once), for scripts."""
    from happyhorse.accounts import create_key, get_account_by_name
    from happyhorse.errors import ServiceError

    runtime = _runtime(data_dir, database_url)
    try:
        created = create_key(runtime.db, get_account_by_name(runtime.db, account).id, name=name)
    except ServiceError as error:
        _fail(error)
    typer.echo(created.key)


@keys_app.command("revoke")
def keys_revoke(key: str, data_dir: DataDir = default_dir(), database_url: DatabaseUrl = None) -> None:
    """Revoke a key, given its id (key_...) or the key itself."""
    from happyhorse.accounts import revoke_key
    from happyhorse.errors import ServiceError

    try:
        key_id = revoke_key(_runtime(data_dir, database_url).db, key)
    except ServiceError as error:
        _fail(error)
    typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def keys_list(
    account: str = typer.Option(..., "--account", help="Account name."),
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
) -> None:
    """List an account's keys (prefixes only)."""
    from happyhorse.accounts import get_account_by_name, list_keys
    from happyhorse.errors import ServiceError

    runtime = _runtime(data_dir, database_url)
    try:
        rows = list_keys(runtime.db, get_account_by_name(runtime.db, account).id)
    except ServiceError as error:
        _fail(error)
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        typer.echo(f"{row['id']}  {row['prefix']}…  {state}  {row['name'] or ''}")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = default_dir(), database_url: DatabaseUrl = None) -> None:
    """Apply the schema migrations (Alembic) up to the latest."""
    from happyhorse.db.migrate import current_revision, upgrade

    settings = make_settings(data_dir, database_url)
    # As Runtime.open does: the default SQLite database lives in the data dir.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    upgrade(url)
    typer.echo(f"database at revision {current_revision(url)}")
