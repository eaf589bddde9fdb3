"""People who sign in to the dashboard: each user belongs to one account.

Web sign-up creates an account with its first user in one transaction (with
the operator's starting credit, if any, as a ``grant`` ledger entry). Operators
(``is_operator``) also see the operator pages: all accounts, credit grants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from happyhorse.db.clock import db_now
from happyhorse.db.schema import accounts, users
from happyhorse.errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound
from happyhorse.ids import new_id
from happyhorse.web.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)

# Deliberately loose: one @, something on each side, no spaces. Deliverability is not checked.
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")  # no control characters (NUL!)


@dataclass(frozen=True, slots=True)
class User:
    id: str
    account_id: str
    account_name: str
    email: str
    is_operator: bool


def normalize_email(email: str) -> str:
    """The email as stored (trimmed, lower-cased), or 400 ``invalid_email``."""
    cleaned = email.strip().lower()
    if len(cleaned) > 320 or not _EMAIL.fullmatch(cleaned):
        raise InvalidRequest("invalid_email", "enter an email address such as you@example.com", "email")
    return cleaned


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidRequest(
            "password_too_short", f"use a password of at least {MIN_PASSWORD_CHARS} characters", "password"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidRequest("password_too_long", f"use at most {MAX_PASSWORD_CHARS} characters", "password")


def create_user(
    engine: Engine,
    email: str,
    password: str,
    *,
    account_id: str | None = None,
    is_operator: bool = False,
    starting_credit: Decimal = Decimal(0),
) -> User:
    """Create a user in ``account_id``, or in a new account named after the email.

    The new account, its starting credit and the user are written in one transaction."""
    from happyhorse.billing.ledger import GRANT, insert_entry

    email = normalize_email(email)
    check_password_rules(password)
    password_hash = hash_password(password)  # slow on purpose: outside the transaction
    with engine.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.email == email)).first():
            raise Conflict("email_taken", "an account with this email already exists; sign in instead", "email")
        now = db_now(conn.dialect.name)
        if account_id is None:
            account_id, account_name = new_id("acct"), _free_account_name(conn, email)
            conn.execute(accounts.insert().values(id=account_id, name=account_name, created_at=now))
            if starting_credit > 0:
                insert_entry(conn, account_id=account_id, kind=GRANT, amount=starting_credit,
                             memo="starting credit (web sign-up)")
        else:
            found = conn.execute(select(accounts.c.name).where(accounts.c.id == account_id)).first()
            if found is None:
                raise NotFound("account_not_found", f"no account {account_id}", "account")
            account_name = found.name
        user_id = new_id("user")
        conn.execute(users.insert().values(id=user_id, account_id=account_id, email=email,
                                           password_hash=password_hash, is_operator=is_operator, created_at=now))
    return User(user_id, account_id, account_name, email, is_operator)


def _free_account_name(conn: Connection, email: str) -> str:
    """The email, or the email with a suffix when an operator already took that name."""
    name, n = email, 1
    while conn.execute(select(accounts.c.id).where(accounts.c.name == name)).first():
        n += 1
        name = f"{email}-{n}"
    return name


def authenticate_user(engine: Engine, email: str, password: str) -> User:
    """The user with this email and password, or 401 ``invalid_credentials`` (the same for both mistakes)."""
    wrong = AuthenticationFailed("invalid_credentials", "the email or the password is not right", None)
    try:
        email = normalize_email(email)
    except InvalidRequest:
        raise wrong from None
    with engine.connect().execution_options(readonly=True) as conn:
        row = conn.execute(_user_query().where(users.c.email == email)).first()
    if row is None:
        verify_password(dummy_hash(), password)  # the same work as for a known email
        raise wrong
    if not verify_password(row.password_hash, password):
        raise wrong
    with engine.begin() as conn:
        values: dict[str, object] = {"last_sign_in_at": db_now(conn.dialect.name)}
        if needs_rehash(row.password_hash):
            values["password_hash"] = hash_password(password)
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
    return _user(row)


def get_user_by_email(engine: Engine, email: str) -> User:
    with engine.connect().execution_options(readonly=True) as conn:
        row = conn.execute(_user_query().where(users.c.email == normalize_email(email))).first()
    if row is None:
        raise NotFound("user_not_found", f"no user with the email {email!r}", "email")
    return _user(row)


def set_operator(engine: Engine, email: str, is_operator: bool) -> User:
    user = get_user_by_email(engine, email)
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(is_operator=is_operator))
    return User(user.id, user.account_id, user.account_name, user.email, is_operator)


def list_users(engine: Engine) -> list[User]:
    with engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(_user_query().order_by(users.c.id)).all()
    return [_user(row) for row in rows]


def _user_query():  # type: ignore[no-untyped-def]
    return select(users.c.id, users.c.account_id, users.c.email, users.c.password_hash, users.c.is_operator,
                  accounts.c.name.label("account_name")).join(accounts, accounts.c.id == users.c.account_id)


def _user(row) -> User:  # type: ignore[no-untyped-def]
    return User(row.id, row.account_id, row.account_name, row.email, bool(row.is_operator))
