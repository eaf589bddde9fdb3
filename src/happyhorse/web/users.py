"""People who sign in to the dashboard: each user belongs to one account.

Web sign-up creates an account with its first user in one transaction (with
the operator's starting credit, if any, as a ``grant`` ledger entry); for an
email that is taken it answers as a sign-in would, so it does not say which
emails exist. Emails go through :mod:`happyhorse.web.emails` on every way in.
Operators (``is_operator``) also see the operator pages: all accounts, credit grants.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from happyhorse.db.clock import db_now
from happyhorse.db.schema import accounts, users
from happyhorse.errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound
from happyhorse.ids import new_id
from happyhorse.web.emails import email_lookup_forms, normalize_email
from happyhorse.web.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)

__all__ = ["User", "authenticate_user", "check_password_rules", "check_sign_up_form", "create_user",
           "get_user_by_email", "list_users", "normalize_email", "set_operator", "sign_up_user"]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    account_id: str
    account_name: str
    email: str
    is_operator: bool


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidRequest(
            "password_too_short", f"use a password of at least {MIN_PASSWORD_CHARS} characters", "password"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidRequest("password_too_long", f"use at most {MAX_PASSWORD_CHARS} characters", "password")


def check_sign_up_form(email: str, password: str) -> None:
    """400 for a sign-up form that could never succeed (the email's shape, the password's length):
    cheap, needs no database, and says nothing about which emails exist."""
    normalize_email(email)
    check_password_rules(password)


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

    The new account, its starting credit and the user are written in one transaction; an email
    that is taken (in any spelling :func:`email_lookup_forms` knows) is 409 ``email_taken``."""
    forms = email_lookup_forms(email)
    email = normalize_email(email)
    check_password_rules(password)
    password_hash = hash_password(password)  # slow on purpose: outside the transaction
    try:
        return _insert_user(engine, email, password_hash, forms, account_id, is_operator, starting_credit)
    except IntegrityError:
        if _find_user(engine, email) is None:
            raise
        raise _email_taken() from None  # the same email signed up at the same moment (the column is unique)


def _email_taken() -> Conflict:
    return Conflict("email_taken", "an account with this email already exists; sign in instead", "email")


def _insert_user(engine: Engine, email: str, password_hash: str, forms: tuple[str, ...], account_id: str | None,
                 is_operator: bool, starting_credit: Decimal) -> User:
    from happyhorse.billing.ledger import GRANT, insert_entry

    with engine.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.email.in_(forms))).first():
            raise _email_taken()
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


def sign_up_user(engine: Engine, email: str, password: str, *, starting_credit: Decimal = Decimal(0)) -> User:
    """Web sign-up: a new account whose first user has this email and password.

    For an email that is taken it does what a sign-in does: the owner's password
    signs the owner in, anything else is the sign-in's 401 ``invalid_credentials``,
    never a 409 that would say the email exists. Mistakes in the form itself
    (the email's shape, the password's length) are 400s, checked first.

    Without email verification one signal remains: a sign-up for a free email
    succeeds (and makes an account), one for a taken email does not. The page
    counts every such attempt against the address's sign-up limit, and a taken
    email's against the sign-in throttle too, so probing is as slow as those."""
    check_sign_up_form(email, password)
    try:
        return create_user(engine, email, password, starting_credit=starting_credit)
    except Conflict:
        return authenticate_user(engine, email, password)


def authenticate_user(engine: Engine, email: str, password: str) -> User:
    """The user with this email and password, or 401 ``invalid_credentials`` (the same for both mistakes)."""
    wrong = AuthenticationFailed("invalid_credentials", "the email or the password is not right", None)
    row = _find_user(engine, email)
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


def _find_user(engine: Engine, email: str) -> Row | None:
    """The user stored under one of the email's spellings, today's normal form first."""
    forms = email_lookup_forms(email)
    if not forms:
        return None
    with engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(_user_query().where(users.c.email.in_(forms))).all()
    return min(rows, key=lambda row: forms.index(row.email), default=None)


def get_user_by_email(engine: Engine, email: str) -> User:
    row = _find_user(engine, email)
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
