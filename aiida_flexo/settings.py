"""User settings defined once: a config dataclass field marked with :func:`option` is a setting.

From that one definition come the command-line option of the executable (``--name-with-dashes``, its help and its
default; :func:`aiida_flexo.cli.settings.setting_options`), the parameters its CalcJob accepts, checked by a port
validator and turned into the same options (:mod:`aiida_flexo.calcjobs.settings`), and the keys the protocols may
set. Adding a setting is adding a field with ``metadata=option(...)``.

A setting's *name* is its parameter name (a CalcJob parameter, a protocol key); it is the field's name unless
``option(name=...)`` says otherwise (``epochs`` for ``max_epochs``). Its *flag* is ``--name-with-dashes`` unless
``option(flag=...)`` says otherwise (``--from`` for ``from_potential``). Durations (``duration=True``) are given as
seconds or as ``'45m'``, ``'2h'``, ``'00:30:00'`` and stored in seconds; lists of numbers as ``[300, 600]`` or
``'300,600'``. The science packages use this module; it imports neither AiiDA nor click.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: the key of a dataclass field's metadata that makes it a user setting
OPTION_KEY = 'option'


def option(
    help: str,
    choices: tuple[str, ...] | None = None,
    default_text: str | None = None,
    *,
    name: str | None = None,
    flag: str | None = None,
    duration: bool = False,
) -> dict:
    """``metadata`` of a config field that users set.

    Args:
        help: the help text (units!).
        choices: the allowed values of a text setting.
        default_text: how to say a ``None`` default (e.g. ``'no limit'``; otherwise ``'automatic'``, which the
            help then explains).
        name: the parameter name when it differs from the field's.
        flag: the command-line option when it is not ``--name-with-dashes``.
        duration: a time in seconds that users may write as ``'45m'``, ``'2h'`` or ``'HH:MM:SS'``.
    """
    return {
        OPTION_KEY: {
            'help': help,
            'choices': choices,
            'default_text': default_text,
            'name': name,
            'flag': flag,
            'duration': duration,
        }
    }


@dataclass(frozen=True)
class Setting:
    """One user setting.

    Attributes:
        name: the parameter name (CalcJob parameter, protocol key).
        config: which config it belongs to (e.g. ``train``, ``model``, ``split``, ``run``).
        default: its default value (``None``: decided by the code, see the help).
        type: ``int``, ``float``, ``str``, ``bool`` (a flag) or ``list`` (of numbers).
        help: the help text.
        choices: the allowed values of a text setting.
        none_text: how to say a ``None`` default.
        field: the config field it sets (the name unless they differ).
        flag_text: the command-line option when it is not ``--name-with-dashes``.
        duration: given as seconds or as ``'45m'``, ``'2h'``, ``'HH:MM:SS'``.
    """

    name: str
    config: str
    default: Any
    type: type
    help: str
    choices: tuple[str, ...] | None = None
    none_text: str | None = None
    field: str | None = None
    flag_text: str | None = None
    duration: bool = False

    @property
    def flag(self) -> str:
        """The command-line option."""
        return self.flag_text or '--' + self.name.replace('_', '-')

    @property
    def attribute(self) -> str:
        """The config field this setting sets."""
        return self.field or self.name

    def parse(self, value: Any) -> Any:
        """``value`` as the config takes it, or ``ValueError`` naming the setting, the value and what it takes."""
        if value is None:
            return None
        where = f'{self.name} ({self.flag})'
        if self.duration:
            from aiida_flexo.units import parse_duration

            try:
                return parse_duration(str(value))
            except ValueError as exc:
                raise ValueError(f'{where}: {exc}') from None
        if self.type is list:
            items = value.split(',') if isinstance(value, str) else value
            try:
                return tuple(float(item) for item in items if str(item).strip())
            except (TypeError, ValueError):
                raise ValueError(f'{where}: expected numbers (a list or "300,600"), got {value!r}') from None
        if self.type is bool:
            if not isinstance(value, bool):
                raise ValueError(f'{where}: expected true or false, got {value!r}')
            return value
        if self.type is str:
            if not isinstance(value, str):
                raise ValueError(f'{where}: expected text, got {value!r}')
            if self.choices:
                match = [choice for choice in self.choices if choice.lower() == value.lower()]
                if not match:
                    raise ValueError(f'{where}: {value!r} is not one of {", ".join(self.choices)}')
                return match[0]
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f'{where}: expected a number, got {value!r}')
        if self.type is int:
            if int(value) != value:
                raise ValueError(f'{where}: expected a whole number, got {value!r}')
            return int(value)
        return float(value)

    def argument(self, value: Any) -> list[str]:
        """The command-line words that give ``value`` (a flag only when true; nothing for ``None``)."""
        if value is None or (self.type is bool and not value):
            return []
        if self.type is bool:
            return [self.flag]
        if self.type is list and not isinstance(value, str):
            value = ','.join(str(float(item)) for item in value)
        return [self.flag, str(value)]


def _base_type(annotation) -> type:
    """int, float, str, bool or list (a tuple of numbers) from a field's annotation (``float | None`` -> float)."""
    if typing.get_origin(annotation) is tuple:
        return list
    candidates = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = candidates[0]
    if typing.get_origin(base) is tuple:
        return list
    if base not in (int, float, str, bool):
        raise TypeError(f'a setting must be an int, float, str, bool or tuple field, got {annotation!r}')
    return base


