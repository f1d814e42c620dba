"""The training state of the dipole GNN after each epoch (``OUT/checkpoint.pt``), from which ``--resume`` continues.

:class:`TrainingState` holds everything a resumed run needs (weights, averaged weights, optimiser and scheduler,
the best model so far, the history, the time spent, the configs, the split and the data hash); :meth:`save`
writes it atomically (a kill while writing leaves the previous checkpoint, never a truncated one) and
:func:`read_checkpoint` reads it back, refusing an unreadable or incomplete file with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from aiida_flexo.atomic import torch_save
from aiida_flexo.gnn.config import GNNConfig

CHECKPOINT_NAME = 'checkpoint.pt'
#: GNNConfig fields that training sets itself (a resumed run takes them from its checkpoint, whatever was given)
TRAINING_SET_FIELDS = ('neighbour_norm', 'dipole_offset', 'label_offsets')


class CheckpointError(ValueError):
    """A checkpoint cannot be resumed from (unreadable, incomplete, or other settings than those given)."""


@dataclass
class TrainingState:
    """The state of a GNN training after an epoch (state dicts are torch's; times in s; losses as in the log).

    Attributes:
        model: the trained weights.
        ema: the exponential moving average of the weights (the model that is validated and returned).
        n_steps: optimiser steps so far.
        optimizer: Adam's state.
        scheduler: the learning-rate scheduler's state.
        epoch: the last finished epoch (0-based).
        best_val: the best validation loss so far.
        best_state: the averaged weights at ``best_epoch``.
        best_epoch: the epoch of ``best_state`` (-1: the starting bond-charge model).
        bad_epochs: epochs since the validation loss last improved.
        history: the per-epoch log rows.
        elapsed: training time so far, across resumed runs, s.
        model_config: :meth:`GNNConfig.as_dict` of the model.
        train_config: the training settings.
        split: the train/validation/test indices.
        training_data_hash: hash of the frames (a resumed run must train on the same data).
        bond_summary: the least-squares bond-charge start.
    """

    model: dict
    ema: dict
    n_steps: int
    optimizer: dict
    scheduler: dict
    epoch: int
    best_val: float
    best_state: dict
    best_epoch: int
    bad_epochs: int
    history: list[dict]
    elapsed: float
    model_config: dict
    train_config: dict
    split: dict
    training_data_hash: str
    bond_summary: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        """Write the state to ``path`` atomically."""
        torch_save({item.name: getattr(self, item.name) for item in fields(self)}, path)


#: what a checkpoint must hold to resume from it
CHECKPOINT_KEYS = tuple(item.name for item in fields(TrainingState) if item.name != 'bond_summary')


def read_checkpoint(path: str | Path, device: str = 'cpu') -> TrainingState:
    """The training state of ``path`` (``OUT/checkpoint.pt``) for ``--resume``.

    Raises:
        FileNotFoundError: no checkpoint there.
        CheckpointError: the file cannot be read or lacks part of the state (a run killed while writing it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'--resume: no checkpoint at {path}; start without --resume')
    fix = 'start the training again with --overwrite instead of --resume, or into another --out folder'
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch and pickle raise many types for damaged files
        reason = ' '.join(f'{type(exc).__name__}: {exc}'.split()).split('. ')[0][:160]  # its first sentence
        raise CheckpointError(f'--resume: {path} cannot be read ({reason}); {fix}') from exc
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise CheckpointError(
            f'--resume: {path} is not a complete gnn training checkpoint (no {", ".join(missing[:3])}); {fix}'
        )
    known = {item.name for item in fields(TrainingState)}
    return TrainingState(**{key: value for key, value in checkpoint.items() if key in known})


def check_resume_config(
    checkpoint_config: GNNConfig, given: GNNConfig | Mapping[str, Any], path: str | Path
) -> None:
    """Raise :class:`CheckpointError` when given hyperparameters differ from the checkpoint's: a resumed run keeps
    its architecture and cutoffs.

    ``given``: a whole config (its ``species`` compared only when not empty; the fields training sets itself never)
    or only the fields given explicitly (``{'cutoff': 4.0}``: the command-line options).
    """
    if isinstance(given, GNNConfig):
        skip = set(TRAINING_SET_FIELDS) | ({'species'} if not given.species else set())
        given = {key: value for key, value in given.as_dict().items() if key not in skip}
    theirs = checkpoint_config.as_dict()
    keys = [key for key, value in given.items() if theirs[key] != value]
    if keys:
        changed = '; '.join(f'{key} {theirs[key]!r} in the checkpoint, {given[key]!r} given' for key in keys)
        raise CheckpointError(
            f'--resume: {path} was trained with other settings ({changed}); resume without changing them, or '
            'start a new run with --overwrite or another --out folder'
        )
