"""The ``happyhorse`` command line.

Client commands (``generate``, ``jobs``, ``models``) use the SDK and work on
the base install. Operator commands (``serve``, ``api``, ``worker``,
``accounts``, ``keys``, ``db``) import the server packages only when they run,
so ``happyhorse --help`` works without them.
"""

from __future__ import annotations

import typer

from happyhorse.cli import admin, server
from happyhorse.cli import generate as generate_command
from happyhorse.cli import jobs as jobs_commands

app = typer.Typer(
    name="happyhorse",
    help="HappyHorse 1.1 video generation: generate videos, follow jobs, run the service, manage accounts and keys.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("generate")(generate_command.generate)
app.add_typer(jobs_commands.jobs_app, name="jobs")
app.command("models")(jobs_commands.models)
server.register(app)
app.add_typer(admin.accounts_app, name="accounts")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.db_app, name="db")


def main() -> None:
    app()


__all__ = ["app", "main"]
