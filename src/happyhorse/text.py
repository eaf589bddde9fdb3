"""Text a request may carry: valid Unicode only, checked where a body comes in.

A Python ``str`` can hold a lone surrogate (JSON's ``"\\ud83d"`` decodes to one)
that no UTF-8 encoder accepts: stored, it breaks every later answer that shows
it. So every text field of every body is checked on the way in
(:func:`check_text`, :func:`check_json_text`), and what is shown from rows
stored before that check is made showable (:func:`showable_text`).
"""

from __future__ import annotations

import re
from typing import Any

from happyhorse.errors import InvalidRequest

MAX_JSON_DEPTH = 64
"""Arrays and objects nested deeper than this are refused: no request of ours nests past 3."""

# Decoded text holds a surrogate code point only when it was not valid Unicode:
# a complete pair decodes to one code point above U+FFFF.
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_valid_text(value: str) -> bool:
    return value.isascii() or _SURROGATE.search(value) is None


def escaped(value: str) -> str:
    """``value`` with lone surrogates written as ``\\udXXX``: safe to put in an error message or ``param``."""
    return value if is_valid_text(value) else value.encode("utf-8", "backslashreplace").decode("utf-8")


def showable_text(value: str) -> str:
    """``value`` with any lone surrogate replaced by U+FFFD, so that it can always be encoded and sent."""
    return value if is_valid_text(value) else _SURROGATE.sub("\ufffd", value)


def check_text(value: str, param: str) -> str:
    """``value`` if it is valid Unicode, else a 400 ``invalid_text`` naming ``param``."""
    if is_valid_text(value):
        return value
    position = _SURROGATE.search(value).start()  # type: ignore[union-attr]
    raise InvalidRequest(
        "invalid_text",
        f"{param} is not valid Unicode: it has a lone surrogate ({escaped(value[position])}) at character "
        f"{position}; send text as UTF-8, with each surrogate pair complete",
        param,
    )


def check_json_text(value: Any, *, strings: bool = True, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``value`` (decoded JSON) if it nests at most ``max_depth`` deep and (unless ``strings`` is
    false: the caller knows none can be invalid) every key and string in it is valid Unicode; else a
    400 naming the field (``prompt``, ``image[2]``, ``a.b``; for depth, the top-level field).

    Walks the containers with an explicit stack: a hostile depth cannot exhaust Python's."""
    if isinstance(value, str):
        return check_text(value, "body") if strings else value
    stack: list[tuple[Any, str, int]] = [(value, "", 0)] if isinstance(value, (dict, list)) else []
    while stack:
        container, path, depth = stack.pop()
        if depth >= max_depth:
            raise InvalidRequest(
                "json_too_deep", f"the body nests arrays and objects more than {max_depth} deep; flatten it",
                _top_level(path, value),
            )
        entries = container.items() if isinstance(container, dict) else enumerate(container)
        for key, child in entries:
            if strings and isinstance(key, str) and not is_valid_text(key):
                check_text(key, escaped(_child_path(path, key)))
            if isinstance(child, (dict, list)):
                stack.append((child, _child_path(path, key), depth + 1))
            elif strings and isinstance(child, str) and not is_valid_text(child):
                check_text(child, escaped(_child_path(path, key)))
    return value


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path or 'body'}[{key}]"
    return f"{path}.{key}" if path else key


def _top_level(path: str, value: Any) -> str | None:
    """The body's own field that ``path`` lies in (``seed`` for ``seed[0][0]``), if the body is an object."""
    if not isinstance(value, dict) or not path:
        return None
    return next((key for key in value if path == key or path.startswith((f"{key}.", f"{key}["))), None)
