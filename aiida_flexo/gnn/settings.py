"""The dipole-GNN training settings a user sets: one definition each, read by the CLI, the CalcJob and the protocols.

A setting is a field of :class:`~aiida_flexo.gnn.config.TrainConfig` or :class:`~aiida_flexo.gnn.config.GNNConfig`
whose ``metadata`` carries :func:`~aiida_flexo.settings.option` (its help text, its choices), or one of the split
fractions (:data:`aiida_flexo.settings.SPLIT_SETTINGS`). From that one place come the ``aiida-flexo gnn train``
option (``--name-with-dashes``, its help and its default), the parameters ``flexo.gnn.train`` accepts
(:data:`aiida_flexo.calcjobs.gnn.TRAIN_SETTINGS`) and so the keys of the ``gnn`` namespace of the protocols. Adding
a setting is adding a field with ``metadata=option(...)`` (see :mod:`aiida_flexo.settings`).
"""

from __future__ import annotations

from aiida_flexo.settings import SPLIT_SETTINGS, Setting, by_name, settings_of


def gnn_train_settings() -> dict[str, Setting]:
    """Every user setting of a GNN training, by name, in the order of the configs."""
    from aiida_flexo.gnn.config import GNNConfig, TrainConfig

    return by_name([*settings_of(GNNConfig, 'model'), *settings_of(TrainConfig, 'train'), *SPLIT_SETTINGS])
