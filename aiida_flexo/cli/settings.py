"""Command-line options generated from the settings' one definition (:mod:`aiida_flexo.settings`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import click

from aiida_flexo.cli import fail
from aiida_flexo.settings import Setting, default_text


def setting_options(settings: Iterable[Setting], prefix: str = ''):
    """A decorator adding one option per setting: its flag, help and default (shown, not set: an option not given
    is ``None``, and the config's own default applies). ``prefix`` keeps the parameter names of two groups apart
    (``sampling_seed`` beside ``seed``); :func:`given_settings` takes them back."""
    settings = list(settings)

    def decorate(command):
        for setting in reversed(settings):
            help_text = f'{setting.help}  [default: {default_text(setting)}]'
            dest = prefix + setting.name
            if setting.type is bool:
                command = click.option(setting.flag, dest, is_flag=True, default=None, help=setting.help)(
                    command
                )
                continue
            if setting.choices:
                kind: Any = click.Choice(list(setting.choices), case_sensitive=False)
            elif setting.type is list:
                kind = str
            else:
                kind = setting.type
            command = click.option(setting.flag, dest, type=kind, default=None, help=help_text)(command)
        return command

    return decorate


def given_settings(kwargs: dict, settings: Mapping[str, Setting], prefix: str = '') -> dict[str, Any]:
    """Pop the options of ``settings`` from a command's ``kwargs``; ``{name: parsed value}`` of those given (a bad
    value stops the command with the setting's message)."""
    given = {}
    for name, setting in settings.items():
        value = kwargs.pop(prefix + name, None)
        if value is None:
            continue
        try:
            given[name] = setting.parse(value)
        except ValueError as exc:
            fail(str(exc))
    return given
