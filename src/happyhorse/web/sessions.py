"""Dashboard sessions: a random token in a cookie, its SHA-256 in ``web_sessions``.

Each session has its own API key, so that the browser can call the public
``/v1`` API exactly as any client does (same code path, same account checks,
same polling fast path). The key is never sent to the browser and never
stored: it is derived from the session token with the server's secret
(HMAC-SHA256), and only its hash goes into ``api_keys`` like any key's.
:class:`~happyhorse.web.middleware.SessionCookieMiddleware` derives it again
for each ``/v1`` request that carries the cookie and no ``Authorization``.
Signing out, or the session expiring, ends the key with it.

Each session also has a CSRF synchronizer token (random, stored with the
session); pages embed it, forms post it back, and the dashboard's scripts send
it in ``X-CSRF-Token`` on every state-changing call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from happyhorse.accounts.keys import VISIBLE_PREFIX_CHARS, hash_key
from happyhorse.accounts.key_format import BODY_CHARS, key_from_body
from happyhorse.db.clock import db_now
from happyhorse.db.schema import accounts, api_keys, users, web_sessions
from happyhorse.ids import new_id
from happyhorse.web.users import User

SESSION_COOKIE = "hh_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_KEY_NAME = "dashboard session"
"""The name of a session's API key (it is hidden from the API keys page)."""


@dataclass(frozen=True, slots=True)
class WebSession:
    id: str
    """SHA-256 of the cookie's token."""
    user: User
    csrf_token: str
    api_key_id: str
    expires_at: float


def session_id_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_api_key(secret: bytes, token: str) -> str:
    """The session's API key: 30 characters of HMAC(secret, token) in the usual key shape (with checksum)."""
    mac = hmac.new(secret, b"happyhorse-dashboard-session\x00" + token.encode(), hashlib.sha256).digest()
    return key_from_body(base64.urlsafe_b64encode(mac).decode()[:BODY_CHARS])


def start_session(engine: Engine, user: User, *, secret: bytes, ttl_seconds: float) -> tuple[str, WebSession]:
    """A new session for ``user``; returns the cookie's token (shown to nobody else) and the session."""
    token = secrets.token_urlsafe(32)
    key = session_api_key(secret, token)
    key_id, csrf = new_id("key"), secrets.token_urlsafe(32)
    with engine.begin() as conn:
        now = conn.execute(select(db_now(conn.dialect.name))).scalar_one()
        conn.execute(api_keys.insert().values(
            id=key_id, account_id=user.account_id, prefix=key[:VISIBLE_PREFIX_CHARS], key_hash=hash_key(key),
            name=SESSION_KEY_NAME, created_at=now,
        ))
        conn.execute(web_sessions.insert().values(
            id=session_id_of(token), user_id=user.id, api_key_id=key_id, csrf_token=csrf, created_at=now,
            expires_at=now + ttl_seconds,
        ))
        _end_expired(conn, user.id, now)
    return token, WebSession(session_id_of(token), user, csrf, key_id, now + ttl_seconds)


def find_session(engine: Engine, token: str | None) -> WebSession | None:
    """The live session of a cookie's token, or None (unknown, ended or expired)."""
    if not token or len(token) > 200:
        return None
    with engine.connect().execution_options(readonly=True) as conn:
        row = conn.execute(
            select(web_sessions.c.id, web_sessions.c.csrf_token, web_sessions.c.api_key_id,
                   web_sessions.c.expires_at, users.c.id.label("user_id"), users.c.account_id, users.c.email,
                   users.c.is_operator, accounts.c.name.label("account_name"))
            .join(users, users.c.id == web_sessions.c.user_id)
            .join(accounts, accounts.c.id == users.c.account_id)
            .where(web_sessions.c.id == session_id_of(token), web_sessions.c.ended_at.is_(None),
                   web_sessions.c.expires_at > db_now(conn.dialect.name))
        ).first()
    if row is None:
        return None
    user = User(row.user_id, row.account_id, row.account_name, row.email, bool(row.is_operator))
    return WebSession(row.id, user, row.csrf_token, row.api_key_id, row.expires_at)


def end_session(engine: Engine, session: WebSession) -> None:
    """Sign out: the session and its API key stop working at once."""
    with engine.begin() as conn:
        now = db_now(conn.dialect.name)
        conn.execute(update(web_sessions).where(web_sessions.c.id == session.id).values(ended_at=now))
        conn.execute(update(api_keys).where(api_keys.c.id == session.api_key_id, api_keys.c.revoked_at.is_(None))
                     .values(revoked_at=now))


def _end_expired(conn, user_id: str, now: float) -> None:  # type: ignore[no-untyped-def]
    """Revoke the keys of the user's expired sessions (housekeeping at each sign-in)."""
    expired = select(web_sessions.c.api_key_id).where(
        web_sessions.c.user_id == user_id, web_sessions.c.expires_at <= now, web_sessions.c.ended_at.is_(None)
    )
    conn.execute(update(api_keys).where(api_keys.c.id.in_(expired), api_keys.c.revoked_at.is_(None))
                 .values(revoked_at=now))
    conn.execute(update(web_sessions).where(web_sessions.c.user_id == user_id, web_sessions.c.expires_at <= now,
                                            web_sessions.c.ended_at.is_(None)).values(ended_at=now))


def csrf_matches(session: WebSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf_token.encode(), (sent or "").encode())