def settings_of(cls, config: str) -> list[Setting]:
    """The settings of a config dataclass: its fields whose metadata carries :func:`option`, in field order."""
    hints = typing.get_type_hints(cls)
    found = []
    for item in dataclasses.fields(cls):
        meta = item.metadata.get(OPTION_KEY)
        if meta is None:
            continue
        name = meta.get('name') or item.name
        found.append(
            Setting(
                name=name,
                config=config,
                default=item.default,
                type=str if meta.get('duration') else _base_type(hints[item.name]),
                help=meta['help'],
                choices=meta['choices'],
                none_text=meta.get('default_text'),
                field=item.name if name != item.name else None,
                flag_text=meta.get('flag'),
                duration=bool(meta.get('duration')),
            )
        )
    return found


def by_name(settings: Iterable[Setting]) -> dict[str, Setting]:
    """``{name: setting}``; a name given twice is an error of the definitions."""
    table: dict[str, Setting] = {}
    for setting in settings:
        if setting.name in table:
            raise ValueError(
                f'setting {setting.name!r} is defined twice ({table[setting.name].config}, {setting.config})'
            )
        table[setting.name] = setting
    return table


def default_text(setting: Setting) -> str:
    """The default as a user reads it (the option's ``default_text`` when given; ``None`` becomes what the code
    decides, said in the help)."""
    if setting.none_text:
        return setting.none_text
    if setting.default is None:
        return 'automatic'
    if setting.type is list:
        return ','.join(f'{item:g}' for item in setting.default)
    return str(setting.default)


def parse_parameters(parameters: Mapping[str, Any], settings: Mapping[str, Setting]) -> dict[str, Any]:
    """``{name: value as the config takes it}``; an unknown name or a bad value raises ``ValueError`` naming the
    allowed names or the setting."""
    unknown = sorted(set(parameters) - set(settings))
    if unknown:
        raise ValueError(f'unknown parameters {unknown}; allowed: {sorted(settings)}')
    return {name: settings[name].parse(value) for name, value in parameters.items()}


def to_arguments(parameters: Mapping[str, Any], settings: Mapping[str, Setting]) -> list[str]:
    """The command-line arguments of ``parameters`` (checked by :func:`parse_parameters` first)."""
    parse_parameters(parameters, settings)
    arguments: list[str] = []
    for name, value in parameters.items():
        arguments += settings[name].argument(value)
    return arguments


def config_kwargs(values: Mapping[str, Any], settings: Mapping[str, Setting], config: str) -> dict[str, Any]:
    """``{field: value}`` of the given (not ``None``) values that belong to ``config``."""
    return {
        settings[name].attribute: value
        for name, value in values.items()
        if value is not None and settings[name].config == config
    }


#: the train/validation/test split of a training, given as two fractions (the configs' ``fractions`` result)
SPLIT_SETTINGS = (
    Setting('test_fraction', 'split', 0.1, float, 'Fraction of frames in the test set.'),
    Setting('val_fraction', 'split', 0.1, float, 'Fraction of frames in the validation set.'),
)

#: the torch device of a run (not a setting of the model: the same run on another device gives the same result)
DEVICE_SETTING = Setting('device', 'run', 'cpu', str, "torch device: 'cpu', 'cuda', 'cuda:1', ...")


def split_fractions(values: Mapping[str, Any]) -> tuple[float, float, float]:
    """(train, validation, test) from the given ``val_fraction``/``test_fraction`` (defaults 0.1 each), or
    ``ValueError`` when they leave no frames for training."""
    defaults = {setting.name: setting.default for setting in SPLIT_SETTINGS}
    test = values.get('test_fraction')
    val = values.get('val_fraction')
    test = defaults['test_fraction'] if test is None else float(test)
    val = defaults['val_fraction'] if val is None else float(val)
    if not 0 <= test < 1 or not 0 <= val < 1 or test + val >= 1:
        raise ValueError(f'--test-fraction {test} and --val-fraction {val} must leave frames for training')
    return (1.0 - test - val, val, test)
