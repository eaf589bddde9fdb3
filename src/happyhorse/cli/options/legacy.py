"""The per-topic mappings from before option groups, for callers that set a few fields by hand.

Tests (tests/cli/test_limit_options.py, test_url_fetch_options.py, test_serve_edge.py) call these; commands use
:func:`~happyhorse.cli.options.with_settings`. Each is its group's ``fields``
under the old keyword names, so no name is mapped twice.
"""

from __future__ import annotations

from happyhorse.cli.options.command import settings_fields
from happyhorse.cli.options.groups import HTTP, LIMITS, LISTEN, SWEEP
from happyhorse.cli.options.option import Fields


def limits(*, max_streams: int | None = None, **given: float | None) -> Fields:
    """The Settings fields for the limit options given (keyword: the option's name, ``max_streams`` for
    ``--max-streams-per-key``); ``typer.BadParameter`` on a negative value."""
    unknown = set(given) - {option.param for option in LIMITS.options}
    if unknown:
        raise TypeError(f"limits() got unknown options {', '.join(sorted(unknown))}")
    return LIMITS.fields({**given, "max_streams_per_key": max_streams})


def sweep_settings(*, interval: float | None = None, grace: float | None = None,
                   upload_ttl: float | None = None) -> Fields:
    """The Settings fields for the sweep options given."""
    return SWEEP.fields({"sweep_interval": interval, "sweep_grace": grace, "upload_ttl": upload_ttl})


def http_edge(*, host: str, public_url: str | None, **given: object) -> Fields:
    """The Settings fields of the HTTP edge options given (keyword: the option's name), with the
    trusted proxies and allowed hosts always set; ``typer.BadParameter`` on a malformed proxy address."""
    fields = settings_fields([LISTEN, HTTP], {**given, "host": host, "public_url": public_url})
    fields.pop("host", None)
    fields.pop("public_base_url", None)
    return {"trusted_proxies": (), **fields}
