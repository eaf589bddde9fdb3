"""The ``happyhorse`` command line.

Client commands (``generate``, ``jobs``, ``models``) use the SDK and work on
the base install. Operator commands (``serve``, ``api``, ``worker``,
``accounts``, ``keys``, ``credits``, ``users``, ``weights``, ``db``, ``storage``) import the
server packages only when they run, so ``happyhorse --help`` works without them.
"""

from __future__ import annotations

import typer

from happyhorse.cli import admin, credits, server
from happyhorse.cli import generate as generate_command
from happyhorse.cli import jobs as jobs_commands
from happyhorse.cli.storage import storage_app
from happyhorse.cli.users import users_app
from happyhorse.cli.weights import weights_app

app = typer.Typer(
    name="happyhorse",
    help="HappyHorse 1.1 video generation: generate videos, follow jobs, run the service, "
    "manage accounts, keys, credits and users.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("generate")(generate_command.generate)
app.add_typer(jobs_commands.jobs_app, name="jobs")
app.command("models")(jobs_commands.models)
server.register(app)
app.add_typer(admin.accounts_app, name="accounts")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(credits.credits_app, name="credits")
app.add_typer(users_app, name="users")
app.add_typer(admin.db_app, name="db")
app.add_typer(storage_app, name="storage")
app.add_typer(weights_app, name="weights")


def main() -> None:
    app()


__all__ = ["app", "main"]
