"""Accounts and their API keys.

``accounts`` (create and find accounts), ``keys`` (make, list, revoke and
check API keys; only hashes are stored), ``key_format`` (the ``hh_live_`` key
shape and its checksum, checked before any database lookup).
"""

from happyhorse.accounts.accounts import Account, create_account, get_account_by_name
from happyhorse.accounts.keys import (
    LAST_USED_RESOLUTION_SECONDS,
    CreatedKey,
    authenticate,
    bearer_token,
    checked_key,
    create_key,
    hash_key,
    list_keys,
    revoke_key,
    touch_key,
)

__all__ = [
    "LAST_USED_RESOLUTION_SECONDS",
    "Account",
    "CreatedKey",
    "authenticate",
    "bearer_token",
    "checked_key",
    "create_account",
    "create_key",
    "get_account_by_name",
    "hash_key",
    "list_keys",
    "revoke_key",
    "touch_key",
]
