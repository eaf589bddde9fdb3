"""The operator commands' options: each declared once, next to the Settings field it sets.

A :class:`SettingOption` is a flag and an environment variable for one field of
:class:`~happyhorse.settings.Settings`; its ``--help`` is that field's docstring
and the default it shows is ``Settings()``'s. Options come in groups
(:data:`DATABASE`, :data:`HTTP`, :data:`LIMITS`...) that commands compose with
:func:`with_settings`, which builds the command's Settings from them in one way::

    @with_settings(DATABASE, ENGINE, STORAGE)
    def worker(settings: Settings) -> None: ...
"""

from __future__ import annotations

from pathlib import Path

from happyhorse.cli.options.command import make_settings, settings_fields, with_settings
from happyhorse.cli.options.groups import (
    DATABASE,
    ENGINE,
    FETCH,
    GROUPS,
    HTTP,
    LIMITS,
    LISTEN,
    LOGGING,
    LTX2,
    METRICS,
    SHUTDOWN,
    SIGNUP,
    STORAGE,
    SWEEP,
    signup_credit,
)
from happyhorse.cli.options.option import Fields, OptionGroup, SettingOption
from happyhorse.settings import default_data_dir

_DATA_DIR, _DATABASE_URL = DATABASE.options

# For the commands that only open the database (accounts, keys, credits, users, db): DATABASE's two
# options as plain typer annotations, so those commands keep their simple parameters.
DataDir = _DATA_DIR.annotation()
DatabaseUrl = _DATABASE_URL.annotation()


def default_dir() -> Path:
    """The data dir used when none is given (``$HAPPYHORSE_DATA_DIR``, else ``~/.happyhorse``)."""
    return default_data_dir()


__all__ = [
    "DATABASE",
    "ENGINE",
    "FETCH",
    "GROUPS",
    "HTTP",
    "LIMITS",
    "LISTEN",
    "LOGGING",
    "LTX2",
    "METRICS",
    "SHUTDOWN",
    "SIGNUP",
    "STORAGE",
    "SWEEP",
    "DataDir",
    "DatabaseUrl",
    "Fields",
    "OptionGroup",
    "SettingOption",
    "default_dir",
    "make_settings",
    "settings_fields",
    "signup_credit",
    "with_settings",
]
