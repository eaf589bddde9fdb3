"""First start of ``happyhorse serve``: a ``dev`` account with $10 of credit and a key, so it works at once."""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal

from happyhorse.accounts import create_account, create_key, get_account_by_name
from happyhorse.billing.ledger import grant_credits
from happyhorse.errors import NotFound
from happyhorse.runtime import Runtime

DEV_ACCOUNT = "dev"
DEV_CREDIT = Decimal("10")


def ensure_dev_key(runtime: Runtime, *, echo: Callable[[str], None]) -> str | None:
    """Create the ``dev`` account (with $10 of credit) and key on first start; print
    the key once and keep it in ``<data-dir>/dev-api-key`` (mode 0600). Returns the new key, if any."""
    path = runtime.settings.data_dir / "dev-api-key"
    try:
        get_account_by_name(runtime.db, DEV_ACCOUNT)
    except NotFound:
        account = create_account(runtime.db, DEV_ACCOUNT)
        grant_credits(runtime.db, account.id, DEV_CREDIT, memo="starting credit of the dev account (serve)")
        key = create_key(runtime.db, account.id, name="dev (created by serve)").key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        os.chmod(path, 0o600)
        echo(
            f"Created account 'dev' with $10.00 of credit and an API key (shown once, also saved to {path}):"
            f"\n\n    {key}\n\nAdd credit with `happyhorse credits add dev USD`.\n"
        )
        return key
    if path.exists():
        echo(f"happyhorse: the dev API key is in {path}")
    return None
