"""The data dir and the SQLite database are private to the user the service runs as, whatever the umask.

The data dir holds the database (every account, key hash, session and
ledger row), the signing secret, the dev key and password and the stored
files: it is created ``0700`` (an existing one is left as the operator made
it, with a warning if others can read it) and the database file ``0600``
(always: it is ours). SQLite creates its
``-wal``, ``-shm`` and ``-journal`` files with the database file's own mode, so
creating that file ``0600`` before SQLite opens it covers them; existing ones
(from an install before this rule) are tightened too. Only the group and
other bits are removed: the owner keeps what it had.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("happyhorse")
_warned: set[Path] = set()

_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) ``0700`` if missing. An existing folder keeps its mode (it may be
    one the operator chose to share, or ``/srv``), with a warning when others can read it."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)  # the umask can only remove bits from 0700
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if path.is_dir() and mode & 0o077 and path not in _warned:
        _warned.add(path)
        log.warning("the data dir %s can be read by other users (mode %o): `chmod 700 %s` keeps it private",
                    path, mode, path)


def make_private_sqlite_file(database_url: str) -> None:
    """For a SQLite file URL: create the database file ``0600`` if missing; tighten it and its companions."""
    path = sqlite_path(database_url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # an empty file is an empty database
    except FileExistsError:
        pass
    for suffix in _SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _remove_group_and_other(companion)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite:///...`` URL; None for another database or an in-memory one."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:"):
        return None
    return Path(url.database).expanduser()


def _remove_group_and_other(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, mode & ~0o077)
