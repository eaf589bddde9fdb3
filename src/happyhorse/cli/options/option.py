"""A command-line option that sets one Settings field, and the groups commands compose."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from happyhorse.cli.options.field_docs import field_help, shown_default

Fields = dict[str, object]
"""Settings field names and the values the options gave them."""

# typer renders help as rich markup, where a bare "[default: 1]" is a style tag and vanishes.
_SHOWN_DEFAULT = r"\[default: {}]" if typer.core.DEFAULT_MARKUP_MODE == "rich" else "[default: {}]"


@dataclass(frozen=True)
class SettingOption:
    """One option (flag and environment variable) that sets one :class:`~happyhorse.settings.Settings` field.

    Its ``--help`` text is the field's docstring and the default it shows is
    ``Settings()``'s, so neither is written here. Left unset (``None``), it sets
    nothing and the field keeps its default.
    """

    field: str
    """The Settings field it sets."""
    flags: str
    """``--rate-limit``; ``--signup/--no-signup`` for a switch that can also be turned off."""
    envvar: str | None
    """``HAPPYHORSE_...``; ``None`` only for an option that never had one (``worker --grace``)."""
    kind: type = str
    """What the command line parses (``int``, ``float``, ``Path``, ``bool``...), before ``parse``."""
    metavar: str | None = None
    min: float | None = None
    """The smallest value accepted, on the command line and from Python callers alike."""
    parse: Callable[[Any], object] | None = None
    """Command-line value -> field value; a ``ValueError`` becomes a usage error naming the flag."""
    panel: str | None = None
    """The ``--help`` panel; ``None``: the command's main one."""
    key: str | None = None
    """With ``field="engine_options"``: the engine option it sets (the engine, not Settings, has its default)."""
    help: str | None = None
    """Only for engine options, whose help is not a Settings field's; everything else reads the docstring."""

    @property
    def flag(self) -> str:
        """The flag that turns it on, as messages name it."""
        return self.flags.split("/")[0]

    @property
    def param(self) -> str:
        """The command's parameter name, from the flag: ``--max-body-bytes`` -> ``max_body_bytes``."""
        return self.flag.lstrip("-").replace("-", "_")

    def help_text(self) -> str:
        """The field's docstring, then its default as ``Settings()`` has it."""
        text = self.help if self.help is not None else field_help(self.field)
        default = None if self.key else shown_default(self.field)
        return f"{text} {_SHOWN_DEFAULT.format(default)}" if default is not None else text

    def annotation(self) -> Any:
        """``Annotated[kind | None, typer.Option(...)]``: the type typer reads the option from."""
        option = typer.Option(self.flags, envvar=self.envvar, help=self.help_text(), metavar=self.metavar,
                              min=self.min, rich_help_panel=self.panel, show_default=False)
        return Annotated[self.kind | None, option]

    def parameter(self) -> inspect.Parameter:
        """The parameter a command gets for this option (unset: ``None``)."""
        return inspect.Parameter(self.param, inspect.Parameter.KEYWORD_ONLY, default=None,
                                 annotation=self.annotation())

    def value(self, given: Any) -> object:
        """The field value for a given command-line value; ``typer.BadParameter`` says what is wrong."""
        if self.min is not None and given < self.min:
            raise typer.BadParameter(f"{self.flag} must be {self.min:g} or more, got {given}")
        if self.parse is None:
            return given
        try:
            return self.parse(given)
        except ValueError as error:
            raise typer.BadParameter(f"{self.flag}: {error}") from None


@dataclass(frozen=True)
class OptionGroup:
    """Options that belong together: shown together in ``--help`` and checked together."""

    options: tuple[SettingOption, ...]
    check: Callable[[Fields], Fields] | None = None
    """Given every field the command's options set, the fields to add or replace (defaults that
    depend on other fields); raises ``typer.BadParameter`` for a combination that cannot work."""

    def fields(self, values: Mapping[str, object]) -> Fields:
        """The Settings fields the given options set; ``values`` maps parameter names to what was given
        (missing or ``None``: unset). Engine options gather into one ``engine_options`` dict."""
        fields: Fields = {}
        engine_options: dict[str, object] = {}
        for option in self.options:
            given = values.get(option.param)
            if option.key is not None:
                if given is not None and given is not False:  # unset: the engine's own default applies
                    engine_options[option.key] = option.value(given)
            elif given is not None:
                fields[option.field] = option.value(given)
        if engine_options:
            fields["engine_options"] = engine_options
        return fields

    def only(self, *params: str) -> OptionGroup:
        """The group with only the options of these parameter names (a command that needs a few)."""
        self._known(params)
        return dataclasses.replace(self, options=tuple(o for o in self.options if o.param in params))

    def without(self, *params: str) -> OptionGroup:
        """The group less the options of these parameter names."""
        self._known(params)
        return dataclasses.replace(self, options=tuple(o for o in self.options if o.param not in params))

    def renamed(self, **flags: str) -> OptionGroup:
        """The group with other flags for some options (parameter name -> flag): the same field,
        environment variable and help under the name one command has always used."""
        self._known(tuple(flags))
        return dataclasses.replace(self, options=tuple(
            dataclasses.replace(o, flags=flags[o.param]) if o.param in flags else o for o in self.options))

    def in_panel(self, panel: str | None) -> OptionGroup:
        """The group shown in another ``--help`` panel (``None``: the command's main one)."""
        return dataclasses.replace(self, options=tuple(dataclasses.replace(o, panel=panel) for o in self.options))

    def _known(self, params: tuple[str, ...]) -> None:
        unknown = set(params) - {option.param for option in self.options}
        if unknown:
            raise ValueError(f"no option {', '.join(sorted(unknown))} in this group")
