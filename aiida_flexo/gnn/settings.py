"""The dipole-GNN training settings a user sets: one definition each, read by the CLI, the CalcJob and the protocols.

A setting is a field of :class:`~aiida_flexo.gnn.config.TrainConfig` or :class:`~aiida_flexo.gnn.config.GNNConfig`
whose ``metadata`` carries :func:`option` (its help text, its choices), or one of the split fractions below. From
that one place come the ``aiida-flexo gnn train`` option (``--name-with-dashes``, its help and its default), the
parameters ``flexo.gnn.train`` accepts (:data:`aiida_flexo.calcjobs.gnn.TRAIN_OPTIONS`) and so the keys of the
``gnn`` namespace of the protocols. Adding a setting is adding a field with ``metadata=option(...)``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

#: the key of a dataclass field's metadata that makes it a user setting
OPTION_KEY = 'option'


def option(help: str, choices: tuple[str, ...] | None = None, default_text: str | None = None) -> dict:
    """``metadata`` of a config field that users set: its help text (units!), for text its choices, and how to
    say a ``None`` default (e.g. ``'no limit'``; otherwise ``'automatic'``, which the help explains)."""
    return {OPTION_KEY: {'help': help, 'choices': choices, 'default_text': default_text}}


@dataclass(frozen=True)
class Setting:
    """One user setting: ``name`` (the parameter name), its config (``train``, ``model`` or ``split``), default,
    type (int, float or str), help and choices."""

    name: str
    config: str
    default: Any
    type: type
    help: str
    choices: tuple[str, ...] | None = None
    none_text: str | None = None

    @property
    def flag(self) -> str:
        """The command-line option, ``--name-with-dashes``."""
        return '--' + self.name.replace('_', '-')


#: the train/validation/test split, given as two fractions (TrainConfig.fractions is their result)
SPLIT_SETTINGS = (
    Setting('test_fraction', 'split', 0.1, float, 'Fraction of frames in the test set.'),
    Setting('val_fraction', 'split', 0.1, float, 'Fraction of frames in the validation set.'),
)


def _base_type(annotation) -> type:
    """int, float or str from a field's annotation (``float | None`` -> float)."""
    candidates = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = candidates[0]
    if base not in (int, float, str):
        raise TypeError(f'a setting must be an int, float or str field, got {annotation!r}')
    return base


def _from_config(cls, config: str) -> list[Setting]:
    hints = typing.get_type_hints(cls)
    found = []
    for item in dataclasses.fields(cls):
        meta = item.metadata.get(OPTION_KEY)
        if meta is None:
            continue
        found.append(
            Setting(
                item.name, config, item.default, _base_type(hints[item.name]), meta['help'], meta['choices']
            )
        )
    return found


def gnn_train_settings() -> dict[str, Setting]:
    """Every user setting of a GNN training, by name, in the order of the configs."""
    from aiida_flexo.gnn.config import GNNConfig, TrainConfig

    settings = [*_from_config(GNNConfig, 'model'), *_from_config(TrainConfig, 'train'), *SPLIT_SETTINGS]
    return {setting.name: setting for setting in settings}


def default_text(setting: Setting) -> str:
    """The default as a user reads it (``None`` becomes what the training decides, said in the help)."""
    if setting.default is None:
        return setting.none_text or 'automatic'
    return str(setting.default)
