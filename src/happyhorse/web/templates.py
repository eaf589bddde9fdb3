"""Tiny HTML templates: ``{{name}}`` placeholders, filled with escaped text unless given :class:`Raw`.

The pages are mostly static markup that their JavaScript module fills in from
the API, so a template engine would be more than they need.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from importlib.resources import files

from happyhorse.web.static_files import STATIC_URL

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class Raw(str):
    """Markup inserted as is (only for strings built from escaped parts)."""


@lru_cache(maxsize=32)
def _template(name: str) -> str:
    return (files("happyhorse.web") / "templates" / name).read_text(encoding="utf-8")


def render(name: str, **values: object) -> str:
    """The template ``name`` with each ``{{key}}`` replaced; a missing key is an error, not a blank."""

    def fill(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        return value if isinstance(value, Raw) else html.escape(str(value))

    return _PLACEHOLDER.sub(fill, _template(name))


NAV = (("playground", "Playground"), ("keys", "API keys"), ("webhooks", "Webhooks"), ("usage", "Usage"),
       ("pricing", "Pricing"))


def page(
    template: str, *, title: str, active: str, email: str, csrf: str, operator: bool, script: str | None = None,
    **values: object,
) -> str:
    """A dashboard page: the layout around ``template``, with the nav, the CSRF token and the page's module."""
    items = [*NAV, ("operator", "Operator")] if operator else list(NAV)
    nav = "".join(
        f'<a href="/dashboard/{slug}"{" aria-current=page" if slug == active else ""}>{html.escape(label)}</a>'
        for slug, label in items
    )
    scripts = f'<script type="module" src="{STATIC_URL}/{script}"></script>' if script else ""
    body = render(template, csrf=csrf, **values)
    return render("layout.html", title=title, nav=Raw(nav), email=email, csrf=csrf, content=Raw(body),
                  scripts=Raw(scripts), static=STATIC_URL)


def public_page(template: str, *, title: str, **values: object) -> str:
    """A page for people not signed in (sign-in, sign-up)."""
    return render("public.html", title=title, content=Raw(render(template, title=title, **values)), static=STATIC_URL)
