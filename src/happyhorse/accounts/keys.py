"""API keys: made, listed, revoked, and checked on every request.

Keys look like ``hh_live_<30 url-safe chars><6-char checksum>`` (180 random
bits; see :mod:`happyhorse.accounts.key_format`). Only their SHA-256 is stored, with a
short visible prefix so people can tell keys apart; the key itself is shown
once, at creation, and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from happyhorse.db.clock import db_now
from happyhorse.db.schema import accounts, api_keys
from happyhorse.accounts.accounts import Account
from happyhorse.errors import AuthenticationFailed, NotFound
from happyhorse.ids import new_id
from happyhorse.accounts.key_format import KEY_PREFIX, is_well_formed, new_key

VISIBLE_PREFIX_CHARS = len(KEY_PREFIX) + 4
# last_used_at is informative; writing it on every request would make every
# read a write, so it is refreshed at most this often.
LAST_USED_RESOLUTION_SECONDS = 60.0


@dataclass(frozen=True)
class CreatedKey:
    id: str
    account_id: str
    key: str
    """The secret; shown once and never stored."""
    prefix: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(engine: Engine, account_id: str, *, name: str | None = None) -> CreatedKey:
    key = new_key()
    key_id = new_id("key")
    with engine.begin() as conn:
        _insert_key(conn, key_id, account_id, key, name)
    return CreatedKey(key_id, account_id, key, key[:VISIBLE_PREFIX_CHARS])


def _insert_key(conn: Connection, key_id: str, account_id: str, key: str, name: str | None) -> None:
    conn.execute(
        api_keys.insert().values(
            id=key_id,
            account_id=account_id,
            prefix=key[:VISIBLE_PREFIX_CHARS],
            key_hash=hash_key(key),
            name=name,
            created_at=db_now(conn.dialect.name),
        )
    )


def revoke_key(engine: Engine, key_or_id: str) -> str:
    """Revoke a key given its id (``key_...``) or the key itself; returns the id."""
    condition = api_keys.c.id == key_or_id if key_or_id.startswith("key_") else api_keys.c.key_hash == hash_key(key_or_id)
    with engine.begin() as conn:
        row = conn.execute(select(api_keys.c.id, api_keys.c.revoked_at).where(condition)).first()
        if row is None:
            raise NotFound("key_not_found", "no such API key; pass its id (key_...) or the key itself", "key")
        if row.revoked_at is None:
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=db_now(conn.dialect.name)))
    return row.id


def list_keys(engine: Engine, account_id: str) -> list[dict]:
    with engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(
            select(api_keys.c.id, api_keys.c.prefix, api_keys.c.name, api_keys.c.created_at,
                   api_keys.c.last_used_at, api_keys.c.revoked_at)
            .where(api_keys.c.account_id == account_id)
            .order_by(api_keys.c.id)
        ).all()
    return [dict(row._mapping) for row in rows]


def authenticate(engine: Engine, authorization: str | None) -> Account:
    """The account behind an ``Authorization: Bearer <key>`` header, or 401."""
    digest = hash_key(checked_key(authorization))
    with engine.connect().execution_options(readonly=True) as conn:
        row = conn.execute(
            select(api_keys.c.id, api_keys.c.key_hash, api_keys.c.revoked_at, api_keys.c.last_used_at,
                   accounts.c.id.label("account_id"), accounts.c.name, db_now(conn.dialect.name).label("now"))
            .join(accounts, accounts.c.id == api_keys.c.account_id)
            .where(api_keys.c.key_hash == digest)
        ).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        raise _invalid_key()
    if row.revoked_at is not None:
        raise AuthenticationFailed("api_key_revoked", "this API key has been revoked; create a new one", None)
    touch_key(engine, row.id, last_used_at=row.last_used_at, now=row.now)
    return Account(row.account_id, row.name)


def touch_key(engine: Engine, key_id: str, *, last_used_at: float | None, now: float) -> None:
    """Record that a key was used, unless that was recorded less than a minute ago."""
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION_SECONDS:
        with engine.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))


def bearer_token(authorization: str | None) -> str:
    """The key of an ``Authorization: Bearer <key>`` header, or 401."""
    if not authorization:
        raise AuthenticationFailed(
            "missing_api_key", "no API key given; send the header `Authorization: Bearer <your API key>`", None
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthenticationFailed(
            "malformed_authorization", "the Authorization header must be `Bearer <your API key>`", None
        )
    return token


def checked_key(authorization: str | None) -> str:
    """The key of an ``Authorization: Bearer <key>`` header if it is well formed, or 401.

    A key whose checksum does not match (a typo, a truncated copy) is refused
    here, before it is hashed or looked up: it costs the database nothing."""
    key = bearer_token(authorization)
    if not is_well_formed(key):
        raise _invalid_key()
    return key


def _invalid_key() -> AuthenticationFailed:
    # One answer for malformed and unknown keys: the caller learns nothing about which.
    return AuthenticationFailed("invalid_api_key", "the API key is not valid; check it or create a new one", None)
