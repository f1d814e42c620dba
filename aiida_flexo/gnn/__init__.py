"""The dipole GNN: equivariant per-atom dipoles trained on folded Berry-phase dipoles and Born charges.

Plain torch (no AiiDA). Main entry points:

* :class:`GNNConfig`, :class:`DipoleGNN` — hyperparameters and network (:mod:`.model` explains the architecture);
* :func:`build_graph`, :func:`batch_graphs` — periodic graphs with vesin neighbour lists and triplets;
* :func:`train` with :class:`TrainConfig` — reproducible, resumable training;
* :func:`load_model` → :class:`DipolePredictor` — inference (per-atom, per-cell, Born charges), large cells chunked;
* :func:`save_model` — the one-file model format.

The names are imported when first used, so that the torch-free parts (:mod:`.config`, :mod:`.settings`: what the
CalcJobs and the CLI's help read) load without torch.
"""

from __future__ import annotations

import importlib

#: public name -> the module that defines it
_EXPORTS = {
    'GNNConfig': 'config',
    'TrainConfig': 'config',
    'evaluate_frames': 'evaluate',
    'Graph': 'graph',
    'batch_graphs': 'graph',
    'build_graph': 'graph',
    'neighbour_list': 'graph',
    'triplets': 'graph',
    'ModelFileError': 'io',
    'read_model_file': 'io',
    'save_model': 'io',
    'load_model': 'io',
    'fold_residuals': 'losses',
    'folded_dipole_loss': 'losses',
    'DipoleGNN': 'model',
    'cell_dipoles': 'model',
    'dipoles_and_born_charges': 'model',
    'init_parameters': 'model',
    'DipolePredictor': 'predict',
    'TrainResult': 'training',
    'evaluate_samples': 'training',
    'make_samples': 'training',
    'train': 'training',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f'{__name__}.{_EXPORTS[name]}'), name)
        globals()[name] = value
        return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
