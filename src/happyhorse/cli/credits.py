"""Operator commands for money: grant credits, read an account's ledger."""

from __future__ import annotations

import time

import typer

from happyhorse.cli.options import DatabaseUrl, DataDir, default_dir, make_settings

credits_app = typer.Typer(help="Manage credits (USD): grant them, see an account's ledger.", no_args_is_help=True)


def _open(data_dir, database_url, account_name: str):  # type: ignore[no-untyped-def]
    """The runtime and the account, or exit 1 with a message naming what is wrong."""
    from happyhorse.accounts import get_account_by_name
    from happyhorse.errors import ServiceError
    from happyhorse.runtime import Runtime

    runtime = Runtime.open(make_settings(data_dir, database_url))
    try:
        return runtime, get_account_by_name(runtime.db, account_name)
    except ServiceError as error:
        runtime.close()
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None


@credits_app.command("add")
def credits_add(
    account: str = typer.Argument(..., help="Account name."),
    usd: str = typer.Argument(
        ..., help="Amount in US dollars: digits and at most one '.', e.g. 10 or 2.50 (no commas)."
    ),
    memo: str | None = typer.Option(None, "--memo", help="A note kept on the ledger entry."),
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
) -> None:
    """Grant credit to an account (a ledger entry); prints the new balance."""
    from happyhorse.billing.ledger import grant_credits
    from happyhorse.billing.money import format_usd, parse_usd

    try:
        # Parsed as text, never through float: money stays exact.
        amount = parse_usd(usd, param="USD")
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    runtime, found = _open(data_dir, database_url, account)
    try:
        balance = grant_credits(runtime.db, found.id, amount, memo=memo)
    finally:
        runtime.close()
    typer.echo(f"added {format_usd(amount)} USD to {found.name}; balance {format_usd(balance)} USD")


@credits_app.command("ledger")
def credits_ledger(
    account: str = typer.Argument(..., help="Account name."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Show only the newest N entries."),
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
) -> None:
    """An account's ledger, newest first, with the balance after each entry."""
    from happyhorse.billing.ledger import ledger_lines, read_balances
    from happyhorse.billing.money import format_usd

    runtime, found = _open(data_dir, database_url, account)
    try:
        lines = ledger_lines(runtime.db, found.id, limit=limit)
        with runtime.db.connect().execution_options(readonly=True) as conn:
            money = read_balances(conn, found.id)
    finally:
        runtime.close()
    typer.echo(
        f"{found.name}: balance {format_usd(money.balance)} USD, held {format_usd(money.held)} USD, "
        f"available {format_usd(money.available)} USD"
    )
    rows = [("WHEN (UTC)", "KIND", "AMOUNT", "BALANCE", "JOB", "MEMO")]
    for line in lines:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(line.created_at))
        rows.append((when, line.kind, format_usd(line.amount), format_usd(line.balance_after), line.job_id or "-",
                     line.memo or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [row[i].rjust(widths[i]) if i in (2, 3) else row[i].ljust(widths[i]) for i in range(5)]
        typer.echo("  ".join([*cells, row[5]]).rstrip())
    if not lines:
        typer.echo("(no entries yet; grant credit with `happyhorse credits add`)")
