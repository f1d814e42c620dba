"""The potential's user settings, one definition each (:mod:`aiida_flexo.settings`): training
(:class:`~aiida_flexo.mlip.config.TrainingSettings` and the split), relaxation
(:class:`~aiida_flexo.mlip.relax.RelaxSettings`), MD (:class:`~aiida_flexo.mlip.md.MDSettings`) and a teacher's
frames (:class:`~aiida_flexo.mlip.distill.SamplingSettings`), each with the run's torch device. The ``mlip``
commands' options, the parameters of the ``flexo.mlip.*`` CalcJobs and the protocols' ``mlip`` keys come from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiida_flexo.settings import (
    DEVICE_SETTING,
    SPLIT_SETTINGS,
    Setting,
    by_name,
    config_kwargs,
    settings_of,
    split_fractions,
)


def training_settings_table() -> dict[str, Setting]:
    """Every setting of a potential's training (``mlip train``, ``flexo.mlip.train``), by name."""
    from aiida_flexo.mlip.config import TrainingSettings

    return by_name([*settings_of(TrainingSettings, 'train'), *SPLIT_SETTINGS, DEVICE_SETTING])


def relax_settings_table() -> dict[str, Setting]:
    """Every setting of a relaxation (``mlip relax``, ``flexo.mlip.relax``), by name."""
    from aiida_flexo.mlip.relax import RelaxSettings

    return by_name([*settings_of(RelaxSettings, 'relax'), DEVICE_SETTING])


def md_settings_table() -> dict[str, Setting]:
    """Every setting of an MD run (``mlip md``, ``flexo.mlip.md``), by name."""
    from aiida_flexo.mlip.md import MDSettings

    return by_name([*settings_of(MDSettings, 'md'), DEVICE_SETTING])


def sampling_settings_table() -> dict[str, Setting]:
    """Every setting of a teacher's frames (``mlip sample``, ``flexo.mlip.sample``), by name."""
    from aiida_flexo.mlip.distill import SamplingSettings

    return by_name([*settings_of(SamplingSettings, 'sampling'), DEVICE_SETTING])


def training_settings(values: Mapping[str, Any]):
    """:class:`~aiida_flexo.mlip.config.TrainingSettings` from parsed setting values ``{name: value}`` (the split
    fractions and the device may be among them); ``ValueError`` names a bad value."""
    from aiida_flexo.mlip.config import TrainingSettings

    committee = values.get('committee')
    if committee is not None and committee < 2:
        raise ValueError(
            f'--committee {committee}: a committee needs at least 2 models to estimate an uncertainty; omit '
            '--committee to train one model'
        )
    return TrainingSettings(
        fractions=split_fractions(values), **config_kwargs(values, training_settings_table(), 'train')
    )


def relax_settings(values: Mapping[str, Any]):
    """:class:`~aiida_flexo.mlip.relax.RelaxSettings` from parsed setting values (the device may be among them)."""
    from aiida_flexo.mlip.relax import RelaxSettings

    return RelaxSettings(**config_kwargs(values, relax_settings_table(), 'relax'))


def md_settings(values: Mapping[str, Any]):
    """:class:`~aiida_flexo.mlip.md.MDSettings` from parsed setting values (the device may be among them)."""
    from aiida_flexo.mlip.md import MDSettings

    return MDSettings(**config_kwargs(values, md_settings_table(), 'md'))


def sampling_settings(values: Mapping[str, Any]):
    """:class:`~aiida_flexo.mlip.distill.SamplingSettings` from parsed setting values (the device may be among
    them)."""
    from aiida_flexo.mlip.distill import SamplingSettings

    return SamplingSettings(**config_kwargs(values, sampling_settings_table(), 'sampling'))
