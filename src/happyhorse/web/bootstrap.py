"""First start of ``happyhorse serve``: a dashboard user for the ``dev`` account; the sign-up line of its banner.

The user ``dev@localhost`` (an operator) signs in with a random password kept
in ``<data-dir>/dev-password`` (mode 0600) and printed once, like the dev API key.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from decimal import Decimal

from happyhorse.accounts import get_account_by_name
from happyhorse.errors import NotFound
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.web.users import create_user, get_user_by_email

DEV_EMAIL = "dev@localhost"


def ensure_dev_user(runtime: Runtime, base_url: str, *, echo: Callable[[str], None]) -> str | None:
    """Create ``dev@localhost`` in the ``dev`` account on first start; returns the new password, if any."""
    path = runtime.settings.data_dir / "dev-password"
    try:
        get_user_by_email(runtime.db, DEV_EMAIL)
    except NotFound:
        account = get_account_by_name(runtime.db, "dev")
        password = secrets.token_urlsafe(12)
        create_user(runtime.db, DEV_EMAIL, password, account_id=account.id, is_operator=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        echo(
            f"Dashboard and playground: {base_url}/ — sign in as {DEV_EMAIL} with the password "
            f"(shown once, also saved to {path}):\n\n    {password}\n"
        )
        return password
    echo(f"happyhorse: dashboard at {base_url}/ (sign in as {DEV_EMAIL}; password in {path})")
    return None


def signup_banner(settings: Settings, base_url: str, *, dev_credit: Decimal) -> str:
    """What ``serve`` tells the operator about sign-up: who may sign up, and what credit each account gets."""
    from happyhorse.billing.money import format_usd

    dev = f"the dev account ({DEV_EMAIL}, the dev API key) was given ${format_usd(dev_credit)} when it was created"
    if not settings.allow_signup:
        return f"happyhorse: web sign-up is off (--no-signup); {dev}; add users with `happyhorse users create`"
    limit = (f"at most {settings.signup_limit_per_hour} new accounts an hour per client address"
             if settings.signup_limit_per_hour > 0 else "no limit on new accounts per client address")
    return (f"happyhorse: web sign-up is open at {base_url}/signup: each new account gets "
            f"${format_usd(settings.signup_credit_usd)} of credit (--signup-credit), {limit} (--signup-limit); {dev}")
