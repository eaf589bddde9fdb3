"""Commands built from option groups, and the one way their values become Settings."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from happyhorse.cli.options.option import Fields, OptionGroup
from happyhorse.settings import Settings, default_data_dir

Command = TypeVar("Command", bound=Callable[..., Any])


def settings_fields(groups: Iterable[OptionGroup], values: Mapping[str, object]) -> Fields:
    """The Settings fields that the options of ``groups`` set from ``values`` (parameter name -> given
    value), after each group's check; ``typer.BadParameter`` says what to change."""
    groups = tuple(groups)
    fields: Fields = {}
    for group in groups:
        fields.update(group.fields(values))
    # Checks run once every group has given its fields: a default may depend on another group's field.
    for group in groups:
        if group.check is not None:
            fields.update(group.check(fields))
    return fields


def make_settings(data_dir: Path | None = None, database_url: str | None = None, **fields: object) -> Settings:
    """Settings for a command: the given fields, the rest Settings' defaults; the signing secret comes
    from ``HAPPYHORSE_SIGNING_SECRET`` only (a flag would show it in ``ps``)."""
    return Settings(
        data_dir=(data_dir or default_data_dir()).expanduser(),
        database_url=database_url,
        # Every API and worker process of one deployment must share it.
        signing_secret=os.environ.get("HAPPYHORSE_SIGNING_SECRET") or None,
        **fields,  # type: ignore[arg-type]
    )


def with_settings(*groups: OptionGroup) -> Callable[[Command], Command]:
    """Give a command the options of ``groups``; it gets the Settings they build as its ``settings``.

    The command's other parameters (``--dry-run``...) stay as it declares them and
    come first in ``--help``; a usage error in the options exits 2 before the
    command runs.
    """
    options = [option for group in groups for option in group.options]

    def decorate(func: Command) -> Command:
        own = inspect.signature(func, eval_str=True).parameters
        if "settings" not in own:
            raise TypeError(f"{func.__name__} needs a `settings` parameter to get the Settings its options build")
        kept = [parameter for name, parameter in own.items() if name != "settings"]
        names = [parameter.name for parameter in kept] + [option.param for option in options]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise TypeError(f"{func.__name__}: more than one option named {', '.join(twice)}")
        # Two flags for one field would leave which one wins to the order of the groups.
        fields = [option.field for option in options if option.key is None]
        twice = sorted({field for field in fields if fields.count(field) > 1})
        if twice:
            raise TypeError(f"{func.__name__}: more than one option sets {', '.join(twice)}")

        @functools.wraps(func)
        def command(**values: Any) -> Any:
            given = {option.param: values.pop(option.param) for option in options}
            return func(settings=make_settings(**settings_fields(groups, given)), **values)

        # typer reads the parameters from the signature; the wrapped function's annotations name
        # `settings`, which is no option, so they must not be read instead.
        signature = inspect.Signature([*kept, *(option.parameter() for option in options)])
        command.__signature__ = signature  # type: ignore[attr-defined]
        command.__annotations__ = {}
        return command  # type: ignore[return-value]

    return decorate
