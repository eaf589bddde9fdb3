"""The help and the shown default of a Settings field, read from settings.py itself.

The docstring under each field of :class:`~happyhorse.settings.Settings` is its
``--help`` text and ``Settings()`` gives the default ``--help`` shows, so a
changed default or a reworded field shows in ``--help`` with no other edit.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from decimal import Decimal

from happyhorse import settings as settings_module

# ``literal`` and :role:`target` read as plain words in a terminal.
_MARKUP = re.compile(r":[a-z]+:`~?([^`]*)`|``([^`]*)``")


@functools.cache
def field_docs() -> dict[str, str]:
    """Every documented Settings field and its docstring, as one line of plain text."""
    tree = ast.parse(inspect.getsource(settings_module))
    (settings_class,) = (node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings")
    docs: dict[str, str] = {}
    body = settings_class.body
    # An attribute docstring is the string statement right after the annotated assignment.
    for statement, following in zip(body, body[1:]):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[statement.target.id] = _plain(following.value.value)
    return docs


def field_help(name: str) -> str:
    """The help text of Settings field ``name``; ``KeyError`` if the field has no docstring."""
    return field_docs()[name]


@functools.cache
def _defaults() -> object:
    from happyhorse.settings import Settings

    return Settings()


def field_default(name: str) -> object:
    """The default of Settings field ``name``, as ``Settings()`` has it."""
    return getattr(_defaults(), name)


def shown_default(name: str) -> str | None:
    """How ``--help`` writes the default of field ``name``; ``None`` for an unset or empty one, which
    the field's help explains ("unset: ...")."""
    value = field_default(name)
    if value is None or value in ("", ()):
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float | Decimal) and value == int(value):
        value = int(value)  # 300, not 300.0: the option takes either
    if name.endswith("_bytes") and isinstance(value, int):
        return _shown_bytes(value)
    return str(value)


def _shown_bytes(value: int) -> str:
    """Exact, and in GiB/MiB/KiB too when it is a whole number of them."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size and value % size == 0:
            return f"{value} ({value // size} {unit})"
    return str(value)


def _plain(docstring: str) -> str:
    text = _MARKUP.sub(lambda match: match.group(1) or match.group(2), inspect.cleandoc(docstring))
    return " ".join(text.split())
