"""The ``happyhorse`` command line.

Operator commands (``serve``, ``api``, ``worker``, ``accounts``, ``keys``,
``db``) import the server packages only when they run, so the base install's
commands stay light.
"""

from __future__ import annotations

import typer

from happyhorse.cli import admin, server

app = typer.Typer(
    name="happyhorse",
    help="HappyHorse 1.1 video generation: run the service, manage accounts and keys.",
    no_args_is_help=True,
    add_completion=False,
)
server.register(app)
app.add_typer(admin.accounts_app, name="accounts")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.db_app, name="db")


def main() -> None:
    app()


__all__ = ["app", "main"]
